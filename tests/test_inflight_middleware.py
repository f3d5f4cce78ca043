"""Jobs with middleware under `--in-flight`: they overlap like any other job, and their
middleware keep Laravel's cache semantics on Redis, SQLite and MariaDB.

The middleware run on the event loop with connections of their own where the driver's
I/O runs on another thread (`JobSource.connections_on_loop`); on MariaDB a connection
shared by two threads fails with 'Packet sequence number wrong', on SQLite it corrupts
its state. In-process `InFlightWorker` runs on real services.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.control import push
from support.inflight import run_in_flight

from laravel_queue.bus.middleware import SkipIfBatchCancelled
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.middleware import ThrottlesExceptions, WithoutOverlapping
from laravel_queue.registry import Registry

JOB = "Tests\\Middleware\\Job"


@pytest.fixture(params=["redis", "sqlite", "mariadb"])
def conns(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> Iterator[Connections]:
    """Queue and cache on Redis (batches and failed_jobs in SQLite), or all of it in SQLite or MariaDB."""
    from laravel_queue.schema import migrate

    if request.param == "redis":
        request.getfixturevalue("redis_client")  # deletes this test's keys afterwards
        env = {**sqlite_env, **request.getfixturevalue("redis_env")}
    else:
        env = request.getfixturevalue({"sqlite": "sqlite_env", "mariadb": "mysql_env"}[request.param])
    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    yield connections
    connections.close()


class Overlap:
    """How many handlers run at once, at most (sync handlers count from pool threads)."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.ran: list[int] = []
        self._lock = threading.Lock()

    def hold(self, n: int, seconds: float) -> None:
        """A sync handler's body (in a pool thread)."""
        self._enter()
        time.sleep(seconds)
        self._leave(n)

    async def ahold(self, n: int, seconds: float) -> None:
        """An async handler's body (on the loop)."""
        self._enter()
        await asyncio.sleep(seconds)
        self._leave(n)

    def _enter(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)

    def _leave(self, n: int) -> None:
        with self._lock:
            self.running -= 1
            self.ran.append(n)


def per_job_lock(data: Any) -> Any:
    return data["n"]


def middleware() -> tuple[Any, ...]:
    """A batch lookup, a per-job overlap lock and an exception window: each job reads and writes the cache."""
    return SkipIfBatchCancelled(), WithoutOverlapping(per_job_lock).expire_after(30), ThrottlesExceptions(3, 60)


def assert_locks_released(conns: Connections, jobs: int) -> None:
    for n in range(jobs):
        key = WithoutOverlapping(per_job_lock).lock_key(_Job(), {"n": n})
        lock = conns.cache().lock(key, 10)
        assert lock.acquire(), f"overlap lock {key} still held"
        lock.release()


class _Job:
    command_name = display_name = JOB


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_jobs_with_middleware_overlap_and_release_their_locks(conns: Connections, kind: str) -> None:
    overlap = Overlap()
    registry = Registry()

    async def async_handler(job: Any, data: Any) -> None:
        await overlap.ahold(data["n"], 0.3)

    def sync_handler(job: Any, data: Any) -> None:  # in the thread pool, its middleware on the loop
        overlap.hold(data["n"], 0.3)

    registry.register(JOB, async_handler if kind == "async" else sync_handler, middleware=middleware())
    for n in range(12):
        push(conns, JOB, {"n": n})
    assert run_in_flight(conns, registry, None, in_flight=6) == 0
    assert sorted(overlap.ran) == list(range(12))  # each once
    assert overlap.most > 1  # jobs with middleware overlap (before: one at a time on the I/O thread)
    assert conns.queue().size("default") == 0
    assert conns.failed().all() == []
    assert_locks_released(conns, 12)


def test_a_shared_overlap_lock_still_admits_one_job_at_a_time(conns: Connections) -> None:
    overlap = Overlap()
    registry = Registry()

    async def exclusive(job: Any, data: Any) -> None:
        await overlap.ahold(data["n"], 0.05)

    registry.register(JOB, exclusive, middleware=(WithoutOverlapping("import").release_after(0).expire_after(30),))
    for n in range(6):
        push(conns, JOB, {"n": n})
    assert run_in_flight(conns, registry, None, in_flight=6, max_tries=0) == 0
    assert sorted(overlap.ran) == list(range(6))
    assert overlap.most == 1  # the others were released while one held the lock
    assert conns.queue().size("default") == 0
