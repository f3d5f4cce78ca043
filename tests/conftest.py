"""Live-service fixtures: real Redis, MariaDB, PostgreSQL, SQLite, moto (SQS/DynamoDB) and php.

Each test gets its own Redis key prefix, its own MariaDB/PostgreSQL database and its
own SQLite file, so tests never see each other's data. A service that is not
reachable is started from its local binary when possible; otherwise the fixture
fails (under CI=true) or skips with a message saying what to install.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(message: str) -> None:
    """Fail under CI (nothing is skipped silently there), skip elsewhere."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


SERVICE_PIDS: set[int] = set()
"""Servers that session fixtures started (moto, redis-server): never killed by the process guard."""


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll `condition` until it returns a truthy value; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


# -- Redis ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    host = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
    port = int(os.environ.get("TEST_REDIS_PORT", "6379"))
    if port_open(host, port):
        yield host, port
        return
    binary = shutil.which("redis-server")
    if not binary:
        unavailable("Redis is not on 127.0.0.1:6379 and redis-server is missing (apt-get install redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: port_open("127.0.0.1", port), what="redis-server to listen")
    SERVICE_PIDS.add(proc.pid)
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses, playing the part of Laravel's `laravel-database-`."""
    return f"lqtest-{uuid.uuid4().hex[:10]}-database-"


@pytest.fixture
def redis_client(redis_server: tuple[str, int], redis_prefix: str) -> Iterator[Any]:
    """A raw client on db 0; every key under this test's prefix is deleted afterwards."""
    import redis

    client = redis.Redis(host=redis_server[0], port=redis_server[1], db=0)
    yield client
    for db in (0, 1):
        cleaner = redis.Redis(host=redis_server[0], port=redis_server[1], db=db)
        keys = list(cleaner.scan_iter(match=f"{redis_prefix}*", count=1000))
        if keys:
            cleaner.delete(*keys)
        cleaner.close()
    client.close()


@pytest.fixture
def redis_env(redis_server: tuple[str, int], redis_prefix: str) -> dict[str, str]:
    """Laravel environment for the redis queue connection and redis cache store."""
    cache_prefix = redis_prefix.replace("-database-", "-cache-")
    return {
        "QUEUE_CONNECTION": "redis",
        "CACHE_STORE": "redis",
        "REDIS_HOST": redis_server[0],
        "REDIS_PORT": str(redis_server[1]),
        "REDIS_PREFIX": redis_prefix,
        "CACHE_PREFIX": cache_prefix,
    }


# -- SQLite -----------------------------------------------------------------------------


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "database.sqlite"


@pytest.fixture
def sqlite_env(sqlite_path: Path) -> dict[str, str]:
    return {
        "QUEUE_CONNECTION": "database",
        "CACHE_STORE": "database",
        "DB_CONNECTION": "sqlite",
        "DB_DATABASE": str(sqlite_path),
    }


@pytest.fixture
def redis_queue_env(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> dict[str, str]:
    """Jobs and cache on Redis, failed_jobs in SQLite (the worker-process tests' usual setup)."""
    return {**sqlite_env, **redis_env, "APP_ENV": "local"}


@pytest.fixture
def redis_queue_connections(redis_queue_env: dict[str, str]) -> Iterator[Any]:
    """`Connections` for `redis_queue_env`, with the SQLite tables migrated."""
    from laravel_queue.config import load_settings
    from laravel_queue.connections import Connections
    from laravel_queue.schema import migrate

    connections = Connections(load_settings(environ=redis_queue_env))
    migrate(connections.db())
    yield connections
    connections.close()


# -- MariaDB / MySQL ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def mysql_server() -> tuple[str, int, str, str]:
    host = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
    port = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
    user = os.environ.get("TEST_MYSQL_USER", "root")
    password = os.environ.get("TEST_MYSQL_PASSWORD", "")
    if not port_open(host, port):
        unavailable(
            f"MariaDB/MySQL is not reachable on {host}:{port} "
            "(apt-get install mariadb-server; start it with "
            "`start-stop-daemon --start --background --exec /usr/sbin/mariadbd`)"
        )
    return host, port, user, password


@pytest.fixture
def mysql_database(mysql_server: tuple[str, int, str, str]) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    import pymysql

    host, port, user, password = mysql_server
    name = f"lqtest_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


@pytest.fixture
def mysql_env(mysql_server: tuple[str, int, str, str], mysql_database: str) -> dict[str, str]:
    host, port, user, password = mysql_server
    return {
        "QUEUE_CONNECTION": "database",
        "CACHE_STORE": "database",
        "DB_CONNECTION": "mariadb",
        "DB_HOST": host,
        "DB_PORT": str(port),
        "DB_DATABASE": mysql_database,
        "DB_USERNAME": user,
        "DB_PASSWORD": password,
    }


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pgsql_server() -> tuple[str, int, str]:
    host = os.environ.get("TEST_PGSQL_HOST", "127.0.0.1")
    port = int(os.environ.get("TEST_PGSQL_PORT", "5432"))
    user = os.environ.get("TEST_PGSQL_USER", "postgres")
    if not port_open(host, port):
        unavailable(f"PostgreSQL is not reachable on {host}:{port} (apt-get install postgresql)")
    return host, port, user


@pytest.fixture
def pgsql_database(pgsql_server: tuple[str, int, str]) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    host, port, user = pgsql_server
    name = f"lqtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pgsql_env(pgsql_server: tuple[str, int, str], pgsql_database: str) -> dict[str, str]:
    host, port, user = pgsql_server
    return {
        "QUEUE_CONNECTION": "database",
        "CACHE_STORE": "database",
        "DB_CONNECTION": "pgsql",
        "DB_HOST": host,
        "DB_PORT": str(port),
        "DB_DATABASE": pgsql_database,
        "DB_USERNAME": user,
    }


# -- moto (SQS, DynamoDB) over real HTTP -------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server in its own process on a free loopback port."""
    pytest.importorskip("moto")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: port_open("127.0.0.1", port), timeout=30, what="moto server to listen")
    except AssertionError:
        proc.kill()
        unavailable("moto server did not start (pip install 'moto[server]')")
    SERVICE_PIDS.add(proc.pid)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def aws_env(moto_endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SQS_ENDPOINT": moto_endpoint,
        "SQS_PREFIX": f"{moto_endpoint}/123456789012",
        "DYNAMODB_ENDPOINT": moto_endpoint,
    }


# -- php-cli ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def php() -> str:
    binary = shutil.which("php")
    if not binary:
        unavailable("php is not installed (apt-get install php-cli)")
    assert binary
    return binary


# -- Laravel fixtures ---------------------------------------------------------------------------


def laravel_fixture(relative: str) -> Any:
    """Load a captured Laravel fixture (JSON) from fixtures/laravel."""
    import json

    return json.loads((FIXTURES / "laravel" / relative).read_text(encoding="utf-8"))


# -- the three SQL engines (database layer) -----------------------------------------------------


@pytest.fixture(params=["sqlite", "mariadb", "pgsql"])
def db_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Laravel environment for one SQL engine: the test runs once per engine."""
    name = {"sqlite": "sqlite_env", "mariadb": "mysql_env", "pgsql": "pgsql_env"}[request.param]
    return dict(request.getfixturevalue(name))


@pytest.fixture
def db(db_env: dict[str, str]) -> Iterator[Any]:
    """A `laravel_queue.db.Database` on a fresh, empty database of the parametrized engine."""
    from laravel_queue.config import load_settings
    from laravel_queue.db import connect

    database = connect(load_settings(environ=db_env).db_connection())
    yield database
    database.close()


# -- worker subprocesses (reliability and security tests) ---------------------------------------


class WorkerProcess:
    """A `queue:work` subprocess whose combined output goes to a file (a pipe could fill and block it)."""

    def __init__(self, proc: subprocess.Popen[bytes], output: Path) -> None:
        self.proc = proc
        self.output = output

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace") if self.output.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL and reap: the worker gets no chance to finish or acknowledge anything."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `laravel-queue queue:work` subprocesses; any still running is killed at teardown."""
    started: list[WorkerProcess] = []

    def spawn(env: dict[str, str], *args: str, jobs: str = "tests.support.reliability_jobs") -> WorkerProcess:
        output = tmp_path / f"worker-{len(started)}.out"
        with output.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "laravel_queue", "queue:work", "--jobs", jobs, "--sleep", "0.05", *args],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(proc, output)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.kill()


# -- no process outlives its test ---------------------------------------------------------------


def _descendants(root: int) -> set[int]:
    """Live (not zombie) descendants of `root`, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """Kill what a test started and left running (a worker of a failed assertion), tree and all.

    Processes of session- and module-scoped fixtures (Redis, moto) exist before the test
    starts, so they are in the snapshot and survive. Costs one /proc scan per test.
    """
    if not os.path.isdir("/proc"):
        yield
        return
    before = _descendants(os.getpid())
    yield
    leftover = _descendants(os.getpid()) - before - SERVICE_PIDS
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    for pid in leftover:  # reap our own children (others raise at once) so none lingers as a zombie
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
