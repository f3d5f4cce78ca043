"""queue:restart, pause, resume, clear, monitor and prune-batches against real Redis, SQLite and MariaDB.

The restart and pause keys are compared with what PHP wrote in the captures: same key
names (our test prefixes in place of the skeleton's), same stored bytes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from laravel_queue.cli import app
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.ops.monitor import diff_for_humans, parse_targets
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.schema import migrate

runner = CliRunner()


def invoke(env: dict[str, str], *args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, list(args), env=env, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def env(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> dict[str, str]:
    return {**sqlite_env, **redis_env, "APP_ENV": "local"}


@pytest.fixture
def conns(env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    yield connections
    connections.close()


def cache_client(redis_server: tuple[str, int]) -> Any:
    import redis

    return redis.Redis(host=redis_server[0], port=redis_server[1], db=1)


def push(conns: Connections, queue: str = "default", *, delay: int = 0, connection: str = "redis") -> None:
    driver = conns.queue(connection)
    driver.push_raw(
        php_json_encode(driver.prepare_payload(string_job_payload("Tests\\Job@handle", {}))), queue, delay=delay
    )


# -- restart ------------------------------------------------------------------------------------------


def test_restart_on_redis_writes_the_captured_key_and_value(
    env: dict[str, str], redis_server: tuple[str, int], redis_prefix: str
) -> None:
    captured = (FIXTURES / "laravel/redis-monitor/17-queue-restart-command.txt").read_text()
    key, value = re.search(r'"SET" "([^"]+)" "(\d+)"', captured).groups()  # type: ignore[union-attr]
    our_key = key.replace("laravel-database-", redis_prefix).replace("laravel-cache-", env["CACHE_PREFIX"])
    before = int(time.time())

    result = invoke(env, "queue:restart")

    assert result.exit_code == 0 and "INFO  Broadcasting queue restart signal." in result.stdout
    client = cache_client(redis_server)
    stored = client.get(our_key)
    assert stored is not None and re.fullmatch(rb"\d+", stored) and len(stored) == len(value)
    assert before <= int(stored) <= int(time.time())
    assert client.ttl(our_key) == -1  # forever, as `SET` without EX in the capture
    client.close()


@pytest.mark.parametrize("engine", ["sqlite", "mariadb"])
def test_restart_on_the_database_store_matches_the_capture(request: pytest.FixtureRequest, engine: str) -> None:
    env = {**request.getfixturevalue("sqlite_env" if engine == "sqlite" else "mysql_env"), "APP_ENV": "local"}
    captured = (FIXTURES / f"laravel/db-general-log/{engine}-13-queue-restart-command.txt").read_text()
    if engine == "sqlite":
        expiration, key, value = json.loads(captured.split("bindings=", 1)[1])
    else:
        match = re.search(r"Execute\tinsert into `cache` .* values \((\d+), '([^']+)', '([^']+)'\)", captured)
        assert match
        expiration, key, value = int(match.group(1)), match.group(2), match.group(3)
    written_at = int(value[2:-1])
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
        result = invoke(env, "queue:restart")
        assert result.exit_code == 0, result.output
        db = conns.db()
        (row,) = db.fetch_all(f"select * from {db.table('cache')}")
        assert row["key"] == key  # laravel-cache-illuminate:queue:restart
        assert re.fullmatch(r"i:\d+;", row["value"])
        assert int(row["expiration"]) - int(row["value"][2:-1]) == expiration - written_at == 315360000
    finally:
        conns.close()


def test_a_worker_sees_the_restart_signal(env: dict[str, str], conns: Connections) -> None:
    from laravel_queue.worker import Worker, WorkerOptions

    worker = Worker(conns, options=WorkerOptions(memory=4096, sleep=0))
    before = worker.control.read("redis", [])[0]
    invoke(env, "queue:restart")
    after = worker.control.read("redis", [])[0]
    assert after is not None and str(after) != str(before)


# -- pause / resume -------------------------------------------------------------------------------------


def test_pause_and_resume_write_and_delete_the_paused_key(
    env: dict[str, str], conns: Connections, redis_server: tuple[str, int], redis_prefix: str
) -> None:
    key = f"{redis_prefix}{env['CACHE_PREFIX']}illuminate:queue:paused:redis:emails"
    client = cache_client(redis_server)
    try:
        result = invoke(env, "queue:pause", "emails")
        assert result.exit_code == 0
        assert "Job processing on queue [redis:emails] has been paused." in result.stdout
        assert client.get(key) == b"b:1;" and client.ttl(key) == -1

        from laravel_queue.worker import Worker

        assert Worker(conns).control.read("redis", ["default", "emails"])[1] == {"emails"}

        result = invoke(env, "queue:resume", "redis:emails")
        assert "Job processing on queue [redis:emails] has been resumed." in result.stdout
        assert client.get(key) is None

        invoke(env, "queue:pause", "database:low", "--ttl=60")
        low = f"{redis_prefix}{env['CACHE_PREFIX']}illuminate:queue:paused:database:low"
        assert client.get(low) == b"b:1;" and 0 < client.ttl(low) <= 60
        invoke(env, "queue:continue", "database:low")
        assert client.get(low) is None
    finally:
        client.close()


def test_pause_on_the_database_store_stores_php_true(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "APP_ENV": "local"}
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
        invoke(env, "queue:pause", "default")
        (row,) = conns.db().fetch_all("select * from cache")
        assert row["key"] == "laravel-cache-illuminate:queue:paused:database:default"
        assert row["value"] == "b:1;"
    finally:
        conns.close()


# -- clear ---------------------------------------------------------------------------------------------


def test_clear_deletes_every_job_of_the_queue(env: dict[str, str], conns: Connections) -> None:
    for _ in range(3):
        push(conns)
    push(conns, delay=60)
    push(conns, "other")
    result = invoke(env, "queue:clear", "redis")
    assert result.exit_code == 0
    assert "INFO  Cleared 4 jobs from the [default] queue." in result.stdout
    assert "Cleared the [redis:default] queue" in result.stderr
    assert conns.queue("redis").size("default") == 0 and conns.queue("redis").size("other") == 1
    assert "Cleared 1 job from the [other] queue." in invoke(env, "queue:clear", "--queue=other").stdout


def test_clear_asks_first_in_production(env: dict[str, str], conns: Connections) -> None:
    production = {**env, "APP_ENV": "production"}
    push(conns)
    result = invoke(production, "queue:clear", input="n\n")
    assert result.exit_code == 1 and "Command cancelled." in result.stdout
    assert conns.queue("redis").size("default") == 1
    result = invoke(production, "queue:clear")  # no terminal to answer on: cancelled, nothing lost
    assert result.exit_code == 1 and conns.queue("redis").size("default") == 1
    result = invoke(production, "queue:clear", input="y\n")
    assert result.exit_code == 0 and conns.queue("redis").size("default") == 0
    push(conns)
    result = invoke(production, "queue:clear", "--force")
    assert result.exit_code == 0 and "Cleared 1 job" in result.stdout


def test_clear_on_the_database_queue(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "APP_ENV": "local"}
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
        push(conns, connection="database")
        push(conns, connection="database")
        result = invoke(env, "queue:clear")
        assert "Cleared 2 jobs from the [default] queue." in result.stdout
        assert conns.queue("database").size("default") == 0
    finally:
        conns.close()


# -- monitor -----------------------------------------------------------------------------------------


def test_monitor_reports_sizes_and_alerts_like_laravel(env: dict[str, str], conns: Connections) -> None:
    push(conns)
    push(conns)
    push(conns, delay=300)
    reserved = conns.queue("redis").pop("default")
    assert reserved is not None

    result = invoke(env, "queue:monitor", "default,database:default", "--max=3", "--json")

    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [list(row) for row in rows] == [
        ["connection", "queue", "size", "pending", "delayed", "reserved", "oldest_pending", "status"]
    ] * 2
    redis_row, db_row = rows
    assert (redis_row["connection"], redis_row["size"], redis_row["status"]) == ("redis", 3, "ALERT")
    assert (redis_row["pending"], redis_row["delayed"], redis_row["reserved"]) == (1, 1, 1)
    assert isinstance(redis_row["oldest_pending"], int) and abs(redis_row["oldest_pending"] - time.time()) < 60
    assert (db_row["connection"], db_row["size"], db_row["status"], db_row["oldest_pending"]) == (
        "database",
        0,
        "OK",
        None,
    )

    text = invoke(env, "queue:monitor", "redis:default", "--max=10")
    assert text.exit_code == 0
    lines = [line.strip() for line in text.stdout.splitlines() if line.strip()]
    assert re.fullmatch(r"Queue name \.* ?Size / Status", lines[0])
    assert re.fullmatch(r"\[redis\] default \.* ?\[3\] OK", lines[1])
    assert re.fullmatch(r"Pending jobs \.* ?1", lines[2])
    assert re.fullmatch(r"Oldest pending job \.* ?\d+ seconds? ago", lines[5])


def test_monitor_helpers() -> None:
    assert parse_targets("high,redis:default,sqs:https://x/y", "database") == [
        ("database", "high"),
        ("redis", "default"),
        ("sqs", "https://x/y"),
    ]
    now = 1_000_000.0
    assert diff_for_humans(int(now) - 1, now) == "1 second ago"
    assert diff_for_humans(int(now) - 150, now) == "2 minutes ago"
    assert diff_for_humans(int(now) - 7200, now) == "2 hours ago"
    assert diff_for_humans(int(now) + 90000, now) == "1 day from now"


# -- prune-batches -------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "mysql", "pgsql"])
def test_prune_batches_by_age_state(request: pytest.FixtureRequest, engine: str) -> None:
    env = {**request.getfixturevalue(f"{engine}_env"), "APP_ENV": "local"}
    conns = Connections(load_settings(environ=env))
    now = int(time.time())
    hour = 3600
    rows = {  # id: (created_at, finished_at, cancelled_at)
        "finished-old": (now - 50 * hour, now - 30 * hour, None),
        "finished-new": (now - 50 * hour, now - 2 * hour, None),
        "open-old": (now - 80 * hour, None, None),
        "open-new": (now - 10 * hour, None, None),
        "cancelled-old": (now - 80 * hour, now - 79 * hour + 1, now - 79 * hour),
        "cancelled-new": (now - 5 * hour, now - 5 * hour, now - 5 * hour),
    }
    try:
        migrate(conns.db())
        db = conns.db()
        for batch_id, (created, finished, cancelled) in rows.items():
            db.execute(
                "insert into job_batches (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options,"
                " cancelled_at, created_at, finished_at) values (?, 'b', 1, 0, 0, '[]', 'a:0:{}', ?, ?, ?)",
                (batch_id, cancelled, created, finished),
            )
        result = invoke(env, "queue:prune-batches", "--hours=100")
        assert "0 entries deleted." in result.stdout
        result = invoke(env, "queue:prune-batches", "--unfinished=48", "--cancelled=48")
        assert result.exit_code == 0
        assert "2 entries deleted." in result.stdout  # finished-old and cancelled-old (cancelling finishes it)
        assert "1 unfinished entries deleted." in result.stdout
        assert "0 cancelled entries deleted." in result.stdout
        remaining = sorted(row["id"] for row in db.fetch_all("select id from job_batches"))
        assert remaining == ["cancelled-new", "finished-new", "open-new"]
    finally:
        conns.close()
