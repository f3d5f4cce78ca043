"""examples/fastapi_app.py: an async endpoint queues a Laravel job, `--in-flight` runs its async handler.

The endpoint is called through httpx's ASGI transport (no server); the job lands in
real Redis as Laravel's envelope, and the real `laravel-queue queue:work --in-flight`
CLI runs the example's `async def` handler on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import set_default_connections

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")


@pytest.fixture
def env(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> dict[str, str]:
    return {**sqlite_env, **redis_env}


@pytest.fixture
def connections(env: dict[str, str]) -> Iterator[Connections]:
    conns = Connections(load_settings(environ=env))
    set_default_connections(conns)
    yield conns
    set_default_connections(None)
    conns.close()


def test_endpoint_queues_the_job_and_the_in_flight_worker_runs_it(
    env: dict[str, str], connections: Connections, redis_client: Any, redis_prefix: str
) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from examples.fastapi_app import app

    async def call() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            replies = await asyncio.gather(*(client.post(f"/articles/{n}/summarize") for n in range(5)))
        return [(reply.status_code, reply.json()) for reply in replies]

    replies = asyncio.run(call())
    assert all(status == 202 and len(body["queued"]) == 32 for status, body in replies)
    stored = [json.loads(raw) for raw in redis_client.lrange(f"{redis_prefix}queues:ai", 0, -1)]
    assert sorted(payload["id"] for payload in stored) == sorted(body["queued"] for _, body in replies)
    first = stored[0]
    assert first["displayName"] == "App\\Jobs\\SummarizeArticle"
    assert (first["maxTries"], first["backoff"], first["timeout"]) == (3, "5,30", 120)  # the declared knobs

    done = subprocess.run(
        [sys.executable, "-m", "laravel_queue", "queue:work", "redis", "--queue=ai", "--in-flight", "10",
         "--stop-when-empty", "--sleep", "0", "--jobs", "examples.fastapi_app"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(line for line in done.stdout.splitlines() if line.startswith("summarized")) == [
        f"summarized article #{n} (attempt 1)" for n in range(5)
    ]
    assert connections.queue().size("ai") == 0
