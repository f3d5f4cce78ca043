"""Scheduler mutexes in the database cache store (cache_locks rows), SQLite and MariaDB.

Runs once laravel_queue/cache/database.py (DatabaseStore) is in the tree.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import pytest
from conftest import ROOT, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.schedule import Schedule, ScheduleContext, ScheduleRunner
from laravel_queue.schedule.output import Console

UTC = timezone.utc


@pytest.fixture(params=["sqlite_env", "mysql_env"])
def db_env(request) -> dict[str, str]:
    env = dict(request.getfixturevalue(request.param))
    env["CACHE_PREFIX"] = "laravel-cache-"
    from laravel_queue.schema import migrate

    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    connections.close()
    return env


def lock_rows(connections: Connections) -> dict[str, tuple[str, int]]:
    db = connections.db()
    rows = db.fetch_all(f"select {db.quote_identifier('key')}, owner, expiration from cache_locks")
    return {row["key"]: (row["owner"], int(row["expiration"])) for row in rows}


def test_database_mutex_rows_use_laravels_keys_and_expirations(db_env):
    connections = Connections(load_settings(environ=db_env))
    clock_now = datetime(2026, 11, 23, 6, 58, 0, 300000, tzinfo=UTC)
    seen: dict[str, tuple[str, int]] = {}
    schedule = Schedule(php_binary="php")
    event = schedule.call(lambda: seen.update(lock_rows(connections))).name("harness-overlap-callback")
    event.without_overlapping(10).on_one_server()
    context = ScheduleContext(connections.settings, connections, clock=lambda: clock_now, sleep=lambda s: None)
    ScheduleRunner(schedule, context, Console(io.StringIO(), 80)).run()
    mutex = "laravel-cache-framework/schedule-f6b41335ac604d1b970178053d28dbd9a468d597"
    assert abs(seen[mutex][1] - (time.time() + 600)) < 30
    after = lock_rows(connections)
    assert mutex not in after  # released
    assert abs(after[mutex + "0658"][1] - (time.time() + 3600)) < 30  # scheduling mutex stays
    connections.close()


RACE_MODULE = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from laravel_queue.schedule import Schedule

    LOG = Path(os.environ["RACE_LOG"])

    def note(name):
        with LOG.open("a") as handle:
            handle.write(f"{name}:{os.getpid()}\\n")

    def guarded():
        note("guarded")
        while not Path(str(LOG) + ".release").exists():
            time.sleep(0.05)

    schedule = Schedule()
    schedule.call(lambda: note("once")).name("race-once").every_minute().on_one_server()
    schedule.call(guarded).name("race-guarded").every_minute().without_overlapping()
    """
)


def test_two_schedulers_on_a_database_store_run_each_task_once(db_env, tmp_path):
    (tmp_path / "db_race_schedule.py").write_text(RACE_MODULE)
    log = tmp_path / "race.log"
    env = {**os.environ, **db_env, "RACE_LOG": str(log), "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    wait_for(lambda: datetime.now(UTC).second < 45, timeout=20, what="a fresh minute")
    command = [sys.executable, "-m", "laravel_queue", "schedule:run", "--schedule", "db_race_schedule"]
    procs = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(2)]
    try:
        wait_for(lambda: any(p.poll() is not None for p in procs), timeout=30, what="one scheduler to finish")
    finally:
        (tmp_path / "race.log.release").write_text("go")
        outputs = [p.communicate(timeout=30)[0].decode() for p in procs]
    lines = log.read_text().splitlines()
    assert sum(line.startswith("once:") for line in lines) == 1, outputs
    assert sum(line.startswith("guarded:") for line in lines) == 1, outputs
    assert [p.returncode for p in procs] == [0, 0], outputs


def test_expired_database_lock_is_taken_over(db_env):
    connections = Connections(load_settings(environ=db_env))
    schedule = Schedule(php_binary="php")
    event = schedule.call(lambda: None).name("stale").without_overlapping(1)
    context = ScheduleContext(connections.settings, connections)
    store = context.schedule_store()
    # a lock left by a crashed PHP scheduler, already expired
    db = connections.db()
    db.execute(
        f"insert into cache_locks ({db.quote_identifier('key')}, owner, expiration) values (?, ?, ?)",
        ["laravel-cache-" + event.mutex_name(), "crashed-owner-01", int(time.time()) - 5],
    )
    assert not context.event_mutex.exists(event)
    assert context.event_mutex.create(event)
    assert store.lock(event.mutex_name()).get_current_owner() not in (None, "crashed-owner-01")
    context.event_mutex.forget(event)
    connections.close()
