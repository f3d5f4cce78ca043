"""The examples run as their README says: `examples.jobs` works jobs PHP dispatched.

Payloads are pushed the way PHP's queue drivers store them (the captured bytes for
PlainScalarsJob; the spec's documented ProcessPodcast envelope), then the real
`laravel-queue queue:work` CLI works them with `--jobs examples.jobs`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import ROOT, laravel_fixture

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.schema import migrate

CLI = str(Path(sys.executable).with_name("laravel-queue"))

# spec §2.3: a Redis payload of `ProcessPodcast` (SerializesModels, onQueue('audio'))
PROCESS_PODCAST = (
    '{"uuid":"9a1d3c2e-0b7f-4c1e-8f51-2d0c6c3b7e11","displayName":"App\\\\Jobs\\\\ProcessPodcast",'
    '"job":"Illuminate\\\\Queue\\\\CallQueuedHandler@call","maxTries":null,"maxExceptions":null,'
    '"failOnTimeout":false,"backoff":null,"timeout":null,"retryUntil":null,'
    '"data":{"commandName":"App\\\\Jobs\\\\ProcessPodcast",'
    '"command":"O:23:\\"App\\\\Jobs\\\\ProcessPodcast\\":2:{s:7:\\"podcast\\";O:45:\\"Illuminate\\\\Contracts'
    '\\\\Database\\\\ModelIdentifier\\":5:{s:5:\\"class\\";s:18:\\"App\\\\Models\\\\Podcast\\";s:2:\\"id\\";i:42;'
    's:9:\\"relations\\";a:0:{}s:10:\\"connection\\";s:5:\\"mysql\\";s:15:\\"collectionClass\\";N;}'
    's:5:\\"queue\\";s:5:\\"audio\\";}",'
    '"batchId":null},'
    '"createdAt":1767225600,"id":"pT4uQ9sVxW2yZ7aB1cD3eF5gH8iJ0kLm","attempts":0,"delay":null}'
)


def work(env: dict[str, str], connection: str, queues: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CLI,
            "queue:work",
            connection,
            f"--queue={queues}",
            "--stop-when-empty",
            "--sleep=0",
            "--jobs",
            "examples.jobs",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_jobs_example_works_php_dispatched_jobs_from_redis(
    redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any
) -> None:
    env = {**sqlite_env, **redis_env, "APP_ENV": "local"}
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())  # failed_jobs on SQLite, as the skeleton's redis setup
        queue = conns.queue("redis")
        queue.push_raw(laravel_fixture("redis/plain_scalars.json")["raw_payload"], "default")
        queue.push_raw(PROCESS_PODCAST, "audio")

        result = work(env, "redis", "audio,default")

        assert result.returncode == 0, result.stdout + result.stderr
        assert "Processing podcast #42 (App\\Models\\Podcast) from [audio], attempt 1" in result.stdout
        assert "PlainScalarsJob: 'héllo wörld \"quoted\" \\\\ slash / ünïcode ✓' count=42 ratio=0.1" in result.stdout
        assert result.stdout.count(" DONE") == 2
        assert queue.size("default") == queue.size("audio") == 0
        assert conns.failed().all() == []
    finally:
        conns.close()


def test_jobs_example_works_a_php_dispatched_job_from_sqlite(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "APP_ENV": "local"}
    capture = laravel_fixture("sqlite/plain_scalars.json")
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
        conns.queue("database").push_raw(capture["raw_payload"], capture["queue"])  # the INSERT PHP runs

        result = work(env, "database", capture["queue"])

        assert result.returncode == 0, result.stdout + result.stderr
        assert "PlainScalarsJob: 'héllo wörld" in result.stdout and " DONE" in result.stdout
        assert conns.db().fetch_all("select id from jobs") == []
        assert conns.failed().all() == []
    finally:
        conns.close()


def test_a_failing_example_job_lands_in_failed_jobs_and_retries(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "APP_ENV": "local"}
    capture = laravel_fixture("sqlite/plain_scalars.json")
    payload = json.loads(capture["raw_payload"])
    payload["data"]["command"] = payload["data"]["command"].replace('s:5:"count";i:42;', 's:5:"count";s:2:"no";')
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
        conns.queue("database").push_raw(json.dumps(payload), "default")
        result = work(env, "database", "default")
        assert result.returncode == 0 and " FAIL" in result.stdout
        (record,) = conns.failed().all()
        assert "count" in record.exception and record.uuid == payload["uuid"]

        listed = subprocess.run(
            [CLI, "queue:failed", "--json"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(listed.stdout)[0]["class"] == "App\\Jobs\\PlainScalarsJob"
        retried = subprocess.run(
            [CLI, "queue:retry", "all"], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
        )
        assert retried.returncode == 0 and " DONE" in retried.stdout
        (row,) = conns.db().fetch_all("select payload, attempts from jobs")
        assert json.loads(row["payload"])["uuid"] == payload["uuid"] and row["attempts"] == 0
    finally:
        conns.close()


def test_schedule_example_loads_and_lists(sqlite_env: dict[str, str]) -> None:
    from laravel_queue.schedule import load_schedule

    schedule = load_schedule("examples.schedule")
    assert [event.expression for event in schedule.events] == ["0 8 * * 1-5", "*/5 * * * *", "* * * * *"]
    env = {**sqlite_env, "APP_ENV": "local"}
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
    finally:
        conns.close()
    listed = subprocess.run(
        [CLI, "schedule:list", "--schedule", "examples.schedule"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "App\\Jobs\\SendDailyReport" in listed.stdout and "python-heartbeat" in listed.stdout
