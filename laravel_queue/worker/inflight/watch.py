"""A thread that watches the in-flight worker's event loop.

Async handlers time out by cancellation, on the loop. That needs the loop to run: sync
code inside an `async def` handler (time.sleep, a blocking client) holds it, and then
no other job moves and no timeout fires. The loop ticks every 100 ms; this thread
notices when the ticks stop:

* after 1 s it logs a warning naming the job whose task holds the loop;
* when a job is past its timeout (plus a grace for cancellation) while the loop is still
  held, it falls back to the sync worker's watchdog: `TimeoutBookkeeping` (the job failed
  or left reserved by Laravel's rules, on fresh connections), the finished jobs' pending
  deletes, then SIGKILL; every other reserved job returns after retry_after.

`kill_for` is the same end for a sync handler past its timeout in the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from laravel_queue.job import Job
from laravel_queue.worker.process import safe_display
from laravel_queue.worker.run import JobRun

if TYPE_CHECKING:
    from laravel_queue.worker.inflight.jobrun import JobRunner
    from laravel_queue.worker.timeout import TimeoutBookkeeping

log = logging.getLogger("laravel_queue.worker")

TICK = 0.1
STALL_WARNING = 1.0
CANCEL_GRACE = 1.0
"""Seconds past a job's timeout before a held loop counts as blocked (cancellation needs it to run)."""


class LoopWatch:
    """Stall warnings and the blocked-loop kill for one event loop."""

    def __init__(self, bookkeeping: TimeoutBookkeeping, kill: Callable[[], None] | None = None) -> None:
        self._bookkeeping = bookkeeping
        self._kill = kill or (lambda: os.kill(os.getpid(), signal.SIGKILL))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: JobRunner | None = None
        self._last_tick = time.monotonic()
        self._deadlines: dict[asyncio.Task[Any], tuple[JobRun, float]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self, loop: asyncio.AbstractEventLoop, runner: JobRunner) -> None:
        self._loop, self._runner = loop, runner
        self._last_tick = time.monotonic()
        loop.call_soon(self._tick)
        threading.Thread(target=self._watch, name="laravel-queue-loop-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    # -- called on the loop ---------------------------------------------------------------------
    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        if not self._stopped.is_set() and self._loop is not None:
            self._loop.call_later(TICK, self._tick)

    def started(self, task: asyncio.Task[Any], run: JobRun, timeout: int) -> None:
        if timeout > 0:
            with self._lock:
                self._deadlines[task] = (run, time.monotonic() + timeout + CANCEL_GRACE)

    def finished(self, task: asyncio.Task[Any]) -> None:
        with self._lock:
            self._deadlines.pop(task, None)

    async def kill_for(self, run: JobRun, reason: str) -> None:
        """The sync watchdog's end for `run`: bookkeeping on fresh connections, then SIGKILL."""
        await asyncio.get_running_loop().run_in_executor(None, self._timeout_and_kill, run, reason)

    # -- the watching thread ------------------------------------------------------------------
    def _watch(self) -> None:
        warned = False
        while not self._stopped.wait(TICK):
            held = time.monotonic() - self._last_tick
            if held < STALL_WARNING:
                warned = False
                continue
            task = asyncio.current_task(self._loop) if self._loop is not None else None
            if not warned:
                warned = True
                log.warning(
                    "%s has held the event loop for %.1f s (sync code in an async handler?); "
                    "the other in-flight jobs wait until it returns",
                    self._name_of(task),
                    held,
                )
            overdue = self._overdue(task)
            if overdue is not None:
                self._timeout_and_kill(overdue, "the event loop is held past the job's timeout")
                return

    def _name_of(self, task: asyncio.Task[Any] | None) -> str:
        if task is None:
            return "worker code"
        with self._lock:
            entry = self._deadlines.get(task)
        return f"{safe_display(entry[0].job)} ({task.get_name()})" if entry is not None else task.get_name()

    def _overdue(self, task: asyncio.Task[Any] | None) -> JobRun | None:
        """The run past its deadline while the loop is held (the holder's own first)."""
        now = time.monotonic()
        with self._lock:
            entries = sorted(self._deadlines.items(), key=lambda entry: entry[0] is not task)
        for _, (run, deadline) in entries:
            if deadline <= now:
                return run
        return None

    def _timeout_and_kill(self, run: JobRun, reason: str) -> None:
        log.error("%s: %s", safe_display(run.job), reason)
        self._bookkeeping(run, None)
        self._flush_acks()
        self._kill()

    def _flush_acks(self) -> None:
        """Delete the finished jobs whose delete was still pending, on fresh connections."""
        runner = self._runner
        if runner is None or not runner.acks:
            return
        from laravel_queue.worker.timeout import rebound

        acks: list[Job] = list(runner.acks)
        fresh = self._bookkeeping.connect(self._bookkeeping.settings)
        try:
            queue = fresh.queue(acks[0].connection_name)
            queue.flush_acks([rebound(job, queue) for job in acks])
        except Exception as exc:
            log.error("could not delete %d finished job(s) before stopping: %s", len(acks), exc)
        finally:
            fresh.close()
