"""Helpers shared by the restart/pause-in-the-pop tests (tests/test_*_control.py)."""

from __future__ import annotations

import io
from typing import Any

from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.output import WorkerOutput


def push(conns: Connections, job: str, data: Any = None, *, queue: str = "default", **fields: Any) -> dict[str, Any]:
    """A string job `<job>@handle` on the default connection, as Laravel's `pushRaw` stores it;
    `fields` are payload keys (maxTries, failOnTimeout, ...). Returns the payload."""
    q = conns.queue()
    payload = q.prepare_payload({**string_job_payload(f"{job}@handle", data), **fields})
    q.push_raw(php_json_encode(payload), queue)
    return payload


def make_worker(conns: Connections, registry: Registry, **options: Any) -> Worker:
    """An in-process worker with no sleep between jobs and its console lines kept in memory."""
    return Worker(
        conns,
        registry=registry,
        options=WorkerOptions(**{"memory": 4096, "sleep": 0, **options}),
        output=WorkerOutput(io.StringIO()),
    )
