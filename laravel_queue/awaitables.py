"""User code may be `async def`: whatever a handler or callback returns that is awaitable is run.

A coroutine that nobody awaits never runs, and Python only says so in a warning, so
every place that calls user code (handlers, failed hooks, chain/batch callbacks,
worker events, schedule callbacks) passes the result through `run_sync` on the sync
paths, or awaits it on the async worker's loop (`resolve`).

`run_sync` reuses one event loop per thread (creating a loop per job costs ~100 µs;
reusing one costs a few). Called on a thread whose loop is already running (sync code
inside an asyncio app), it runs the awaitable on a helper thread's loop instead and
waits for it: correct, though it blocks the caller's loop for that long.

`check_runnable` rejects, at registration time, callables whose body would never run
when called (async generators, generators) and coroutine objects given in place of
their function.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # asyncio is imported once something awaitable turns up (start-up cost, issue 26)
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["call_sync", "check_runnable", "is_async_callable", "resolve", "run_sync"]

T = TypeVar("T")


class _ThreadLoops(threading.local):
    loop: asyncio.AbstractEventLoop | None = None
    pid: int = -1


_loops = _ThreadLoops()
_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's loop for sync callers (a fresh one after fork: the parent's selector is shared)."""
    if _loops.loop is None or _loops.loop.is_closed() or _loops.pid != os.getpid():
        import asyncio

        _loops.loop = asyncio.new_event_loop()
        _loops.pid = os.getpid()
    return _loops.loop


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def run_sync(value: Any) -> Any:
    """`value` itself, or, if it is awaitable, its result once run to completion."""
    if not inspect.isawaitable(value):
        return value
    import asyncio

    if asyncio._get_running_loop() is not None:  # this thread's loop is busy running us
        return _run_on_helper(value)
    loop = _thread_loop()
    return loop.run_until_complete(_await(value))


def _run_on_helper(awaitable: Awaitable[Any]) -> Any:
    global _helper
    with _helper_lock:
        if _helper is None:
            from concurrent.futures import ThreadPoolExecutor

            _helper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="laravel-queue-await")
    return _helper.submit(lambda: _thread_loop().run_until_complete(_await(awaitable))).result()


async def resolve(value: Any) -> Any:
    """On a running loop: `value`, or its awaited result if it is awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


def is_async_callable(fn: Any) -> bool:
    """True for `async def` functions and methods, and objects whose `__call__` is one.

    A sync function (even a wrapper around an async one) is not: it may block, so the
    async worker runs it in a thread, where `run_sync` completes any coroutine it returns.
    """
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable instances
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


def check_runnable(fn: Any, what: str) -> None:
    """Reject what the worker cannot run to completion by calling it, saying why."""
    if inspect.iscoroutine(fn) or inspect.isawaitable(fn):
        raise TypeError(
            f"{what} is a coroutine object, not a function: register the function itself "
            "(without calling it); an awaitable can run only once, a handler runs for every job"
        )
    if inspect.isasyncgenfunction(fn) or inspect.isasyncgenfunction(getattr(fn, "__call__", None)):  # noqa: B004
        raise TypeError(
            f"{what} is an async generator function: calling it runs none of its body (use `async def` "
            "with `return`, not `yield`)"
        )
    if inspect.isgeneratorfunction(fn):
        raise TypeError(
            f"{what} is a generator function: calling it runs none of its body (use `return`, not `yield`)"
        )


def call_sync(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, run to completion even when `fn` is async."""
    return run_sync(fn(*args))
