"""`async def` handlers for the async-job tests (`--jobs tests.support.async_jobs`).

Each appends one line to the file named by `data.log` (one O_APPEND write, so several
workers and many in-flight jobs can share a log), so tests wait on the file.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from pydantic import BaseModel

from laravel_queue import handles

from .reliability_jobs import _write_line


@handles("Tests\\Async\\Record")
async def record(job: Any, data: dict[str, Any]) -> None:
    """`done <n> pid=<pid> attempt=<k>` after a real suspension of the coroutine."""
    await asyncio.sleep(float(data.get("seconds", 0)))
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")


@handles("Tests\\Async\\SyncRecord")
def sync_record(job: Any, data: dict[str, Any]) -> None:
    """A sync handler (the in-flight worker runs it in its thread pool)."""
    time.sleep(float(data.get("seconds", 0)))
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")


async def boom_failed(job: Any, data: dict[str, Any], exc: BaseException | None) -> None:
    """An async failed hook: awaited like the handler."""
    await asyncio.sleep(0)
    _write_line(data["log"], f"failed {data['n']} {type(exc).__name__}")


@handles("Tests\\Async\\Boom", failed=boom_failed)
async def boom(job: Any, data: dict[str, Any]) -> None:
    """Raises on every attempt: released with backoff until tries run out, then failed."""
    await asyncio.sleep(0)
    _write_line(data["log"], f"boom {data['n']} attempt={job.attempts()}")
    raise RuntimeError(f"boom {data['n']}")


@handles("Tests\\Async\\ReleaseOnce")
async def release_once(job: Any, data: dict[str, Any]) -> None:
    """Releases itself on the first attempt, finishes on the second."""
    await asyncio.sleep(0)
    if job.attempts() == 1:
        _write_line(data["log"], f"release {data['n']}")
        job.release(0)
        return
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")


@handles("Tests\\Async\\StallFirst")
async def stall_first(job: Any, data: dict[str, Any]) -> None:
    """The first attempt announces itself and stalls (to be SIGKILLed); later attempts finish."""
    if job.attempts() == 1:
        _write_line(data["log"], f"start {data['n']} pid={os.getpid()} attempt=1")
        await asyncio.sleep(float(data.get("seconds", 120)))
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")


@handles("Tests\\Async\\Hang")
async def hang(job: Any, data: dict[str, Any]) -> None:
    """Sleeps past its timeout; records the cancellation the in-flight worker delivers."""
    _write_line(data["log"], f"start {data['n']} attempt={job.attempts()}")
    try:
        await asyncio.sleep(float(data.get("seconds", 60)))
    except asyncio.CancelledError:
        _write_line(data["log"], f"cancelled {data['n']}")
        raise
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")


@handles("App\\Jobs\\AsyncTypedJob")
class AsyncTypedJob(BaseModel):
    """A class handler with `async def handle` and `async def failed`."""

    n: int
    log: str

    async def handle(self) -> None:
        await asyncio.sleep(0)
        _write_line(self.log, f"done {self.n} pid={os.getpid()} attempt=?")

    async def failed(self, exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        _write_line(self.log, f"failed {self.n} {type(exc).__name__}")


@handles("Tests\\Async\\BlockLoop")
async def block_loop(job: Any, data: dict[str, Any]) -> None:
    """Sync sleep inside `async def`: holds the event loop (the loop watch must name and stop it)."""
    _write_line(data["log"], f"start {data['n']} attempt={job.attempts()}")
    time.sleep(float(data.get("seconds", 30)))
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")
