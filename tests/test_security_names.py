"""Queue and table names from configuration and the CLI never become SQL or Lua code.

Hostile queue names are data: they are stored, popped and counted under exactly their
own name on Redis and on the three SQL engines, and a sentinel table survives.
Hostile table names are refused with an error naming the value, before any SQL runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.schema import migrate

HOSTILE_QUEUES = [
    "jobs; DROP TABLE x",
    "a'b",
    'x" OR "1"="1',
    "q`; DELETE FROM jobs; --",
    "back\\slash",
    "'); redis.call('flushall'); --",
    "]] .. redis.call('flushdb') .. [[",
    "名前 with spaces",
]
HOSTILE_TABLES = ["jobs; DROP TABLE x", "a'b", 'jobs" --', "jobs`", "jobs)"]


@pytest.fixture(params=["redis", "sqlite", "mariadb", "pgsql"])
def env(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> dict[str, str]:
    if request.param == "redis":
        request.getfixturevalue("redis_client")
        return {**sqlite_env, **request.getfixturevalue("redis_env")}
    fixture = {"sqlite": "sqlite_env", "mariadb": "mysql_env", "pgsql": "pgsql_env"}[request.param]
    return {**request.getfixturevalue(fixture), "CACHE_STORE": "array"}


@pytest.fixture
def conns(env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=env))
    db = connections.db()
    migrate(db)
    db.execute("create table x (id integer)")
    yield connections
    connections.close()


def sentinel_exists(conns: Connections) -> bool:
    return conns.db().fetch_value("select count(*) from x") == 0


def push(conns: Connections, queue_name: str, n: int) -> None:
    queue = conns.queue()
    payload = queue.prepare_payload(string_job_payload("Tests\\Rel\\Record@handle", {"n": n}))
    queue.push_raw(php_json_encode(payload), queue_name)


def test_hostile_queue_names_are_data(conns: Connections) -> None:
    queue = conns.queue()
    for n, name in enumerate(HOSTILE_QUEUES):
        push(conns, name, n)
    push(conns, "default", 99)
    for n, name in enumerate(HOSTILE_QUEUES):
        assert queue.size(name) == 1, name
        job = queue.pop(name)
        assert job is not None and job.payload["data"] == {"n": n}, name
        assert job.queue == name
        job.delete()
        assert queue.size(name) == 0
        assert queue.clear(name) == 0
    assert queue.size("default") == 1  # nothing else was touched
    assert sentinel_exists(conns)


@pytest.mark.parametrize("table", HOSTILE_TABLES)
def test_hostile_queue_table_name_is_refused_before_any_sql(sqlite_env: dict[str, str], table: str) -> None:
    connections = Connections(load_settings(environ={**sqlite_env, "DB_QUEUE_TABLE": table}))
    try:
        db = connections.db()
        migrate(db)
        db.execute("create table x (id integer)")
        with pytest.raises(ValueError, match="invalid SQL identifier"):
            push(connections, "default", 1)
        with pytest.raises(ValueError, match="invalid SQL identifier"):
            connections.queue().pop("default")
        assert sentinel_exists(connections)
    finally:
        connections.close()


@pytest.mark.parametrize("setting", ["QUEUE_FAILED_TABLE", "DB_CACHE_TABLE", "QUEUE_BATCHING_TABLE"])
def test_other_hostile_table_names_are_refused(sqlite_env: dict[str, str], setting: str) -> None:
    connections = Connections(load_settings(environ={**sqlite_env, setting: "jobs; DROP TABLE x"}))
    try:
        db = connections.db()
        db.execute("create table x (id integer)")
        with pytest.raises(ValueError, match="invalid SQL identifier"):
            if setting == "QUEUE_FAILED_TABLE":
                connections.failed().all()
            elif setting == "DB_CACHE_TABLE":
                migrate(db, cache_table="jobs; DROP TABLE x")
            else:
                migrate(db, batches_table="jobs; DROP TABLE x")
        assert sentinel_exists(connections)
    finally:
        connections.close()


@pytest.mark.parametrize("name", ["jobs; DROP TABLE x", "a'b"])
def test_cli_queue_option_with_hostile_name_works_that_queue(
    sqlite_env: dict[str, str], name: str, tmp_path: Any
) -> None:
    env = {**sqlite_env, "CACHE_STORE": "array"}
    connections = Connections(load_settings(environ=env))
    log = tmp_path / "jobs.log"
    try:
        db = connections.db()
        migrate(db)
        db.execute("create table x (id integer)")
        queue = connections.queue()
        payload = queue.prepare_payload(string_job_payload("Tests\\Rel\\Record@handle", {"log": str(log), "n": 1}))
        queue.push_raw(php_json_encode(payload), name)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "laravel_queue",
                "queue:work",
                "--jobs",
                "tests.support.reliability_jobs",
                "--queue",
                name,
                "--stop-when-empty",
                "--sleep",
                "0",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert log.read_text().startswith("done 1 ")
        assert queue.size(name) == 0
        assert sentinel_exists(connections)
    finally:
        connections.close()
