"""The queue backends under test: environment, pre-filling, server-side counters, physical limits.

Each backend gets a private playground (its own Redis key prefix or redis-server, its own
MariaDB/PostgreSQL database, its own SQLite file, its own moto server) built the way
tests/conftest.py builds them, so a benchmark never sees anybody else's jobs and is
dropped afterwards. Laravel environment variables only: the worker under test reads
nothing else.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.measure import COMMIT_PROBE, POP_SCRIPT_PROBE
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode

# Commands the driver's Lua scripts call: INFO commandstats counts them too, but they cost
# no round trip (they run inside the EVALSHA that carried them). `select`/`get` are the pop
# script's reads of the restart and pause keys (the worker itself issues no GET in this run).
SCRIPT_COMMANDS = frozenset(
    {"del", "get", "llen", "lpop", "rpush", "select", "zadd", "zcard", "zrangebyscore", "zrem", "zremrangebyrank"}
)
HARNESS_COMMANDS = frozenset({"info", "config|resetstat"})


@dataclass
class Limit:
    """One physical-limit measurement: `ops_per_s` of `what`, measured by `command`."""

    what: str
    ops_per_s: float
    command: str


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


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.01) -> Any:
    """Poll until `condition()` is truthy; a clear error naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def timed_loop(count: int, call: Callable[[], Any]) -> float:
    """Operations per second of `call()` repeated `count` times, one after the other."""
    call()  # warm-up: connection, statement cache
    started = time.perf_counter()
    for _ in range(count):
        call()
    return count / (time.perf_counter() - started)


class Backend(ABC):
    """One queue backend as the worker sees it (a Laravel environment) plus the harness's view."""

    name: str
    connection: str
    family: str
    """Backends of one family take the same prepared payload strings."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env: dict[str, str] = {}
        self._connections: Connections | None = None

    # -- life cycle --------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Create the playground and fill `self.env`."""

    def close(self) -> None:
        if self._connections is not None:
            self._connections.close()
            self._connections = None

    @property
    def connections(self) -> Connections:
        if self._connections is None:
            self._connections = Connections(load_settings(environ=self.env))
        return self._connections

    def queue(self) -> Any:
        return self.connections.queue(self.connection)

    def describe(self) -> str:
        return self.name

    # -- jobs --------------------------------------------------------------------------------
    def prepare(self, envelopes: Sequence[dict[str, Any]]) -> list[str]:
        """Stored strings, exactly what this driver's push would store for each envelope."""
        queue = self.queue()
        return [php_json_encode(queue.prepare_payload(envelope)) for envelope in envelopes]

    @abstractmethod
    def prefill(self, payloads: Sequence[str]) -> None:
        """Store prepared payloads as fast as the backend allows (not part of any timing)."""

    def push(self, payload: str) -> None:
        """One real push through the driver (latency runs)."""
        self.queue().push_raw(payload)

    def remaining(self) -> int:
        return int(self.queue().size())

    def clear(self) -> None:
        self.queue().clear()

    def failed_count(self) -> int:
        """Rows in failed_jobs (on the app's default database, as Laravel's database-uuids provider)."""
        return int(self.connections.db().fetch_value("select count(*) from failed_jobs"))

    # -- measurements ------------------------------------------------------------------------
    def counters(self) -> dict[str, float]:
        """Server-side counters, read before and after a run."""
        return {}

    def per_job(self, before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
        """What one job cost the server, from two `counters()` snapshots."""
        return {}

    def limits(self) -> list[Limit]:
        return []

    def probe(self) -> dict[str, float]:
        """Round trips per second right now, taken just before each timed run (the machine is noisy)."""
        return {}


# -- Redis ---------------------------------------------------------------------------------------


class RedisServer:
    """A private redis-server, so INFO commandstats and CPU counters see only the benchmark."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open("127.0.0.1", self.port), 10, "the private redis-server to listen")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class RedisBackend(Backend):
    name = "redis"
    connection = "redis"
    family = "redis"

    def __init__(self, workdir: Path, host: str | None = None, port: int | None = None, block_for: float | None = None):
        super().__init__(workdir)
        self.host, self.port = host, port
        self.block_for = block_for
        self.server: RedisServer | None = None
        self._sample_payloads: list[str] = []  # the run's stored payloads, for the pop-script probe

    def open(self) -> None:
        if self.port is None:
            self.server = RedisServer(self.workdir)
            self.host, self.port = "127.0.0.1", self.server.port
        tag = uuid.uuid4().hex[:8]
        self.env = {
            "QUEUE_CONNECTION": "redis",
            "CACHE_STORE": "redis",
            "REDIS_HOST": str(self.host),
            "REDIS_PORT": str(self.port),
            "REDIS_PREFIX": f"lqbench-{tag}-database-",
            "CACHE_PREFIX": f"lqbench-{tag}-cache-",
            "DB_CONNECTION": "sqlite",
            "DB_DATABASE": str(self.workdir / f"redis-side-{tag}.sqlite"),
        }
        if self.block_for is not None:
            self.env["REDIS_QUEUE_BLOCK_FOR"] = f"{self.block_for:g}"
        _migrate(self.connections, jobs=False)  # failed_jobs for the redis runs lives in SQLite, as in Laravel

    def close(self) -> None:
        if self.server is None and self._connections is not None:  # shared server: remove only our keys
            prefix = self.env["REDIS_PREFIX"].removesuffix("-database-")
            for db in (0, 1):
                client = self._raw(db)
                keys = list(client.scan_iter(match=f"{prefix}-*", count=1000))
                if keys:
                    client.delete(*keys)
                client.close()
        super().close()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _raw(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, db=db)

    def describe(self) -> str:
        client = self._raw()
        version = client.info("server")["redis_version"]
        client.close()
        where = "private redis-server" if self.server else "shared server"
        return f"Redis {version} ({where} on 127.0.0.1:{self.port})"

    def prefill(self, payloads: Sequence[str], queue_name: str | None = None) -> None:
        """RPUSH in pipelined chunks, one notify token per job (as the push script does)."""
        queue = self.queue()
        keys = queue.keys(queue_name)
        if len(payloads) > len(self._sample_payloads):
            self._sample_payloads = list(payloads[:_POP_PROBE_JOBS])
        pipe = queue.client.pipeline(transaction=False)
        for start in range(0, len(payloads), 1000):
            chunk = payloads[start : start + 1000]
            pipe.rpush(keys.queue, *chunk)
            pipe.rpush(keys.notify, *([1] * len(chunk)))
            if len(pipe) >= 20:
                pipe.execute()
        pipe.execute()

    def counters(self) -> dict[str, float]:
        client = self._raw()
        stats = client.info("commandstats")
        cpu = client.info("cpu")
        client.close()
        values = {f"calls:{name.removeprefix('cmdstat_')}": float(v["calls"]) for name, v in stats.items()}
        values["cpu"] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        return values

    def per_job(self, before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
        result: dict[str, float] = {}
        trips = 0.0
        for key, value in after.items():
            if not key.startswith("calls:"):
                continue
            command = key.removeprefix("calls:")
            delta = value - before.get(key, 0.0)
            if delta <= 0 or command in HARNESS_COMMANDS:
                continue
            if command not in SCRIPT_COMMANDS:
                trips += delta
                result[f"cmd:{command}"] = delta / jobs
        result["round_trips"] = trips / jobs
        result["server_cpu_us"] = (after["cpu"] - before["cpu"]) / jobs * 1e6
        return result

    def limits(self) -> list[Limit]:
        return redis_limits(str(self.host), int(self.port or 6379))

    def probe(self) -> dict[str, float]:
        client = self._raw()
        rates = {"redis-py PING": timed_loop(2000, client.ping)}
        client.close()
        binary = shutil.which("redis-benchmark")
        if binary:
            out = subprocess.run(
                [binary, "-h", str(self.host), "-p", str(self.port), "-q", "-n", "20000", "-c", "1", "-t", "ping"],
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
            rates["redis-benchmark PING -c 1"] = _redis_benchmark_rate(out)
            if len(self._sample_payloads) > 2:
                rates[POP_SCRIPT_PROBE] = self._pop_script_rate(binary, self._sample_payloads)
        return rates

    def _pop_script_rate(self, binary: str, payloads: list[str]) -> float:
        """redis-benchmark -c 1 sending the worker's own pop EVALSHA, byte for byte (restart and
        pause reads, an ack), to a side queue holding the run's payloads: each call pops one.

        This is the single-connection limit for one such round trip per job: the wire round
        trip plus Redis's own work for Laravel's pop (migrations, LPOP, cjson re-encode, ZADD).
        """
        from laravel_queue.worker.worker import RESTART_KEY, paused_key

        name = "lqbench-probe"
        queue = self.queue()
        keys = queue.keys(name)
        requests = len(payloads) - 2  # two real pops record the command, with an ack
        self.prefill(payloads, queue_name=name)
        control = queue.control_keys(
            self.connections.cache(),
            restart_key=RESTART_KEY,
            paused_keys={name: paused_key(queue.connection_name, name)},
        )
        if control is None:
            raise RuntimeError("the worker would not read restart/pause in its pop here: no probe for it")
        sent: list[tuple[Any, ...]] = []
        hot_run = queue._hot.run

        def recording(script: Any, script_keys: list[Any], args: list[Any]) -> Any:
            sent.append(("EVALSHA", script.sha, len(script_keys), *script_keys, *args))
            return hot_run(script, script_keys, args)

        queue._hot.run = recording
        try:
            first = queue.pop_with_control(name, ack=None, control=control, restart=None)
            restart = first.restart if first.skipped == "restart" else None  # the stored value the worker expects
            if first.skipped:
                first = queue.pop_with_control(name, ack=None, control=control, restart=restart)
            queue.pop_with_control(name, ack=first.job, control=control, restart=restart)
        finally:
            del queue._hot.run
        argv = [arg.decode() if isinstance(arg, bytes) else str(arg) for arg in sent[-1]]
        out = subprocess.run(
            [binary, "-h", str(self.host), "-p", str(self.port), "-q", "-n", str(requests), "-c", "1", *argv],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
        left = queue.pending_size(name)
        queue.client.delete(keys.queue, keys.reserved, keys.notify, keys.delayed)
        if left != 0:
            raise AssertionError(f"the pop-script probe left {left} of {requests} jobs: it did not pop one per call")
        return _redis_benchmark_rate(out)


_POP_PROBE_JOBS = 5002


def redis_limits(host: str, port: int, requests: int = 100_000) -> list[Limit]:
    """redis-benchmark for the commands the worker sends, plus redis-py's own floor."""
    import redis

    client = redis.Redis(host=host, port=port)
    sha = client.script_load("return 1")
    limits = [
        Limit("redis-py PING loop (Python client floor)", timed_loop(5000, client.ping), "redis-py client.ping()"),
        Limit(
            "redis-py EVALSHA 'return 1' loop",
            timed_loop(5000, lambda: client.evalsha(sha, 0)),
            "redis-py client.evalsha(sha, 0)",
        ),
    ]
    client.close()
    binary = shutil.which("redis-benchmark")
    if not binary:
        return limits
    base = [binary, "-h", host, "-p", str(port), "-q", "-n", str(requests)]
    for what, extra in (
        ("PING, 1 client (one process's round-trip limit)", ["-c", "1", "-t", "ping"]),
        ("PING, 50 clients (server saturation)", ["-t", "ping"]),
        ("EVALSHA trivial script, 1 client", ["-c", "1", "EVALSHA", sha, "0"]),
        ("EVALSHA trivial script, 50 clients", ["EVALSHA", sha, "0"]),
    ):
        out = subprocess.run(base + extra, capture_output=True, text=True, timeout=300).stdout
        rate = _redis_benchmark_rate(out)
        if rate:
            shown = " ".join(["redis-benchmark", "-q", "-n", str(requests), *extra])
            shown = shown.replace(sha, "<sha1 of 'return 1'>")
            limits.append(Limit(what, rate, shown))
    return limits


def _redis_benchmark_rate(output: str) -> float:
    """The last `N requests per second` figure (redis-benchmark -q prints one per test)."""
    rates = re.findall(r"([\d.]+) requests per second", output.replace("\r", "\n"))
    return float(rates[-1]) if rates else 0.0


# -- SQL databases -------------------------------------------------------------------------------


def _migrate(connections: Connections, *, jobs: bool = True) -> None:
    from laravel_queue.schema import migrate

    migrate(connections.db(), jobs_table="jobs" if jobs else None)


class SqlBackend(Backend):
    """The database queue driver on one engine; tables created by laravel_queue.schema.migrate."""

    connection = "database"
    family = "database"
    client: str
    """The client library of `probe_table`, as the limits table names it."""

    def prefill(self, payloads: Sequence[str]) -> None:
        queue = self.queue()
        queue.push_raw_many(payloads)  # Laravel's bulk(): multi-row INSERTs in one transaction
        if queue.db.dialect == "pgsql":
            # A production jobs table has planner statistics; a table filled a moment ago has
            # none until autovacuum runs, and PostgreSQL then sorts every pending row per pop.
            queue.db.execute(f"ANALYZE {queue.db.table(queue.table_name)}")

    @abstractmethod
    def probe_table(self) -> contextlib.AbstractContextManager[tuple[Callable[[], Any], Callable[[], Any]]]:
        """`(select_one, commit_one)` on a one-row scratch table, dropped afterwards: a single-row
        SELECT and a `begin; update that row; commit`, over the engine's own client library and
        (SQLite) the journal mode the worker commits with."""

    def probe(self) -> dict[str, float]:
        """SELECT 1 through our Database, and the one-row commit rate: the worker makes one commit
        per job, so jobs/s over this rate is the share of the engine's commit limit a run reached."""
        database = self.connections.db()
        rates = {"SELECT 1": timed_loop(1000, lambda: database.fetch_value("select 1"))}
        with self.probe_table() as (_, commit_one):
            rates[COMMIT_PROBE] = timed_loop(1500, commit_one)
        return rates

    def limits(self) -> list[Limit]:
        with self.probe_table() as (select_one, commit_one):
            return [
                Limit(
                    f"{self.name}: single-row SELECT",
                    timed_loop(3000, select_one),
                    f"{self.client}: select n from t where id = 1",
                ),
                Limit(
                    f"{self.name}: single-row UPDATE transaction (one COMMIT)",
                    timed_loop(3000, commit_one),
                    f"{self.client}: begin; update t set n = n + 1 where id = 1; commit",
                ),
            ]

    def design_commits_per_job(self, jobs: int = 300) -> float:
        """Run the real Worker in this process over `jobs` jobs and count its COMMITs (client side)."""
        from benchmarks.noop_jobs import noop_payload
        from laravel_queue.worker import Worker, WorkerOptions
        from laravel_queue.worker.output import WorkerOutput

        self.clear()
        self.prefill(self.prepare([noop_payload(n) for n in range(jobs)]))
        connections = Connections(load_settings(environ=self.env))
        saved = {
            sig: signal.getsignal(sig)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR2, signal.SIGCONT)
        }
        try:
            output = WorkerOutput(io.StringIO())  # the benchmark's own stdout stays readable
            # no memory limit: this runs inside the harness (or pytest), whose RSS is not the worker's
            options = WorkerOptions(stop_when_empty=True, sleep=0, memory=1 << 20)
            worker = Worker(connections, options=options, output=output)
            database = connections.db()
            before = database.commits
            worker.daemon(self.connection, ["default"])
            commits = database.commits - before
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
            connections.close()
        if self.remaining():
            raise AssertionError(f"in-process worker left {self.remaining()} jobs")
        return commits / jobs


class SqliteBackend(SqlBackend):
    family = "database"
    client = "sqlite3"

    def __init__(self, workdir: Path, journal_mode: str | None = None) -> None:
        super().__init__(workdir)
        self.journal_mode = journal_mode
        self.name = "sqlite-wal" if journal_mode == "wal" else "sqlite"
        self.path = workdir / f"{self.name}-{uuid.uuid4().hex[:8]}.sqlite"

    def open(self) -> None:
        self.path.touch()
        self.env = {
            "QUEUE_CONNECTION": "database",
            "CACHE_STORE": "database",
            "DB_CONNECTION": "sqlite",
            "DB_DATABASE": str(self.path),
        }
        if self.journal_mode:
            self.env["DB_JOURNAL_MODE"] = self.journal_mode
        _migrate(self.connections)

    def close(self) -> None:
        super().close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def describe(self) -> str:
        if self.journal_mode:
            return f"SQLite {sqlite3.sqlite_version} file in {self.workdir}, journal_mode={self.journal_mode}"
        return (
            f"SQLite {sqlite3.sqlite_version} file in {self.workdir}, left in SQLite's default rollback-journal"
            " mode (DELETE, as Laravel leaves it); the worker's connection journals it with PERSIST (its default)"
        )

    @contextlib.contextmanager
    def probe_table(self) -> Iterator[tuple[Callable[[], Any], Callable[[], Any]]]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute(f"pragma journal_mode = {self.journal_mode or 'persist'}")  # as the worker commits
        conn.execute("create table if not exists lqbench_probe (id integer primary key, n integer)")
        conn.execute("insert or replace into lqbench_probe values (1, 0)")

        def commit_one() -> None:
            conn.execute("begin")
            conn.execute("update lqbench_probe set n = n + 1 where id = 1")
            conn.execute("commit")

        try:
            yield (lambda: conn.execute("select n from lqbench_probe where id = 1").fetchone()), commit_one
        finally:
            conn.execute("drop table lqbench_probe")
            conn.close()


class MariadbBackend(SqlBackend):
    name = "mariadb"
    client = "pymysql"

    def __init__(
        self, workdir: Path, host: str = "127.0.0.1", port: int = 3306, user: str = "root", password: str = ""
    ) -> None:
        super().__init__(workdir)
        self.host, self.port, self.user, self.password = host, port, user, password
        self.database = f"lqbench_{uuid.uuid4().hex[:12]}"

    def _admin(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, database=database, autocommit=True
        )

    def open(self) -> None:
        with self._admin() as admin, admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{self.database}`")
        self.env = {
            "QUEUE_CONNECTION": "database",
            "CACHE_STORE": "database",
            "DB_CONNECTION": "mariadb",
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_DATABASE": self.database,
            "DB_USERNAME": self.user,
            "DB_PASSWORD": self.password,
        }
        _migrate(self.connections)

    def close(self) -> None:
        super().close()
        with self._admin() as admin, admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{self.database}`")

    def describe(self) -> str:
        with self._admin() as admin, admin.cursor() as cur:
            cur.execute("select version(), @@innodb_flush_log_at_trx_commit")
            version, flush = cur.fetchone()
        return f"MariaDB {version} on {self.host}:{self.port} (innodb_flush_log_at_trx_commit={flush})"

    def counters(self) -> dict[str, float]:
        with self._admin() as admin, admin.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_commit', 'Questions')")
            return {name: float(value) for name, value in cur.fetchall()}

    def per_job(self, before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
        return {
            "commits": (after["Com_commit"] - before["Com_commit"]) / jobs,
            "statements": (after["Questions"] - before["Questions"]) / jobs,
        }

    @contextlib.contextmanager
    def probe_table(self) -> Iterator[tuple[Callable[[], Any], Callable[[], Any]]]:
        conn = self._admin(self.database)
        cur = conn.cursor()
        cur.execute("create table lqbench_probe (id int primary key, n int) engine=InnoDB")
        cur.execute("insert into lqbench_probe values (1, 0)")

        def select_one() -> None:
            cur.execute("select n from lqbench_probe where id = 1")
            cur.fetchone()

        def commit_one() -> None:
            cur.execute("begin")
            cur.execute("update lqbench_probe set n = n + 1 where id = 1")
            cur.execute("commit")

        try:
            yield select_one, commit_one
        finally:
            cur.execute("drop table lqbench_probe")
            conn.close()


class PgsqlBackend(SqlBackend):
    name = "pgsql"
    client = "psycopg"

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int = 5432, user: str = "postgres") -> None:
        super().__init__(workdir)
        self.host, self.port, self.user = host, port, user
        self.database = f"lqbench_{uuid.uuid4().hex[:12]}"

    def _admin(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True)

    def open(self) -> None:
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self.env = {
            "QUEUE_CONNECTION": "database",
            "CACHE_STORE": "database",
            "DB_CONNECTION": "pgsql",
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_DATABASE": self.database,
            "DB_USERNAME": self.user,
        }
        _migrate(self.connections)

    def close(self) -> None:
        super().close()
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def describe(self) -> str:
        with self._admin() as admin:
            row = admin.execute("show server_version").fetchone()
            sync = admin.execute("show synchronous_commit").fetchone()
        assert row is not None and sync is not None
        return f"PostgreSQL {row[0]} on {self.host}:{self.port} (synchronous_commit={sync[0]})"

    def _xact_commit(self) -> float:
        with self._admin() as admin:
            admin.execute("select pg_stat_clear_snapshot()")
            row = admin.execute(
                "select xact_commit from pg_stat_database where datname = %s", (self.database,)
            ).fetchone()
        return float(row[0]) if row else 0.0

    def counters(self) -> dict[str, float]:
        """xact_commit of our database only; backends flush their stats as they exit, so wait for it to settle."""
        previous = self._xact_commit()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.2)
            current = self._xact_commit()
            if current == previous:
                break
            previous = current
        return {"xact_commit": previous}

    def per_job(self, before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
        return {"transactions": (after["xact_commit"] - before["xact_commit"]) / jobs}

    @contextlib.contextmanager
    def probe_table(self) -> Iterator[tuple[Callable[[], Any], Callable[[], Any]]]:
        conn = self._admin(self.database)
        conn.execute("create table lqbench_probe (id int primary key, n int)")
        conn.execute("insert into lqbench_probe values (1, 0)")

        def select_one() -> None:
            conn.execute("select n from lqbench_probe where id = 1").fetchone()

        def commit_one() -> None:
            with conn.transaction():
                conn.execute("update lqbench_probe set n = n + 1 where id = 1")

        try:
            yield select_one, commit_one
        finally:
            conn.execute("drop table lqbench_probe")
            conn.close()


# -- SQS on moto -----------------------------------------------------------------------------------


class SqsBackend(Backend):
    """SQS against a private moto server: functional cost only (moto is not AWS)."""

    name = "sqs"
    connection = "sqs"
    family = "sqs"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def open(self) -> None:
        port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open("127.0.0.1", port), 30, "the moto server to listen")
        self.endpoint = f"http://127.0.0.1:{port}"
        queue_name = f"lqbench-{uuid.uuid4().hex[:8]}"
        self.env = {
            "QUEUE_CONNECTION": "sqs",
            "CACHE_STORE": "array",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SQS_ENDPOINT": self.endpoint,
            "SQS_PREFIX": f"{self.endpoint}/123456789012",
            "SQS_QUEUE": queue_name,
            "DB_CONNECTION": "sqlite",
            "DB_DATABASE": str(self.workdir / f"sqs-side-{queue_name}.sqlite"),
        }
        import boto3

        boto3.client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
        ).create_queue(QueueName=queue_name)
        _migrate(self.connections, jobs=False)

    def close(self) -> None:
        super().close()
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None

    def describe(self) -> str:
        import moto

        return f"moto {moto.__version__} server (SQS API over HTTP on loopback)"

    def prefill(self, payloads: Sequence[str]) -> None:
        queue = self.queue()
        for payload in payloads:
            queue.push_raw(payload)

    def clear(self) -> None:
        """PurgeQueue only when needed: SQS (and moto) allow one purge per queue per 60 s."""
        if self.remaining():
            self.queue().clear()


def make_backend(name: str, workdir: Path, **options: Any) -> Backend:
    """`redis`, `sqlite`, `sqlite-wal`, `mariadb`, `pgsql` or `sqs`."""
    if name == "redis":
        return RedisBackend(
            workdir, host=options.get("redis_host"), port=options.get("redis_port"), block_for=options.get("block_for")
        )
    if name == "sqlite":
        return SqliteBackend(workdir)
    if name == "sqlite-wal":
        return SqliteBackend(workdir, journal_mode="wal")
    if name == "mariadb":
        return MariadbBackend(workdir)
    if name == "pgsql":
        return PgsqlBackend(workdir)
    if name == "sqs":
        return SqsBackend(workdir)
    raise ValueError(f"unknown backend {name!r} (redis, sqlite, sqlite-wal, mariadb, pgsql, sqs)")


BACKENDS = ("redis", "sqlite", "sqlite-wal", "mariadb", "pgsql", "sqs")
