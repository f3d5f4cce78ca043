"""Shared set-up of the in-flight worker tests (tests/test_inflight_*.py)."""

from __future__ import annotations

from typing import Any

from laravel_queue.bus.batches import BatchCallbacks
from laravel_queue.bus.chains import ChainCallbacks
from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.connections import Connections
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.inflight import InFlightWorker


def run_in_flight(
    conns: Connections,
    registry: Registry,
    connection: str | None,
    *,
    in_flight: int = 8,
    queues: tuple[str, ...] = ("default",),
    batch_callbacks: BatchCallbacks | None = None,
    chain_callbacks: ChainCallbacks | None = None,
    **options: Any,
) -> int:
    """An in-process `queue:work --in-flight` (by default until the queues are empty); its exit status."""
    lifecycle = BusLifecycle(conns, registry=registry, batch_callbacks=batch_callbacks, chain_callbacks=chain_callbacks)
    settings = {"memory": 4096, "sleep": 0.05, "stop_when_empty": True, **options}
    worker = Worker(conns, registry=registry, options=WorkerOptions(**settings), lifecycle=lifecycle)
    return InFlightWorker(worker, in_flight).daemon(connection, list(queues))
