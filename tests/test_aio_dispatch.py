"""`laravel_queue.aio.dispatch`: the sync dispatch's arguments and results, awaited off the loop."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from laravel_queue import aio
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import Command, dispatch
from laravel_queue.registry import Registry
from laravel_queue.schema import migrate


@pytest.fixture(params=["redis", "sqlite"])
def connections(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> Any:
    if request.param == "redis":
        request.getfixturevalue("redis_client")
        env = {**sqlite_env, **request.getfixturevalue("redis_env")}
    else:
        env = {**sqlite_env, "CACHE_STORE": "database"}
    conns = Connections(load_settings(environ=env))
    migrate(conns.db())
    yield conns
    conns.close()


def _stored(conns: Connections, queue: str) -> list[dict[str, Any]]:
    driver = conns.queue()
    payloads = []
    while (job := driver.pop(queue)) is not None:
        payloads.append(json.loads(job.raw_body))
        job.delete()
    return payloads


def test_same_envelope_and_result_as_the_sync_dispatch(connections: Connections) -> None:
    command = Command("App\\Jobs\\ProcessPodcast", {"podcast": 7})
    sync_id = dispatch(command, queue="podcasts", delay=0, connections=connections)
    loop_thread: list[int] = []

    async def main() -> Any:
        loop_thread.append(threading.get_ident())
        return await aio.dispatch(command, queue="podcasts", delay=0, connections=connections)

    async_id = asyncio.run(main())
    assert type(async_id) is type(sync_id) and async_id != sync_id
    sync_payload, async_payload = _stored(connections, "podcasts")
    for payload in (sync_payload, async_payload):
        payload.pop("uuid"), payload.pop("id", None), payload.pop("createdAt", None)
    assert async_payload == sync_payload  # key for key, in order
    assert list(async_payload) == list(sync_payload)


def test_unique_job_held_elsewhere_returns_none(connections: Connections) -> None:
    registry = Registry()
    registry.register("App\\Jobs\\Unique", None, unique=True, unique_id="x")

    async def twice() -> list[Any]:
        command = Command("App\\Jobs\\Unique", {})
        first = await aio.dispatch(command, connections=connections, registry=registry)
        second = await aio.dispatch(command, connections=connections, registry=registry)
        return [first, second]

    first, second = asyncio.run(twice())
    assert first is not None and second is None
