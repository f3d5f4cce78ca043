"""Where the in-flight worker gets jobs: several reservations per round trip, each its own.

`RedisSource` pipelines the sync driver's own pop script (`redis_scripts.POP`) over
redis.asyncio: one round trip carries the finished jobs' deletes (ZREM, as Laravel's
deleteReserved) and up to `count` EVALSHAs, each reserving one job with its own
`retry_after` and counting its attempt, exactly as one sync pop does. The jobs it
returns are the sync driver's `RedisJob`s, so release, delete and give-back are the
driver's own code.

`ThreadedSource` serves every other driver (database, SQS, Redis Cluster): the sync
driver's `pop` and `flush_acks`, run on one dedicated thread that also runs all other
driver and bookkeeping I/O (`run`), so a database connection is never used by two
threads at once.

Code on the loop thread (a job's middleware) uses `connections_on_loop`: the worker's
own connections where the source's I/O runs inline on that thread (Redis), else a
second set built from the same settings and used only there (a database connection or
Redis client is never shared by two threads at once; one more connection per store,
opened on first use).

An idle worker waits for a push with the driver's own `PushWait` (drivers/wake.py)
through `wait_for_push`, never on the loop thread: that thread runs the jobs and the
signal handlers that end the wait.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from laravel_queue.connections import Connections
from laravel_queue.drivers import redis_scripts
from laravel_queue.drivers.base import Queue
from laravel_queue.drivers.redis import RedisQueue
from laravel_queue.drivers.redis_job import RedisJob
from laravel_queue.drivers.wake import PushWait
from laravel_queue.job import Job

T = TypeVar("T")

MAX_BATCH = 64
"""Most reservations one round trip asks for (a pipeline of this many pop scripts)."""

POP_BATCH_SECONDS = 0.05
"""Longest a one-job-per-call driver (database, SQS) keeps collecting a batch of pops.

Every job popped is reserved from that moment (retry_after, SQS's visibility timeout)
but starts only when the batch is handed over, so on a slow backend fifty single pops
could outlast a short retry_after and let the first jobs be reserved again. Returning
what was popped after this long starts them; the next round pops the rest."""


class JobSource:
    """Reserve up to `count` jobs in queue-priority order; delete finished ones (acks)."""

    cut_short = False
    """The last pop stopped at its time budget (POP_BATCH_SECONDS), so more jobs may be waiting."""
    waits_beside_jobs = True
    """Whether `wait_for_push` may run while jobs are in flight without holding up their I/O."""
    _waiter: ThreadPoolExecutor | None = None

    async def pop(self, queues: list[str], count: int, acks: list[Job]) -> list[Job]:
        raise NotImplementedError

    async def flush_acks(self, acks: list[Job]) -> None:
        raise NotImplementedError

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run sync driver/bookkeeping code where this source allows it."""
        return fn(*args)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop whose thread runs this source's inline I/O."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def pinned(self, fn: Callable[..., T]) -> Callable[..., T]:
        """`fn`, made safe to call from any thread: a sync handler in the pool calling `job.fail()`
        gets its bookkeeping run where all other bookkeeping runs (here: the loop thread)."""

        def on_loop_thread(*args: Any) -> T:
            if threading.get_ident() == getattr(self, "_loop_thread", None):
                return fn(*args)
            return asyncio.run_coroutine_threadsafe(_call(fn, *args), self._loop).result()

        return on_loop_thread

    def connections_on_loop(self, connections: Connections) -> Connections:
        """What code on the loop thread may use: the worker's connections (this source's I/O is there too)."""
        return connections

    async def wait_for_push(self, wait: PushWait, queues: list[str], seconds: float, stop: Callable[[], bool]) -> bool:
        """`wait` on a thread of its own (this source's sync I/O runs inline on the loop thread;
        the sync Redis client the wait uses is thread-safe: each call takes a pooled connection)."""
        if self._waiter is None:
            self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="laravel-queue-wait")
        return await asyncio.get_running_loop().run_in_executor(self._waiter, wait, queues, seconds, stop)

    async def close(self) -> None:
        """Release connections and threads."""
        if self._waiter is not None:
            self._waiter.shutdown(wait=True)


async def _call(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


class RedisSource(JobSource):
    """redis.asyncio pipelines of the sync driver's POP script (same Lua, same keys)."""

    def __init__(self, queue: RedisQueue, client: Any) -> None:
        self.queue = queue
        self.client = client
        self._pop = client.register_script(redis_scripts.POP)
        self._loaded = False
        self._batch = 1

    @classmethod
    def for_queue(cls, queue: RedisQueue) -> RedisSource:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        kwargs = dict(queue.client.connection_pool.connection_kwargs)
        kwargs.pop("connection_class", None)
        ssl = kwargs.pop("ssl", False) or "ssl_cert_reqs" in kwargs
        kwargs["retry"] = Retry(NoBackoff(), 1)
        allowed = {"host", "port", "db", "username", "password", "socket_connect_timeout", "socket_timeout",
                   "socket_keepalive", "retry", "path"}
        kwargs = {key: value for key, value in kwargs.items() if key in allowed}
        if "path" in kwargs:
            kwargs["unix_socket_path"] = kwargs.pop("path")
        client = redis.asyncio.Redis(**kwargs, ssl=bool(ssl), decode_responses=False)
        return cls(queue, client)

    async def pop(self, queues: list[str], count: int, acks: list[Job]) -> list[Job]:
        """Fill up to `count` slots from the first queue, then the next (Laravel's priority order).

        The batch grows while queues keep up (doubling, up to MAX_BATCH) and falls back to
        one pop when a queue runs dry, so an idle worker sends one script per poll.
        """
        jobs: list[Job] = []
        pending_acks = list(acks)
        for name in queues:
            while len(jobs) < count:
                want = min(count - len(jobs), self._batch)
                got = await self._pop_batch(name, want, pending_acks)
                pending_acks = []
                jobs.extend(got)
                if len(got) < want:
                    self._batch = max(1, len(got))
                    break
                self._batch = min(MAX_BATCH, self._batch * 2)
            if len(jobs) >= count:
                break
        if pending_acks:
            await self.flush_acks(pending_acks)
        return jobs

    async def _pop_batch(self, name: str, want: int, acks: list[Job]) -> list[Job]:
        keys = self.queue.keys(name)
        script_keys = [keys.queue, keys.reserved, keys.notify, keys.delayed]
        migrate = "1" if self.queue.retry_after is None else "2"

        def pipeline() -> Any:
            pipe = self.client.pipeline(transaction=False)
            self._queue_acks(pipe, acks)
            for index in range(want):
                args = self.queue._pop_args(migrate=migrate if index == 0 else "0")  # one migration per trip
                pipe.evalsha(self._pop.sha, len(script_keys), *script_keys, *args)
            return pipe

        replies = await self._execute(pipeline)
        jobs: list[Job] = []
        for raw, reserved, attempts in replies[len(replies) - want :]:
            if reserved is None:
                break
            jobs.append(RedisJob(self.queue, raw=raw, reserved=reserved, queue=keys.name, attempts=attempts))
        return jobs

    async def flush_acks(self, acks: list[Job]) -> None:
        if not acks:
            return
        pipe = self.client.pipeline(transaction=False)
        others = self._queue_acks(pipe, acks)
        if len(pipe):
            await pipe.execute()
        for job in others:
            await self.run(job._delete_from_backend)

    def _queue_acks(self, pipe: Any, acks: list[Job]) -> list[Job]:
        """ZREM the finished jobs' exact reserved copies (Laravel's deleteReserved), one ZREM per queue."""
        others: list[Job] = []
        members: dict[str, list[bytes]] = {}
        for job in acks:
            if isinstance(job, RedisJob) and job.driver is self.queue:
                members.setdefault(self.queue.keys(job.queue).reserved, []).append(job.reserved)
            else:
                others.append(job)
        for key, reserved in members.items():
            pipe.zrem(key, *reserved)
        return others

    async def _execute(self, pipeline: Callable[[], Any]) -> list[Any]:
        """Run a fresh pipeline; when the server does not know the pop script (new or flushed),
        load it and run the pipeline again (a NOSCRIPT reply means no pop ran)."""
        from redis.exceptions import NoScriptError

        if not self._loaded:
            await self.client.script_load(redis_scripts.POP)
            self._loaded = True
        try:
            return list(await pipeline().execute())
        except NoScriptError:
            await self.client.script_load(redis_scripts.POP)
            return list(await pipeline().execute())

    async def close(self) -> None:
        await super().close()
        await self.client.aclose()


class ThreadedSource(JobSource):
    """Any sync driver, popped on one dedicated thread that also runs all bookkeeping I/O."""

    waits_beside_jobs = False
    """The wait holds the driver thread, so it only runs when no job needs that thread."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="laravel-queue-driver", initializer=self._remember_thread
        )
        self._thread_id: int | None = None
        # A pop that may wait (SQS long polling, a blocking Redis pop) gets its own thread, so the
        # bookkeeping of the running jobs never queues behind it (those clients are thread-safe;
        # the database drivers never wait in a pop and keep one thread for their connection).
        self._pop_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="laravel-queue-pop") if queue.pop_may_wait else None
        )
        self._loop_connections: Connections | None = None

    def _remember_thread(self) -> None:
        self._thread_id = threading.get_ident()

    async def pop(self, queues: list[str], count: int, acks: list[Job]) -> list[Job]:
        if self._pop_thread is None:
            jobs = await self.run(self._pop_sync, queues, count, acks)
        else:
            loop = asyncio.get_running_loop()
            jobs = await loop.run_in_executor(self._pop_thread, self._pop_sync, queues, count, acks)
        for job in jobs:  # the job's own release/delete/give-back must use the driver thread too
            job._delete_from_backend = self.pinned(job._delete_from_backend)  # type: ignore[method-assign]
            job._release_to_backend = self.pinned(job._release_to_backend)  # type: ignore[method-assign]
            if callable(getattr(job, "give_back", None)):
                job.give_back = self.pinned(job.give_back)  # type: ignore[attr-defined]
        return jobs

    def pinned(self, fn: Callable[..., T]) -> Callable[..., T]:
        def on_driver_thread(*args: Any) -> T:
            if threading.get_ident() == self._thread_id:
                return fn(*args)
            return self._thread.submit(fn, *args).result()

        return on_driver_thread

    def _pop_sync(self, queues: list[str], count: int, acks: list[Job]) -> list[Job]:
        """Sync pops in priority order (the first carries the acks) until `count` or all are empty."""
        if len(acks) > 1:
            self.queue.flush_acks(acks[1:])
        ack = acks[0] if acks else None
        jobs: list[Job] = []
        hand_over_at = time.monotonic() + POP_BATCH_SECONDS
        self.cut_short = False
        for index, name in enumerate(queues):
            while len(jobs) < count and not (jobs and time.monotonic() >= hand_over_at):
                job = self.queue.pop(name, index, ack=ack)
                ack = None
                if job is None:
                    break
                jobs.append(job)
            if len(jobs) >= count:
                break
            if jobs and time.monotonic() >= hand_over_at:
                self.cut_short = True
                break
        if ack is not None:
            self.queue.flush_acks([ack])
        return jobs

    async def flush_acks(self, acks: list[Job]) -> None:
        if acks:
            await self.run(self.queue.flush_acks, acks)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def connections_on_loop(self, connections: Connections) -> Connections:
        """A second set from the same settings: the worker's own belong to the driver thread."""
        if self._loop_connections is None:
            self._loop_connections = Connections(connections.settings)
        return self._loop_connections

    async def wait_for_push(self, wait: PushWait, queues: list[str], seconds: float, stop: Callable[[], bool]) -> bool:
        """On the driver thread: the wait may use the driver's own connection."""
        return await self.run(wait, queues, seconds, stop)

    async def close(self) -> None:
        await super().close()
        if self._loop_connections is not None:
            self._loop_connections.close()
        self._thread.shutdown(wait=True)
        if self._pop_thread is not None:
            self._pop_thread.shutdown(wait=True)


def source_for(queue: Queue) -> JobSource:
    """The fastest source this driver has: redis.asyncio for Redis, the driver thread otherwise."""
    if isinstance(queue, RedisQueue) and not queue._cluster:
        return RedisSource.for_queue(queue)
    return ThreadedSource(queue)
