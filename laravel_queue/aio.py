"""Dispatch from asyncio code: `await dispatch(...)` takes what `laravel_queue.dispatch.dispatch` takes.

    from laravel_queue.aio import dispatch

    @app.post("/podcasts")
    async def publish(...):
        job_id = await dispatch(Command("App\\\\Jobs\\\\ProcessPodcast", {"id": 7}), queue="podcasts")

Same arguments, same result (the driver's job id, or None when a `ShouldBeUnique` lock
is held elsewhere), same payload bytes: it runs the sync `dispatch` unchanged on a
worker thread, so the event loop never waits on Redis, a database or SQS, and the
ShouldBeUnique lock, encryption and context handling stay in one place. All dispatches
from asyncio go through one thread: a database connection is never used by two threads
at once, and dispatches keep the order they were awaited in.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from laravel_queue.dispatch import dispatch as sync_dispatch
from laravel_queue.dispatch import push_raw as sync_push_raw

__all__ = ["dispatch", "push_raw"]

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _thread() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="laravel-queue-dispatch")
        return _executor


async def _in_dispatch_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_thread(), call)


async def dispatch(command: Any, **kwargs: Any) -> str | int | None:
    """`laravel_queue.dispatch.dispatch(command, **kwargs)`, awaited without blocking the loop."""
    return await _in_dispatch_thread(sync_dispatch, command, **kwargs)  # type: ignore[no-any-return]


async def push_raw(payload: Any, **kwargs: Any) -> str | int | None:
    """`laravel_queue.dispatch.push_raw(payload, **kwargs)`, awaited without blocking the loop."""
    return await _in_dispatch_thread(sync_push_raw, payload, **kwargs)  # type: ignore[no-any-return]
