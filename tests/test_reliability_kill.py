"""SIGKILL a worker mid-job: the job comes back after retry_after with its attempt counted.

Real worker subprocesses on every driver (Redis, SQLite, MariaDB, PostgreSQL, SQS).
The first worker is killed while the job runs; a second worker must pick the same job
up as attempt 2 once the reservation expires, and finish it. Nothing is lost and
nothing lands in failed_jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WorkerProcess, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.schema import migrate

RETRY_AFTER = "2"


def _sqs_env(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> dict[str, str]:
    import boto3

    aws_env = request.getfixturevalue("aws_env")
    name = f"rel-{uuid.uuid4().hex[:10]}"
    client = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=aws_env["SQS_ENDPOINT"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": RETRY_AFTER})
    return {**sqlite_env, **aws_env, "QUEUE_CONNECTION": "sqs", "SQS_QUEUE": name, "CACHE_STORE": "array"}


@pytest.fixture(params=["redis", "sqlite", "mariadb", "pgsql", "sqs"])
def backend_env(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> dict[str, str]:
    """Environment for one queue driver with a 2-second retry_after; failed_jobs in SQL."""
    if request.param == "redis":
        request.getfixturevalue("redis_client")  # deletes this test's keys afterwards
        env = {**sqlite_env, **request.getfixturevalue("redis_env"), "REDIS_QUEUE_RETRY_AFTER": RETRY_AFTER}
    elif request.param == "sqs":
        env = _sqs_env(request, sqlite_env)
    else:
        fixture = {"sqlite": "sqlite_env", "mariadb": "mysql_env", "pgsql": "pgsql_env"}[request.param]
        env = {**request.getfixturevalue(fixture), "DB_QUEUE_RETRY_AFTER": RETRY_AFTER, "CACHE_STORE": "array"}
    return env


@pytest.fixture
def conns(backend_env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=backend_env))
    migrate(connections.db())
    yield connections
    connections.close()


def push(conns: Connections, job: str, data: Any, **fields: Any) -> dict[str, Any]:
    queue = conns.queue()
    payload = queue.prepare_payload({**string_job_payload(f"{job}@handle", data), **fields})
    queue.push_raw(php_json_encode(payload), None)
    return payload


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigkilled_job_returns_after_retry_after_and_is_finished_by_another_worker(
    backend_env: dict[str, str],
    conns: Connections,
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    log = tmp_path / "jobs.log"
    push(conns, "Tests\\Rel\\StallFirst", {"log": str(log), "n": 1, "seconds": 120}, maxTries=3)
    first = spawn_worker(backend_env, "--timeout", "0")
    wait_for(lambda: any(line.startswith("start 1") for line in log_lines(log)), timeout=20, what="job 1 to start")
    first.kill()
    push(conns, "Tests\\Rel\\Record", {"log": str(log), "n": 2})

    second = spawn_worker(backend_env, "--timeout", "0")
    wait_for(
        lambda: {line.split()[1] for line in log_lines(log) if line.startswith("done")} == {"1", "2"},
        timeout=30,
        what=f"both jobs done by the second worker; worker output:\n{second.text()}",
    )
    done_1 = [line for line in log_lines(log) if line.startswith("done 1")]
    assert done_1 == [f"done 1 pid={second.pid} attempt=2"]  # the killed attempt was counted
    assert all(f"pid={second.pid}" in line for line in log_lines(log) if line.startswith("done"))
    wait_for(lambda: conns.queue().size(None) == 0, timeout=10, what="the queue to be empty")
    assert conns.failed().all() == []
    assert second.alive()
