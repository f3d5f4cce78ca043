"""WithoutOverlapping for Python handlers: Laravel's key, the shared cache lock (spec §12.2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.bus.middleware import overlap_key, without_overlapping
from laravel_queue.bus.unique import xxh128_hex
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import dispatch
from laravel_queue.php import PhpObject
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions

SYNC = "App\\Jobs\\SyncUser"


def test_overlap_key_formula() -> None:
    assert overlap_key(SYNC, "7") == "laravel-queue-overlap:App\\Jobs\\SyncUser:7"
    assert overlap_key(SYNC, "7", shared=True, prefix="p:") == "p:7"
    assert (
        overlap_key(SYNC, "7", display_name="Sync", version=(12, 40)) == "laravel-queue-overlap:App\\Jobs\\SyncUser:7"
    )
    assert overlap_key(SYNC, "7", display_name="Sync", version=(12, 41)) == "laravel-queue-overlap:Sync:7"
    assert overlap_key(SYNC, "7", display_name="Sync") == f"laravel-queue-overlap:{xxh128_hex('Sync')}:7"


@pytest.fixture
def connections(redis_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    conns = Connections(load_settings(environ={**redis_env, "QUEUE_FAILED_DRIVER": "null"}))
    yield conns
    conns.close()


def run_one(connections: Connections, registry: Registry) -> None:
    lifecycle = BusLifecycle(connections, registry=registry)
    Worker(
        connections, registry=registry, options=WorkerOptions(memory=4096, sleep=0), lifecycle=lifecycle
    ).run_next_job("redis", ["default"])


def test_busy_lock_releases_the_job_and_free_lock_runs_it(
    connections: Connections, redis_client: Any, redis_env: dict[str, str], redis_prefix: str
) -> None:
    physical = redis_env["REDIS_PREFIX"] + redis_env["CACHE_PREFIX"] + "laravel-queue-overlap:App\\Jobs\\SyncUser:7"
    seen: list[bool] = []
    registry = Registry()

    @without_overlapping(lambda command: command.userId, release_after=30)
    def handle(job: Any, command: Any) -> None:
        seen.append(bool(redis_client.exists(physical)))

    registry.register(SYNC, handle)
    redis_client.set(physical, "phpOwner12345678")  # a PHP worker holds it
    dispatch(PhpObject(SYNC, {"userId": 7}), connections=connections, registry=registry)
    run_one(connections, registry)
    assert seen == []
    assert redis_client.zcard(f"{redis_prefix}queues:default:delayed") == 1
    assert redis_client.get(physical) == b"phpOwner12345678"

    redis_client.delete(physical)
    dispatch(PhpObject(SYNC, {"userId": 7}), connections=connections, registry=registry)
    run_one(connections, registry)
    assert seen == [True]  # held while the handler ran
    assert not redis_client.exists(physical)  # released afterwards
