"""Backends that go away under a running worker: it logs, backs off, reconnects, continues.

Each test runs a real `queue:work` subprocess, finishes a first batch, breaks the
backend (restarts our own redis-server, kills the worker's MariaDB/PostgreSQL
connection, stops our own moto server), and then proves every job is finished once,
including one that was running when the backend went away.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WorkerProcess, free_port, port_open, unavailable, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.schema import migrate

BATCH = 20


def push_jobs(env: dict[str, str], job: str, items: list[dict[str, Any]]) -> None:
    """Push with a short-lived connection of the test's own (the worker's are the ones we break)."""
    connections = Connections(load_settings(environ=env))
    try:
        queue = connections.queue()
        for data in items:
            payload = queue.prepare_payload(string_job_payload(f"{job}@handle", data))
            queue.push_raw(php_json_encode(payload), None)
    finally:
        connections.close()


def done_numbers(log: Path) -> list[int]:
    lines = log.read_text().splitlines() if log.exists() else []
    return sorted(int(line.split()[1]) for line in lines if line.startswith("done"))


def records(log: Path, numbers: range) -> list[dict[str, Any]]:
    return [{"log": str(log), "n": n} for n in numbers]


def run_outage_scenario(
    env: dict[str, str],
    spawn_worker: Callable[..., WorkerProcess],
    log: Path,
    break_backend: Callable[[], None],
    restore_backend: Callable[[], None],
    error_text: str,
) -> WorkerProcess:
    """Batch 1; a job in flight while the backend breaks; restore; batch 2; all done exactly once."""
    push_jobs(env, "Tests\\Rel\\Record", records(log, range(BATCH)))
    worker = spawn_worker(env, "--timeout", "0")
    wait_for(lambda: len(done_numbers(log)) == BATCH, timeout=30, what=f"batch 1 done:\n{worker.text()}")

    in_flight = BATCH
    push_jobs(env, "Tests\\Rel\\StallFirst", [{"log": str(log), "n": in_flight, "seconds": 1.5}])
    wait_for(lambda: f"start {in_flight} " in log.read_text(), timeout=20, what="the in-flight job to start")
    break_backend()
    wait_for(lambda: error_text in worker.text(), timeout=30, what=f"the worker to log the outage:\n{worker.text()}")
    outage_started = time.monotonic()
    wait_for(lambda: worker.text().count(error_text) >= 2, timeout=30, what="a second logged failure")
    restore_backend()
    outage = time.monotonic() - outage_started

    push_jobs(env, "Tests\\Rel\\Record", records(log, range(BATCH + 1, 2 * BATCH + 1)))
    wait_for(
        lambda: done_numbers(log) == list(range(2 * BATCH + 1)),
        timeout=60,
        what=f"every job done exactly once; done={done_numbers(log)}\n{worker.text()}",
    )
    assert worker.alive(), worker.text()
    # backs off: about one failed attempt per second of outage, not a hot loop
    assert worker.text().count(error_text) <= 3 * (outage + 2), worker.text()
    return worker


def assert_nothing_left(env: dict[str, str]) -> None:
    connections = Connections(load_settings(environ=env))
    try:
        wait_for(lambda: connections.queue().size(None) == 0, timeout=15, what="the queue to be empty")
        assert connections.failed().all() == []
    finally:
        connections.close()


# -- Redis: our own server, restarted mid-run ------------------------------------------------------


class OwnRedis:
    """A redis-server on a free port with an fsync-always AOF, so a restart keeps every job."""

    def __init__(self, workdir: Path, extra: list[str] | None = None) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self.binary = str(binary)
        self.port = free_port()
        self.workdir = workdir
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), what="our redis-server to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_restart_mid_run_loses_nothing(
    own_redis: OwnRedis, sqlite_env: dict[str, str], spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    env = {
        **sqlite_env,
        "QUEUE_CONNECTION": "redis",
        "CACHE_STORE": "redis",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(own_redis.port),
        "REDIS_PREFIX": "rel-database-",
        "CACHE_PREFIX": "rel-cache-",
    }
    migrate_failed_table(env)
    log = tmp_path / "jobs.log"
    run_outage_scenario(env, spawn_worker, log, own_redis.stop, own_redis.start, "could not pop")
    assert_nothing_left(env)


def migrate_failed_table(env: dict[str, str]) -> None:
    connections = Connections(load_settings(environ=env))
    try:
        migrate(connections.db())
    finally:
        connections.close()


# -- MariaDB / PostgreSQL: the worker's connection is killed by the server ---------------------------


def _kill_mysql_connections(server: tuple[str, int, str, str], database: str) -> Callable[[], None]:
    def kill() -> None:
        import pymysql

        host, port, user, password = server
        admin = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
        try:
            with admin.cursor() as cur:

                def worker_connections() -> list[int]:
                    cur.execute(
                        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
                        (database,),
                    )
                    return [row[0] for row in cur.fetchall()]

                # Right after a kill the worker holds no connection until its next statement reconnects.
                ids = wait_for(worker_connections, timeout=10, what="the worker to hold a connection to kill")
                for connection_id in ids:
                    try:
                        cur.execute(f"KILL {int(connection_id)}")
                    except pymysql.err.OperationalError as exc:  # 1094: it closed since the listing
                        if exc.args[0] != 1094:
                            raise
        finally:
            admin.close()

    return kill


def _terminate_pgsql_backends(server: tuple[str, int, str], database: str) -> Callable[[], None]:
    def terminate() -> None:
        import psycopg

        host, port, user = server
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin:

            def terminated() -> list[Any]:  # pg_terminate_backend of a pid that has just exited is false
                return admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                ).fetchall()

            # Right after a kill the worker holds no connection until its next statement reconnects.
            wait_for(terminated, timeout=10, what="the worker to hold a connection to terminate")

    return terminate


@pytest.mark.parametrize("engine", ["mariadb", "pgsql"])
def test_killed_database_connection_is_replaced(
    engine: str, request: pytest.FixtureRequest, spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    if engine == "mariadb":
        env = {**request.getfixturevalue("mysql_env"), "CACHE_STORE": "array"}
        kill = _kill_mysql_connections(request.getfixturevalue("mysql_server"), env["DB_DATABASE"])
    else:
        env = {**request.getfixturevalue("pgsql_env"), "CACHE_STORE": "array"}
        kill = _terminate_pgsql_backends(request.getfixturevalue("pgsql_server"), env["DB_DATABASE"])
    migrate_failed_table(env)
    log = tmp_path / "jobs.log"
    kills: list[float] = []

    def break_backend() -> None:
        kill()
        kills.append(time.monotonic())

    worker = run_database_kill_scenario(env, spawn_worker, log, break_backend)
    assert kills and worker.alive()
    assert_nothing_left(env)


def run_database_kill_scenario(
    env: dict[str, str], spawn_worker: Callable[..., WorkerProcess], log: Path, kill: Callable[[], None]
) -> WorkerProcess:
    """A killed connection is noticed on the next statement and replaced; no outage window to wait out."""
    push_jobs(env, "Tests\\Rel\\Record", records(log, range(BATCH)))
    worker = spawn_worker(env, "--timeout", "0", "-v")
    wait_for(lambda: len(done_numbers(log)) == BATCH, timeout=30, what=f"batch 1 done:\n{worker.text()}")
    in_flight = BATCH
    push_jobs(env, "Tests\\Rel\\StallFirst", [{"log": str(log), "n": in_flight, "seconds": 1.5}])
    wait_for(lambda: f"start {in_flight} " in log.read_text(), timeout=20, what="the in-flight job to start")
    kill()  # while the job runs: its delete rides on the next pop, over a dead connection
    wait_for(lambda: in_flight in done_numbers(log), timeout=20, what="the in-flight job to finish")
    kill()  # while idle-polling
    push_jobs(env, "Tests\\Rel\\Record", records(log, range(BATCH + 1, 2 * BATCH + 1)))
    wait_for(
        lambda: done_numbers(log) == list(range(2 * BATCH + 1)),
        timeout=60,
        what=f"every job done exactly once; done={done_numbers(log)}\n{worker.text()}",
    )
    return worker


# -- SQS: our own moto server disappears and comes back ------------------------------------------


class OwnMoto:
    """A moto server process on a fixed free port that can be stopped and started again."""

    def __init__(self) -> None:
        pytest.importorskip("moto")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), timeout=30, what="our moto server to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def create_queue(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
        )
        client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})


@pytest.fixture
def own_moto() -> Iterator[OwnMoto]:
    server = OwnMoto()
    server.start()
    yield server
    server.stop()


def test_sqs_endpoint_vanishing_and_returning(
    own_moto: OwnMoto, sqlite_env: dict[str, str], spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    """moto keeps no state across a restart, so the queue is created again (AWS itself would keep it)."""
    own_moto.create_queue("rel-outage")
    env = {
        **sqlite_env,
        "QUEUE_CONNECTION": "sqs",
        "CACHE_STORE": "array",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SQS_ENDPOINT": own_moto.endpoint,
        "SQS_PREFIX": f"{own_moto.endpoint}/123456789012",
        "SQS_QUEUE": "rel-outage",
    }
    migrate_failed_table(env)
    log = tmp_path / "jobs.log"

    def restore() -> None:
        own_moto.start()
        own_moto.create_queue("rel-outage")

    push_jobs(env, "Tests\\Rel\\Record", records(log, range(BATCH)))
    worker = spawn_worker(env, "--timeout", "0")
    wait_for(lambda: len(done_numbers(log)) == BATCH, timeout=30, what=f"batch 1 done:\n{worker.text()}")
    own_moto.stop()
    wait_for(lambda: "could not pop" in worker.text(), timeout=60, what=f"the outage to be logged:\n{worker.text()}")
    restore()
    push_jobs(env, "Tests\\Rel\\Record", records(log, range(BATCH, 2 * BATCH)))
    wait_for(
        lambda: done_numbers(log) == list(range(2 * BATCH)),
        timeout=60,
        what=f"every job done exactly once; done={done_numbers(log)}\n{worker.text()}",
    )
    assert worker.alive(), worker.text()
    assert_nothing_left(env)
