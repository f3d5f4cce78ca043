"""Laravel's job pipeline (CallQueuedHandler::dispatchThroughMiddleware) around a Python handler.

`send_through` for sync handlers, `asend_through` for async ones. The middleware list is
ordered as Laravel builds it: the job's `middleware()` (declared in Python with
`@handles(..., middleware=[...])`) then its serialized `middleware` property. With no
middleware the handler is called directly, so a job without middleware pays nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from laravel_queue.middleware.base import AroundMiddleware, begin, finish

Handler = Callable[[Any, Any], Any]


def send_through(job: Any, command: Any, middleware: Sequence[Any], handler: Handler) -> Any:
    """Run `handler(job, command)` through `middleware` (each `mw(job, command, next)`)."""
    if not middleware:
        return handler(job, command)

    def step(index: int) -> Handler:
        if index == len(middleware):
            return handler
        current, rest = middleware[index], step(index + 1)
        return lambda job, command: current(job, command, rest)

    return step(0)(job, command)


async def asend_through(job: Any, command: Any, middleware: Sequence[Any], handler: Handler) -> Any:
    """The async pipeline: middleware and handler may each be sync or async."""

    async def run(index: int, job: Any, command: Any) -> Any:
        if index == len(middleware):
            return await _settle(handler(job, command))
        current = middleware[index]

        async def rest(job: Any, command: Any) -> Any:
            return await run(index + 1, job, command)

        if isinstance(current, AroundMiddleware):
            return await _drive(current, job, command, rest)
        return await _settle(current(job, command, rest))

    return await run(0, job, command)


async def _drive(middleware: AroundMiddleware, job: Any, command: Any, rest: Callable[..., Any]) -> Any:
    """An around generator with an awaited inner pipeline."""
    steps = middleware.around(job, command)
    yielded, value = begin(steps)
    if not yielded:
        return value
    try:
        result = await rest(job, command)
    except BaseException as exc:
        return finish(steps.throw, exc)
    return finish(steps.send, result)


async def _settle(value: Any) -> Any:
    """Await what a sync-looking call returned when it is awaitable (an async `next` passed through)."""
    while inspect.isawaitable(value):
        value = await value
    return value
