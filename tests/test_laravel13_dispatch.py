"""Python dispatching Laravel 13 debounced and unique jobs: the payload fields and cache
rows Laravel 13.26.1 itself wrote (fixtures/laravel13), owner tokens aside."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.laravel13 import RedisReplay, database_state, expected_redis_state, fixture, redis13_connections

from laravel_queue.bus.debounce import DebounceConfigError, acquire, debounce_key, token_ttl
from laravel_queue.cache.array import ArrayStore
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import Command, dispatch
from laravel_queue.registry import Registry
from laravel_queue.schema import migrate
from laravel_queue.worker import Worker, WorkerOptions

DEBOUNCED = "App\\Jobs\\DebouncedPingJob"
UNIQUE = "App\\Jobs\\UniquePingJob"
VOLATILE = ("uuid", "createdAt", "id")


def producer_registry(handled: list[str] | None = None) -> Registry:
    """The PHP classes' declarations: #[DebounceFor(3)], debounceId(); ShouldBeUnique, #[UniqueFor(120)], uniqueId()."""
    registry = Registry()

    def record(job: Any, command: Any) -> None:
        assert handled is not None
        handled.append(f"{command['key']}:{command.get('n')}")

    target = record if handled is not None else None
    registry.register(DEBOUNCED, target, debounce_for=3, debounce_id=lambda command: command["key"])
    registry.register(UNIQUE, target, unique=True, unique_for=120, unique_id=lambda command: command["key"])
    return registry


def comparable(payload: dict[str, Any], owners: dict[str, str]) -> dict[str, Any]:
    """The payload with per-dispatch values blanked and owner tokens renamed."""
    text = json.dumps({k: v for k, v in payload.items() if k not in VOLATILE})
    for owner, name in owners.items():
        text = text.replace(owner, name)
    return json.loads(text)


def owners_in(payload: dict[str, Any]) -> list[str]:
    return re.findall(r's:1[35]:"(?:debounceOwner|uniqueLockOwner)";s:\d+:"([A-Za-z0-9]+)"', payload["data"]["command"])


# -- database ---------------------------------------------------------------------------------------


@pytest.fixture
def sqlite13(sqlite_env: dict[str, str]) -> Iterator[Connections]:
    env = {**sqlite_env, "LARAVEL_VERSION": "13", "CACHE_PREFIX": "laravel-cache-"}
    conns = Connections(load_settings(environ=env))
    migrate(conns.db())
    yield conns
    conns.close()


def test_debounced_dispatch_writes_what_laravel_13_writes(sqlite13: Connections) -> None:
    captured = fixture("database", "debounced")
    registry = producer_registry()
    started = int(time.time())
    for n in (1, 2):
        dispatch(Command(DEBOUNCED, {"key": "search-index", "n": n}), connection="database",
                 connections=sqlite13, registry=registry)
    db = sqlite13.db()
    rows = db.fetch_all(f"select * from {db.table('jobs')} order by id")
    ours = [json.loads(r["payload"]) for r in rows]
    theirs = [r["payload_decoded"] for r in captured["jobs"]]
    for mine, php in zip(ours, theirs, strict=True):
        (owner,), (php_owner,) = owners_in(mine), owners_in(php)
        assert len(owner) == 40
        assert comparable(mine, {owner: "OWNER"}) == comparable(php, {php_owner: "OWNER"})
        assert list(mine) == list(php)  # same keys in the same order
    assert all(r["available_at"] - r["created_at"] == 3 for r in rows)
    (cache_row,) = db.fetch_all(f"select * from {db.table('cache')}")
    (php_row,) = captured["cache"]
    assert cache_row["key"] == php_row["key"]
    assert cache_row["value"] == f's:40:"{owners_in(ours[1])[0]}";'  # the newest owner wins
    assert started + token_ttl(3) <= cache_row["expiration"] <= int(time.time()) + 300


def test_unique_dispatch_writes_what_laravel_13_writes(sqlite13: Connections) -> None:
    captured = fixture("database", "unique")
    registry = producer_registry()
    job_id = dispatch(Command(UNIQUE, {"key": "order-42"}), connection="database", connections=sqlite13,
                      registry=registry)
    assert job_id is not None
    assert dispatch(Command(UNIQUE, {"key": "order-42"}), connection="database", connections=sqlite13,
                    registry=registry) is None  # UniqueJobSkipped
    db = sqlite13.db()
    (row,) = db.fetch_all(f"select * from {db.table('jobs')}")
    mine, php = json.loads(row["payload"]), captured["jobs"][0]["payload_decoded"]
    (owner,), (php_owner,) = owners_in(mine), owners_in(php)
    assert len(owner) == 16
    assert comparable(mine, {owner: "OWNER"}) == comparable(php, {php_owner: "OWNER"})
    (lock,) = db.fetch_all(f"select * from {db.table('cache_locks')}")
    assert (lock["key"], lock["owner"]) == (captured["cache_locks"][0]["key"], owner)
    assert lock["expiration"] - row["created_at"] in (120, 121)


def test_python_dispatched_jobs_end_as_laravel_13_left_its_own(sqlite13: Connections) -> None:
    handled: list[str] = []
    registry = producer_registry(handled)
    for n in (1, 2):
        dispatch(Command(DEBOUNCED, {"key": "search-index", "n": n}), connection="database", delay=0,
                 connections=sqlite13, registry=registry)
    dispatch(Command(UNIQUE, {"key": "order-42"}), connection="database", connections=sqlite13, registry=registry)
    options = WorkerOptions(memory=4096, sleep=0, stop_when_empty=True)
    from laravel_queue.bus.lifecycle import BusLifecycle

    worker = Worker(sqlite13, registry=registry, options=options, lifecycle=BusLifecycle(sqlite13, registry=registry))
    assert worker.daemon("database", ["default"]) == 0
    assert handled == ["search-index:2", "order-42:None"]
    state = database_state(sqlite13.db())
    assert state["jobs"] == [] and state["cache_locks"] == [] and state["failed_jobs"] == 0
    assert [key for key, _ in state["cache"]] == [fixture("database", "debounced-after-run")["cache"][0]["key"]]


def test_debounced_and_unique_together_is_refused_before_any_lock(sqlite13: Connections) -> None:
    registry = Registry()
    registry.register(UNIQUE, None, unique=True, debounce_for=3)
    with pytest.raises(DebounceConfigError, match="cannot also implement ShouldBeUnique"):
        dispatch(Command(UNIQUE, {"key": "x"}), connection="database", connections=sqlite13, registry=registry)
    db = sqlite13.db()
    assert db.fetch_all(f"select * from {db.table('cache_locks')}") == []


def test_laravel_12_dispatch_has_no_debounce(sqlite_env: dict[str, str]) -> None:
    conns = Connections(load_settings(environ={**sqlite_env, "LARAVEL_VERSION": "12"}))
    try:
        migrate(conns.db())
        dispatch(Command(DEBOUNCED, {"key": "k", "n": 1}), connection="database", connections=conns,
                 registry=producer_registry())
        db = conns.db()
        payload = json.loads(db.fetch_one(f"select payload from {db.table('jobs')}")["payload"])
        assert "debounceOwner" not in payload["data"]["command"] and "deleteWhenMissingModels" not in payload
        assert db.fetch_all(f"select * from {db.table('cache')}") == []
    finally:
        conns.close()


# -- max wait -----------------------------------------------------------------------------------------


def test_max_wait_sends_without_delay_once_exceeded() -> None:
    store = ArrayStore()
    key = debounce_key(DEBOUNCED, "k")
    now = [1000.0]
    first = acquire(store, key, 3, max_wait=10, clock=lambda: now[0])
    now[0] = 1005
    second = acquire(store, key, 3, max_wait=10, clock=lambda: now[0])
    now[0] = 1010
    third = acquire(store, key, 3, max_wait=10, clock=lambda: now[0])
    now[0] = 1011
    fourth = acquire(store, key, 3, max_wait=10, clock=lambda: now[0])  # a new burst
    assert [t.delay for t in (first, second, third, fourth)] == [3, 3, 0, 3]
    assert store.get(key) == fourth.owner
    assert store.get(key + ":first_dispatched_at") == 1011


def test_debounce_key_hashes_a_display_name() -> None:
    from laravel_queue.bus.unique import xxh128_hex

    assert debounce_key(DEBOUNCED, "x") == "laravel_debounced_job:App\\Jobs\\DebouncedPingJob:x"
    assert debounce_key(DEBOUNCED, 7, display_name="Index") == f"laravel_debounced_job:{xxh128_hex('Index')}:7"


# -- Redis --------------------------------------------------------------------------------------------


@pytest.fixture
def redis13(redis_env: dict[str, str], redis_server: tuple[str, int]) -> Iterator[tuple[Connections, RedisReplay]]:
    with redis13_connections(redis_env, redis_server) as pair:
        yield pair


@pytest.mark.parametrize("case", ["debounced", "unique"])
def test_redis_dispatch_writes_the_keys_laravel_13_writes(redis13: tuple[Connections, RedisReplay], case: str) -> None:
    conns, replay = redis13
    registry = producer_registry()
    commands = ([Command(DEBOUNCED, {"key": "search-index", "n": n}) for n in (1, 2)] if case == "debounced"
                else [Command(UNIQUE, {"key": "order-42"})] * 2)
    for command in commands:
        dispatch(command, connection="redis", connections=conns, registry=registry)
    ours, theirs = replay.dump(), expected_redis_state(fixture("redis", case))
    assert sorted(ours) == sorted(theirs)
    queue_key = next(name for name in theirs if name.endswith((":default", ":delayed")))
    mine, php = _normalized(ours[queue_key][1]), _normalized(theirs[queue_key][1])
    assert [text for text, _ in mine] == [text for text, _ in php]
    (value_key,) = (name for name, (kind, _) in theirs.items() if kind == "string")
    newest_owner = mine[-1][1]  # sorted by n: the second dispatch (debounce: last writer wins)
    stored = ours[value_key][1]
    assert stored == (f's:40:"{newest_owner}";' if case == "debounced" else newest_owner)


def _normalized(members: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each job as comparable text (owner blanked) with its owner, in a stable order."""
    out = []
    for member in members:
        (owner,) = owners_in(member)
        out.append((json.dumps(comparable(member, {owner: "OWNER"}), sort_keys=True), owner))
    return sorted(out)
