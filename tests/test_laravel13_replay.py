"""Laravel 13.26.1's own rows and keys (fixtures/laravel13) replayed through our worker.

Each case loads what PHP stored after dispatching, runs our worker until the queue is
empty, and compares the result with what Laravel 13's worker left (the `*-after-run`
captures) and with the jobs it handled (trace.log): the older debounced job deleted unrun,
the newer one run, its token left in the cache; the unique lock released by its owner.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.laravel13 import (
    TAGS,
    RedisReplay,
    database_capture_time,
    database_state,
    expected_database_state,
    expected_redis_state,
    fixture,
    load_database_state,
    redis13_connections,
    traced_tags,
)

from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.registry import Registry
from laravel_queue.schema import migrate
from laravel_queue.worker import Worker, WorkerOptions

CASES = ["plain", "attributed", "property", "unique", "debounced", "chain-1"]
AFTER_RUN = ("unique", "debounced", "chain-1")  # the cases captured after Laravel 13's worker ran
# What Laravel 13's worker handled per case (trace.log): of the two debounced jobs only n=2.
HANDLED = {
    "plain": ["plain-1"],
    "attributed": ["attributed-1"],
    "property": ["property-1"],
    "unique": ["unique:order-42"],
    "debounced": ["debounced:search-index:2"],
    "chain-1": ["chain-a-1", "chain-b-1", "chain-c-1"],  # the worker pushes each next link
}


def recording_registry(handled: list[str]) -> Registry:
    """Handlers that record the tag; DebouncedPingJob's `debounceId()` (returns `$this->key`) declared."""
    registry = Registry()
    for php_class, tag in TAGS.items():
        knobs = {"debounce_id": lambda command: command["key"]} if "Debounced" in php_class else {}
        registry.register(php_class, lambda job, command, tag=tag: handled.append(tag(command)), **knobs)
    return registry


def work_until_empty(conns: Connections, registry: Registry, connection: str) -> int:
    options = WorkerOptions(memory=4096, sleep=0, stop_when_empty=True)
    worker = Worker(conns, registry=registry, options=options, lifecycle=BusLifecycle(conns, registry=registry))
    return worker.daemon(connection, ["default"])


# -- database (the capture used SQLite and CACHE_STORE=database) ----------------------------------


@pytest.fixture
def database13(db_env: dict[str, str]) -> Iterator[Connections]:
    env = {**db_env, "LARAVEL_VERSION": "13.26", "CACHE_STORE": "database", "CACHE_PREFIX": "laravel-cache-"}
    conns = Connections(load_settings(environ=env))
    migrate(conns.db())
    yield conns
    conns.close()


@pytest.mark.parametrize("case", CASES)
def test_database_capture_ends_as_laravel_13_left_it(database13: Connections, case: str) -> None:
    before = fixture("database", case)
    db = database13.db()
    load_database_state(db, before, int(time.time()) - database_capture_time(before))
    handled: list[str] = []
    assert work_until_empty(database13, recording_registry(handled), "database") == 0
    assert handled == HANDLED[case]
    assert set(HANDLED[case]) <= set(traced_tags("database"))
    after = fixture("database", f"{case.split('-')[0]}-after-run") if case in AFTER_RUN else _empty_db()
    assert database_state(db) == expected_database_state(after)


def _empty_db() -> dict[str, Any]:
    return {"jobs": [], "cache": [], "cache_locks": [], "failed_jobs": []}


def test_debounced_older_job_is_deleted_unrun_and_counted_as_processed(database13: Connections) -> None:
    before = fixture("database", "debounced")
    db = database13.db()
    load_database_state(db, before, int(time.time()) - database_capture_time(before))
    handled: list[str] = []
    lines: list[str] = []
    options = WorkerOptions(memory=4096, sleep=0, stop_when_empty=True)
    registry = recording_registry(handled)
    lifecycle = BusLifecycle(database13, registry=registry)
    worker = Worker(database13, registry=registry, options=options, lifecycle=lifecycle)
    worker.output._write = lambda line, flush=True: lines.append(line)  # type: ignore[method-assign]
    assert worker.daemon("database", ["default"]) == 0
    assert handled == ["debounced:search-index:2"]
    assert any("debounced: superseded by a newer dispatch" in line for line in lines)
    assert sum("DONE" in line for line in lines) == 2  # both processed, none failed
    assert database_state(db)["failed_jobs"] == 0


def test_debounced_job_runs_when_its_token_is_gone(database13: Connections) -> None:
    """Fail-open: an evicted or expired token lets every debounced job run."""
    before = dict(fixture("database", "debounced"), cache=[])
    load_database_state(database13.db(), before, int(time.time()) - database_capture_time(before))
    handled: list[str] = []
    work_until_empty(database13, recording_registry(handled), "database")
    assert handled == ["debounced:search-index:1", "debounced:search-index:2"]


def test_laravel_12_rules_run_both_debounced_jobs(db_env: dict[str, str]) -> None:
    """Under LARAVEL_VERSION=12 nothing of 13's debounce applies (12.x behaviour unchanged)."""
    env = {**db_env, "LARAVEL_VERSION": "12", "CACHE_STORE": "database", "CACHE_PREFIX": "laravel-cache-"}
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
        before = fixture("database", "debounced")
        load_database_state(conns.db(), before, int(time.time()) - database_capture_time(before))
        handled: list[str] = []
        work_until_empty(conns, recording_registry(handled), "database")
        assert handled == ["debounced:search-index:1", "debounced:search-index:2"]
    finally:
        conns.close()


def test_unique_lock_of_another_owner_is_kept(database13: Connections) -> None:
    """13.x releases by owner: a lock another dispatch took since stays."""
    before = fixture("database", "unique")
    before["cache_locks"] = [dict(before["cache_locks"][0], owner="SomeoneElse12345")]
    db = database13.db()
    load_database_state(db, before, int(time.time()) - database_capture_time(before))
    work_until_empty(database13, recording_registry([]), "database")
    assert database_state(db)["cache_locks"] == [(before["cache_locks"][0]["key"], "SomeoneElse12345")]


# -- Redis (the capture used CACHE_STORE=redis: tokens in db 1, locks in db 0) ------------------


@pytest.fixture
def redis13(redis_env: dict[str, str], redis_server: tuple[str, int]) -> Iterator[tuple[Connections, RedisReplay]]:
    with redis13_connections(redis_env, redis_server) as pair:
        yield pair


@pytest.mark.parametrize("case", CASES)
def test_redis_capture_ends_as_laravel_13_left_it(redis13: tuple[Connections, RedisReplay], case: str) -> None:
    conns, replay = redis13
    replay.load(fixture("redis", case))
    handled: list[str] = []
    assert work_until_empty(conns, recording_registry(handled), "redis") == 0
    assert handled == HANDLED[case]
    assert set(HANDLED[case]) <= set(traced_tags("redis"))
    after = fixture("redis", f"{case.split('-')[0]}-after-run") if case in AFTER_RUN else {}
    assert replay.dump() == expected_redis_state(after)


def test_attributed_and_property_jobs_are_retried_alike(redis13: tuple[Connections, RedisReplay]) -> None:
    """#[Tries]/#[Backoff]... resolved at dispatch: both payloads give the same retry (backoff 10s)."""
    conns, replay = redis13
    delays = []
    for case in ("attributed", "property"):
        replay.load(fixture("redis", case))
        registry = Registry()
        for php_class in TAGS:
            registry.register(php_class, _raise)
        Worker(conns, registry=registry, options=WorkerOptions(memory=4096, sleep=0)).run_next_job("redis", ["default"])
        delayed = replay.dump()["db0:laravel-database-queues:default:delayed"]
        member = delayed[1][0]
        queue = conns.queue("redis")
        (_raw, score), = queue.client.zrange(queue.keys("default").delayed, 0, -1, withscores=True)
        delays.append(score - time.time())
        assert member["attempts"] == 1 and member["maxTries"] == 5 and member["backoff"] == "10,30,60"
        queue.client.delete(queue.keys("default").delayed)
    assert all(8.5 <= delay <= 10.5 for delay in delays), delays  # Redis scores are whole seconds


def _raise(job: Any, command: Any) -> None:
    raise RuntimeError("retry me")
