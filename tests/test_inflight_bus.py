"""The in-flight worker keeps the bus rules: chains, batches, unique locks, --unknown, --max-jobs.

In-process `InFlightWorker` runs (same code as `queue:work --in-flight`) on real Redis
and SQLite/MariaDB with captured Laravel payloads; handlers are `async def`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import laravel_fixture
from support.inflight import run_in_flight
from test_bus_batches import (
    ALLOW_FAILURES,
    FIXTURE_ROW,
    ITEM,
    batch_row,
    env,  # noqa: F401 - fixture
    fixture_payloads,
    insert_batch,
)
from test_bus_batches import connections as batch_connections  # noqa: F401 - fixture
from test_bus_batches import push as push_raw_payloads

from laravel_queue.bus.batches import BatchCallbacks
from laravel_queue.bus.chains import ChainCallbacks
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.registry import Registry

STEP = "App\\Jobs\\ChainStepJob"
UNIQUE = "App\\Jobs\\UniqueJob"
UNIQUE_KEY = "laravel_unique_job:App\\Jobs\\UniqueJob:product-77"


@pytest.fixture
def redis_conns(redis_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    conns = Connections(load_settings(environ={**redis_env, "QUEUE_FAILED_DRIVER": "null"}))
    yield conns
    conns.close()


def test_chain_runs_every_step_and_dispatches_the_next(redis_conns: Connections, redis_client: Any) -> None:
    ran: list[int] = []
    registry = Registry()

    @registry.handles(STEP)
    async def step(job: Any, command: Any) -> None:
        await asyncio.sleep(0.01)
        ran.append(command.step)

    redis_conns.queue("redis").push_raw(laravel_fixture("redis/chain.json")["raw_payload"], "default")
    assert run_in_flight(redis_conns, registry, "redis") == 0
    assert ran == [1, 2, 3]
    assert redis_conns.queue("redis").size("default") == 0


def test_failed_chain_runs_the_async_python_catch_callback(redis_conns: Connections) -> None:
    registry = Registry()

    @registry.handles(STEP)
    async def fail(job: Any, command: Any) -> None:
        raise RuntimeError("step failed")

    caught: list[str] = []
    callbacks = ChainCallbacks()

    async def catch(exc: BaseException) -> None:
        await asyncio.sleep(0)
        caught.append(str(exc))

    callbacks.on_chain_catch(catch)
    redis_conns.queue("redis").push_raw(laravel_fixture("redis/chain_with_catch.json")["raw_payload"], "default")
    assert run_in_flight(redis_conns, registry, "redis", chain_callbacks=callbacks) == 0
    assert caught == ["step failed"]
    assert redis_conns.queue("redis").size("default") == 0


def test_unique_lock_is_released_after_the_async_handler(redis_conns: Connections, redis_env: dict[str, str],
                                                        redis_client: Any) -> None:
    key = redis_env["REDIS_PREFIX"] + redis_env["CACHE_PREFIX"] + UNIQUE_KEY
    redis_client.set(key, "kpqcCyWkDZ73xjHU", ex=3600, nx=True)
    held: list[bool] = []
    registry = Registry()

    @registry.handles(UNIQUE)
    async def handle(job: Any, command: Any) -> None:
        await asyncio.sleep(0)
        held.append(bool(redis_client.exists(key)))

    redis_conns.queue("redis").push_raw(laravel_fixture("redis/unique.json")["raw_payload"], "default")
    assert run_in_flight(redis_conns, registry, "redis") == 0
    assert held == [True] and not redis_client.exists(key)


def test_batch_with_allow_failures_ends_as_laravels(batch_connections: Connections) -> None:  # noqa: F811
    expected = laravel_fixture("failed_jobs/database-queue_sqlite.json")["batch_after_processing"]["job_batches"][0]
    insert_batch(batch_connections, total=2, options=ALLOW_FAILURES)
    uuids = push_raw_payloads(batch_connections, fixture_payloads()[:2])
    registry = Registry()

    @registry.handles(ITEM)
    async def item(job: Any, command: Any) -> None:
        await asyncio.sleep(0.01)
        if command.item == 2:
            raise RuntimeError("batch item 2 failed on purpose")

    caught: list[str] = []
    callbacks = BatchCallbacks()

    async def failure(batch: Any, exc: BaseException) -> None:
        caught.append(f"failure:{batch.failed_jobs}")

    callbacks.on_batch(FIXTURE_ROW["name"], failure=failure, finally_=lambda batch: caught.append("finally"))
    assert run_in_flight(batch_connections, registry, "database", batch_callbacks=callbacks) == 0
    row = batch_row(batch_connections)
    assert (row["pending_jobs"], row["failed_jobs"]) == (expected["pending_jobs"], expected["failed_jobs"]) == (1, 1)
    assert row["failed_job_ids"] == json.dumps([uuids[1]])
    assert caught == ["failure:1", "finally"]
    assert len(batch_connections.failed().all()) == 1


def _push(conns: Connections, job: str, data: Any, connection: str = "redis", **fields: Any) -> None:
    queue = conns.queue(connection)
    queue.push_raw(php_json_encode(queue.prepare_payload({**string_job_payload(f"{job}@handle", data), **fields})),
                   "default")


def test_unknown_release_gives_the_job_back_untouched(redis_conns: Connections, redis_client: Any,
                                                      redis_prefix: str) -> None:
    _push(redis_conns, "App\\Jobs\\OnlyPhp", {"x": 1})
    assert run_in_flight(redis_conns, Registry(), "redis", unknown="release", max_jobs=1, stop_when_empty=False) == 0
    [raw] = redis_client.lrange(f"{redis_prefix}queues:default", 0, -1)
    assert json.loads(raw)["attempts"] == 0  # attempt not consumed: a PHP worker gets it as new
    assert redis_client.zcard(f"{redis_prefix}queues:default:reserved") == 0


def test_max_jobs_stops_reserving_and_lets_in_flight_jobs_finish(redis_conns: Connections) -> None:
    ran: list[int] = []
    registry = Registry()

    @registry.handles("Tests\\Count")
    async def count(job: Any, data: Any) -> None:
        await asyncio.sleep(0.05)
        ran.append(data["n"])

    for n in range(10):
        _push(redis_conns, "Tests\\Count", {"n": n})
    assert run_in_flight(redis_conns, registry, "redis", in_flight=4, max_jobs=6, stop_when_empty=False) == 0
    assert sorted(ran) == list(range(6))  # queue order: the first six, each once
    queue = redis_conns.queue("redis")
    assert queue.size("default") == 4 and queue.reserved_size("default") == 0


def test_priority_order_is_kept_across_queues(redis_conns: Connections) -> None:
    ran: list[str] = []
    registry = Registry()

    @registry.handles("Tests\\Name")
    async def name(job: Any, data: Any) -> None:
        ran.append(data["q"])

    queue = redis_conns.queue("redis")
    for q in ("low", "high", "low", "high"):
        payload = queue.prepare_payload(string_job_payload("Tests\\Name@handle", {"q": q}))
        queue.push_raw(php_json_encode(payload), q)
    assert run_in_flight(redis_conns, registry, "redis", in_flight=3, queues=("high", "low")) == 0
    assert ran[:2] == ["high", "high"] and sorted(ran) == ["high", "high", "low", "low"]


def test_cancelled_batch_skips_the_async_handler(batch_connections: Connections) -> None:  # noqa: F811
    from laravel_queue.bus.middleware import SkipIfBatchCancelled

    insert_batch(batch_connections, total=3, options="a:0:{}", cancelled=True)
    push_raw_payloads(batch_connections, fixture_payloads())
    ran: list[int] = []
    registry = Registry()

    async def item(job: Any, command: Any) -> None:
        ran.append(command.item)

    registry.register(ITEM, item, middleware=(SkipIfBatchCancelled(),))
    assert run_in_flight(batch_connections, registry, "database") == 0
    assert ran == []
    row = batch_row(batch_connections)
    assert (row["pending_jobs"], row["failed_jobs"]) == (0, 0)  # skipped jobs count as done
    assert batch_connections.queue("database").size("default") == 0
