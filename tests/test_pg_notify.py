"""PostgreSQL, opt-in: `migrate --notify` installs an insert trigger on the jobs table and an idle
worker LISTENs for it instead of sleeping `--sleep` seconds (drivers/database/notify.py).
Real PostgreSQL, real worker processes.

The bounds are behavioural, not speed targets: with `--sleep 30` a sleeping worker would start
a pushed job after up to 30 s; a woken one starts it within seconds even on a busy machine
(the push-to-start figures are in BENCHMARKS.md, from benchmarks/bench_wake.py).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import WorkerProcess, wait_for
from support.control import push
from support.processes import start_idle_worker

from laravel_queue.cli import app
from laravel_queue.config import load_settings
from laravel_queue.config.models import DatabaseConnectionConfig
from laravel_queue.connections import Connections
from laravel_queue.db import connect
from laravel_queue.drivers.database import notify
from laravel_queue.drivers.wake import SLICE_SECONDS, push_wait_for
from laravel_queue.payload import php_json_encode, string_job_payload

psycopg = pytest.importorskip("psycopg")


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def migrate(env: dict[str, str], tmp_path: Path, *args: str) -> Any:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return CliRunner().invoke(app, ["migrate", "--env-file", str(env_file), *args], env={k: None for k in env})


def admin(env: dict[str, str]) -> Any:
    """A plain psycopg session on the test database: what PHP's PDO would be."""
    return psycopg.connect(
        host=env["DB_HOST"], port=int(env["DB_PORT"]), user=env["DB_USERNAME"], dbname=env["DB_DATABASE"],
        autocommit=True,
    )


def triggers(env: dict[str, str], table: str = "jobs") -> list[tuple[str, str]]:
    with admin(env) as conn:
        rows = conn.execute(
            "select tgname, p.proname from pg_trigger t join pg_proc p on p.oid = t.tgfoid"
            " where tgrelid = to_regclass(%s) and not tgisinternal",
            (f'"{table}"',),
        ).fetchall()
    return [(str(name), str(function)) for name, function in rows]


def sessions(env: dict[str, str]) -> int:
    """Backends connected to the test database, this one excluded."""
    with admin(env) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def notify_env(pgsql_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A PostgreSQL app migrated with `--notify`."""
    result = migrate(pgsql_env, tmp_path, "--notify")
    assert result.exit_code == 0, result.output
    return pgsql_env


@pytest.fixture
def conns(notify_env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=notify_env))
    yield connections
    connections.close()


def raw_insert(env: dict[str, str], log: Path, n: int, queue: str = "default") -> None:
    """A job INSERTed as PHP's DatabaseQueue does it, by a session that knows nothing of us."""
    connections = Connections(load_settings(environ=env))
    try:
        payload = connections.queue().prepare_payload(
            string_job_payload("Tests\\Rel\\Record@handle", {"log": str(log), "n": n})
        )
    finally:
        connections.close()
    now = int(time.time())
    with admin(env) as conn:
        conn.execute(
            "insert into jobs (queue, attempts, reserved_at, available_at, created_at, payload)"
            " values (%s, 0, null, %s, %s, %s)",
            (queue, now, now, php_json_encode(payload)),
        )


# -- migrate --notify -----------------------------------------------------------------------------


def test_migrate_notify_installs_the_trigger_once_however_often_it_runs(
    notify_env: dict[str, str], tmp_path: Path
) -> None:
    again = migrate(notify_env, tmp_path, "--notify")
    assert again.exit_code == 0, again.output
    assert "Nothing to migrate" in again.output
    assert "Installed the notify trigger on [jobs]" in again.output
    assert triggers(notify_env) == [(notify.TRIGGER_NAME, "jobs_notify_workers")]


def test_migrate_notify_drop_removes_trigger_and_function(notify_env: dict[str, str], tmp_path: Path) -> None:
    result = migrate(notify_env, tmp_path, "--notify", "--drop")
    assert result.exit_code == 0, result.output
    assert triggers(notify_env) == []
    with admin(notify_env) as conn:
        assert conn.execute("select count(*) from pg_proc where proname = 'jobs_notify_workers'").fetchone() == (0,)
    connections = Connections(load_settings(environ=notify_env))
    try:
        assert push_wait_for(connections.queue()) is None  # back to Laravel's sleep
    finally:
        connections.close()
    assert migrate(notify_env, tmp_path, "--notify", "--drop").exit_code == 0  # dropping twice is fine


def test_migrate_notify_sql_prints_what_it_would_run_and_runs_nothing(
    pgsql_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pgsql_env, "DB_QUEUE_TABLE": "queue_jobs"}
    result = migrate(env, tmp_path, "--notify", "--sql")
    assert result.exit_code == 0, result.output
    assert "perform pg_notify('laravel_queue:queue_jobs', new.\"queue\");" in result.output
    assert 'after insert on "queue_jobs" for each row execute function "queue_jobs_notify_workers"()' in (
        result.output
    )
    assert "Created table" not in result.output
    with admin(pgsql_env) as conn:  # nothing was created
        assert conn.execute("select to_regclass('queue_jobs')").fetchone() == (None,)
    dropping = migrate(env, tmp_path, "--notify", "--sql", "--drop")
    assert 'drop trigger if exists "laravel_queue_notify_workers" on "queue_jobs";' in dropping.output


def test_names_follow_the_connection_prefix_and_schema() -> None:
    db = connect(DatabaseConnectionConfig(name="pgsql", driver="pgsql", database="app", prefix="app_"))
    assert notify.channel_for(db, "jobs") == "laravel_queue:app_jobs"
    assert notify.channel_for(db, "queues.jobs") == "laravel_queue:queues.app_jobs"
    installed = "\n".join(notify.install_statements(db, "queues.jobs"))
    assert 'create or replace function "queues"."app_jobs_notify_workers"()' in installed
    assert 'after insert on "queues"."app_jobs"' in installed
    long_table = "t" * 60
    channel = notify.channel_for(db, long_table)  # pg_notify() refuses channels over 63 bytes
    assert len(channel) <= 63 and channel == notify.channel_for(db, long_table)


def test_the_printed_sql_installs_the_trigger_the_worker_looks_for(pgsql_env: dict[str, str], tmp_path: Path) -> None:
    """What a PHP team pastes into a Laravel migration is what `--notify` installs."""
    assert migrate(pgsql_env, tmp_path).exit_code == 0
    printed = migrate(pgsql_env, tmp_path, "--notify", "--sql").output
    with admin(pgsql_env) as conn:
        conn.execute(printed.split("\n", 1)[1])  # after the `-- connection` comment line
    connections = Connections(load_settings(environ=pgsql_env))
    try:
        assert push_wait_for(connections.queue()) is not None
    finally:
        connections.close()


@pytest.mark.parametrize("engine", ["sqlite_env", "mysql_env"])
def test_notify_on_another_engine_is_one_line_and_a_failure(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = request.getfixturevalue(engine)
    result = migrate(env, tmp_path, "--notify")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "--notify needs PostgreSQL" in lines[0]
    assert "Created table" not in result.output


def test_drop_and_sql_need_notify(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    result = migrate(sqlite_env, tmp_path, "--drop")
    assert result.exit_code == 2
    assert "only go with --notify" in result.output


# -- the worker ---------------------------------------------------------------------------------


@pytest.fixture
def idle_worker(
    notify_env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> tuple[WorkerProcess, Path]:
    """A `--sleep 30` worker that has run one job and is back in its idle wait."""
    log = tmp_path / "jobs.log"
    return start_idle_worker(notify_env, conns, spawn_worker, log), log


def test_a_push_and_a_raw_insert_wake_an_idle_worker_long_before_its_sleep(
    idle_worker: tuple[WorkerProcess, Path], conns: Connections, notify_env: dict[str, str]
) -> None:
    worker, log = idle_worker
    for n in (2, 3):
        pushed = time.monotonic()
        if n == 2:
            push(conns, "Tests\\Rel\\Record", {"log": str(log), "n": n})
        else:
            raw_insert(notify_env, log, n)  # PHP's insert: the trigger, not our driver, sends the notification
        wait_for(lambda n=n: len(log_lines(log)) == n, timeout=5, what=f"job {n} before the 30 s sleep ends")
        assert time.monotonic() - pushed < 5
        time.sleep(0.3)
    assert worker.alive()


def test_a_stop_signal_ends_the_listen_wait_promptly(
    idle_worker: tuple[WorkerProcess, Path], notify_env: dict[str, str], conns: Connections
) -> None:
    worker, _ = idle_worker
    conns.close()  # the test's own session: only the worker's remain
    signalled = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(15) == 0
    assert time.monotonic() - signalled < 5  # the sleep was 30 s
    wait_for(lambda: sessions(notify_env) == 0, timeout=10, what="the worker's sessions, LISTEN's included, to end")


def test_without_the_trigger_the_worker_sleeps_as_laravels(
    pgsql_env: dict[str, str], sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    assert migrate(pgsql_env, tmp_path).exit_code == 0
    for env in (pgsql_env, sqlite_env):
        connections = Connections(load_settings(environ=env))
        try:
            queue = connections.queue()
            assert push_wait_for(queue) is None
            assert push_wait_for(queue) is None  # asked once: the answer is kept
        finally:
            connections.close()


# -- the wait itself, in process --------------------------------------------------------------------


def test_the_wait_wakes_for_its_queues_only_and_leaves_no_listener(
    conns: Connections, notify_env: dict[str, str], tmp_path: Path
) -> None:
    queue = conns.queue()
    wait = push_wait_for(queue)
    assert wait is not None
    assert push_wait_for(queue) is wait  # one wait (one LISTEN session) per driver
    log = tmp_path / "log"

    def insert_later(name: str) -> threading.Thread:
        thread = threading.Thread(target=lambda: (time.sleep(0.3), raw_insert(notify_env, log, 1, name)))
        thread.start()
        return thread

    thread = insert_later("other")
    started = time.monotonic()
    assert wait(["default"], 1.5, lambda: False) is False  # another queue's push does not end it
    assert time.monotonic() - started >= 1.4
    thread.join()
    thread = insert_later("default")
    started = time.monotonic()
    assert wait(["low", "default"], 20, lambda: False) is True
    assert time.monotonic() - started < 10
    thread.join()
    assert isinstance(wait, notify.PostgresNotifyWait)
    session = wait.listener._conn  # between waits the session listens to nothing
    assert session.execute("select count(*) as n from pg_listening_channels()").fetchone() == {"n": 0}
    before = sessions(notify_env)
    queue.close()
    wait_for(lambda: sessions(notify_env) == before - 1, timeout=10, what="the LISTEN session to close")


def test_a_job_pushed_before_the_listen_ends_the_wait_once(conns: Connections, tmp_path: Path) -> None:
    """Pushed between the worker's empty pop and its LISTEN (no notification reaches it): the wait
    returns at once so the worker pops again; a row the pop still cannot take does not spin it."""
    queue = conns.queue()
    wait = push_wait_for(queue)
    assert wait is not None
    push(conns, "Tests\\Rel\\Record", {"log": str(tmp_path / "log"), "n": 1})
    started = time.monotonic()
    assert wait(["default"], 20, lambda: False) is True
    assert time.monotonic() - started < 10
    started = time.monotonic()
    assert wait(["default"], 0.5, lambda: False) is False  # the same row again: wait the whole time
    assert time.monotonic() - started >= 0.45


def test_a_stop_ends_the_wait_within_a_slice(conns: Connections) -> None:
    wait = push_wait_for(conns.queue())
    assert wait is not None
    stop_at = time.monotonic() + 0.3
    assert wait(["default"], 30, lambda: time.monotonic() >= stop_at) is False
    assert time.monotonic() - stop_at < SLICE_SECONDS + 2  # generous: the machine is shared
    started = time.monotonic()
    assert wait(["default"], 30, lambda: True) is False
    assert time.monotonic() - started < 5


def test_a_lost_listen_session_falls_back_to_sleeping(conns: Connections, notify_env: dict[str, str]) -> None:
    queue = conns.queue()
    wait = push_wait_for(queue)
    assert isinstance(wait, notify.PostgresNotifyWait)
    assert wait(["default"], 0.1, lambda: False) is False  # the session is open now
    with admin(notify_env) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )
    started = time.monotonic()
    assert wait(["default"], 0.5, lambda: False) is False  # slept instead, no error
    assert time.monotonic() - started >= 0.45
    assert wait(["default"], 0.1, lambda: False) is False  # and LISTENs again on a new session
