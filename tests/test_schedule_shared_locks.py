"""Scheduler mutexes on the REAL shared stores: same keys, TTLs and exclusion as PHP's scheduler."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from conftest import FIXTURES, ROOT, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.schedule import Schedule, ScheduleContext, ScheduleRunner
from laravel_queue.schedule.output import Console

UTC = timezone.utc
SCHEDULER = FIXTURES / "laravel" / "scheduler"


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def redis_connections(redis_env, redis_client):
    connections = Connections(load_settings(environ=redis_env))
    yield connections
    connections.close()


def run_once(schedule: Schedule, connections: Connections, clock: FakeClock) -> str:
    out = io.StringIO()
    context = ScheduleContext(connections.settings, connections, clock=clock, sleep=clock.sleep)
    ScheduleRunner(schedule, context, Console(out, 80)).run()
    return out.getvalue()


def physical(redis_env: dict[str, str], fixture_key: str) -> str:
    """A key from the fixtures with this test's prefixes instead of Laravel's defaults."""
    return fixture_key.replace("laravel-database-", redis_env["REDIS_PREFIX"], 1).replace(
        "laravel-cache-", redis_env["CACHE_PREFIX"], 1
    )


def test_redis_keys_and_ttls_are_laravels(redis_env, redis_client, redis_connections):
    clock = FakeClock(datetime(2026, 11, 23, 6, 58, 0, 300000, tzinfo=UTC))
    seen: dict[str, object] = {}
    overlap_key = physical(
        redis_env, "laravel-database-laravel-cache-framework/schedule-f6b41335ac604d1b970178053d28dbd9a468d597"
    )

    def inside() -> None:
        seen["owner"] = redis_client.get(overlap_key)
        seen["ttl"] = redis_client.ttl(overlap_key)

    schedule = Schedule(php_binary="php")
    schedule.call(inside).name("harness-overlap-callback").every_minute().without_overlapping(10).on_one_server()
    run_once(schedule, redis_connections, clock)

    assert re.fullmatch(rb"[A-Za-z0-9]{16}", seen["owner"])  # a lock owner, on db 0 (lock connection)
    assert 590 <= int(seen["ttl"]) <= 600  # withoutOverlapping(10) -> EX 600
    assert redis_client.exists(overlap_key) == 0  # force-released after the run (plain DEL)
    (fixture_line,) = [
        line for line in (SCHEDULER / "03c-redis-keys-after-run.txt").read_text().splitlines() if "schedule-" in line
    ]
    scheduling_key = physical(redis_env, fixture_line.split()[1])
    assert redis_client.exists(scheduling_key) == 1  # byte-equal to what PHP left, never deleted
    assert 3590 <= redis_client.ttl(scheduling_key) <= 3600


def test_a_lock_held_by_php_stops_the_python_event(redis_env, redis_client, redis_connections):
    clock = FakeClock(datetime(2026, 11, 23, 6, 59, 0, 100000, tzinfo=UTC))
    ran: list[str] = []
    schedule = Schedule(php_binary="/usr/bin/php8.2")
    event = schedule.command("harness:tick").every_minute().without_overlapping()
    event.before(lambda: ran.append("command"))
    named = schedule.call(lambda: ran.append("named")).name("harness-overlap-callback").on_one_server()
    prefix = redis_env["REDIS_PREFIX"] + redis_env["CACHE_PREFIX"]
    # What PHP's scheduler sends (fixtures 02/04): SET <key> <owner> EX <ttl> NX on db 0.
    redis_client.set(prefix + event.mutex_name(), "hm0svxz3IxuZam6D", ex=86400, nx=True)
    redis_client.set(prefix + named.mutex_name() + "0659", "WuzK8FGJmLwn2ZBt", ex=3600, nx=True)
    output = run_once(schedule, redis_connections, clock)
    assert ran == []
    assert "Skipping [harness-overlap-callback] because the command already ran on another server." in output
    assert redis_client.get(prefix + event.mutex_name()) == b"hm0svxz3IxuZam6D"  # PHP's lock left alone


def test_job_event_dispatches_once_across_servers(redis_env, redis_client, redis_connections):
    clock = FakeClock(datetime(2026, 11, 23, 7, 0, 0, 100000, tzinfo=UTC))
    for _ in range(2):  # two schedulers, same minute
        schedule = Schedule(php_binary="php")
        schedule.job("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "scheduled"}).every_minute().on_one_server()
        run_once(schedule, redis_connections, clock)
    queued = redis_client.lrange(redis_env["REDIS_PREFIX"] + "queues:default", 0, -1)
    assert len(queued) == 1
    payload = json.loads(queued[0])
    assert payload["displayName"] == "App\\Jobs\\ControlledJob"
    assert '"mode";s:2:"ok"' in payload["data"]["command"]


RACE_MODULE = textwrap.dedent(
    """
    import os
    import redis
    from laravel_queue.schedule import Schedule

    client = redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ["REDIS_PORT"]))
    LOG = os.environ["RACE_LOG"]

    def once():
        client.rpush(LOG, "once:" + str(os.getpid()))

    def guarded():
        client.rpush(LOG, "guarded:" + str(os.getpid()))
        # hold the overlap mutex until the test has seen the other scheduler give up
        while not client.get(LOG + ":release"):
            client.blpop(LOG + ":wake", timeout=1)

    schedule = Schedule()
    schedule.call(once).name("race-once").every_minute().on_one_server()
    schedule.call(guarded).name("race-guarded").every_minute().without_overlapping()
    schedule.exec("true").name("race-shell").every_minute().on_one_server()
    """
)


def test_two_scheduler_processes_race_for_the_same_minute(redis_env, redis_client, tmp_path):
    (tmp_path / "race_schedule.py").write_text(RACE_MODULE)
    log_key = redis_env["REDIS_PREFIX"] + "race-log"
    env = {**os.environ, **redis_env, "RACE_LOG": log_key, "PYTHONPATH": f"{tmp_path}:{ROOT}", "COLUMNS": "80"}
    # Both runs must start in the same minute (the onOneServer key carries HHMM).
    wait_for(lambda: datetime.now(UTC).second < 45, timeout=20, what="a fresh minute")
    command = [sys.executable, "-m", "laravel_queue", "schedule:run", "--schedule", "race_schedule"]
    procs = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    try:
        wait_for(lambda: any(p.poll() is not None for p in procs), timeout=30, what="one scheduler to finish")
        entries = [e.decode() for e in redis_client.lrange(log_key, 0, -1)]
        assert sum(e.startswith("guarded:") for e in entries) == 1
    finally:
        redis_client.set(log_key + ":release", "1")
        redis_client.rpush(log_key + ":wake", "1", "1")
        outputs = [p.communicate(timeout=30)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    entries = [e.decode() for e in redis_client.lrange(log_key, 0, -1)]
    assert sum(e.startswith("once:") for e in entries) == 1, outputs
    assert sum(e.startswith("guarded:") for e in entries) == 1, outputs
    joined = "\n".join(outputs)
    assert joined.count("Skipping [race-once] because the command already ran on another server.") == 1
    assert joined.count("Skipping [race-shell] because the command already ran on another server.") == 1
    redis_client.delete(log_key + ":release", log_key + ":wake")


def test_schedule_list_checks_mutexes_on_redis(redis_env, redis_client, redis_connections):
    from laravel_queue.schedule.listing import ScheduleLister

    schedule = Schedule(php_binary="php")
    held = schedule.call(lambda: None).name("harness-overlap-callback").without_overlapping(10)
    free = schedule.command("harness:tick")
    context = ScheduleContext(redis_connections.settings, redis_connections)
    context.event_mutex.create(held)
    rows = ScheduleLister(schedule, context).as_json(UTC)
    assert [row["has_mutex"] for row in rows] == [True, False]
    assert redis_client.exists(redis_env["REDIS_PREFIX"] + redis_env["CACHE_PREFIX"] + free.mutex_name()) == 0
