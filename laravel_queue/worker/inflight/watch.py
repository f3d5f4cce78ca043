"""A thread that watches the in-flight worker's event loop.

Async handlers time out by cancellation, on the loop. That needs the loop to run: sync
code inside an `async def` handler (time.sleep, a blocking client) holds it, and then
no other job moves and no timeout fires. The loop ticks every 100 ms; this thread
notices when the ticks stop:

* after 1 s it logs a warning naming the job whose task holds the loop;
* when a job is past its timeout (plus the cancel grace) while the loop is still held,
  it does Laravel's timeout bookkeeping for that job, deletes the finished jobs whose
  delete was still pending, and SIGKILLs the process, as the sync worker's watchdog
  does; every other reserved job returns after retry_after.
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

if TYPE_CHECKING:
    from laravel_queue.worker.inflight.jobrun import JobRunner

log = logging.getLogger("laravel_queue.worker")

TICK = 0.1
STALL_WARNING = 1.0
CANCEL_GRACE = 1.0
"""Seconds a cancelled async handler gets to unwind (its `finally` blocks) before the outcome."""


class LoopWatch:
    """Stall warnings and the blocked-loop kill for one event loop."""

    def __init__(self, kill: Callable[[], None] | None = None) -> None:
        self._kill = kill or (lambda: os.kill(os.getpid(), signal.SIGKILL))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: JobRunner | None = None
        self._last_tick = time.monotonic()
        self._deadlines: dict[asyncio.Task[Any], tuple[Job, float]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop, runner: JobRunner) -> None:
        self._loop, self._runner = loop, runner
        self._last_tick = time.monotonic()
        loop.call_soon(self._tick)
        self._thread = threading.Thread(target=self._watch, name="laravel-queue-loop-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    # -- called on the loop ---------------------------------------------------------------------
    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        if not self._stopped.is_set() and self._loop is not None:
            self._loop.call_later(TICK, self._tick)

    def started(self, task: asyncio.Task[Any], job: Job, timeout: int) -> None:
        if timeout > 0:
            with self._lock:
                self._deadlines[task] = (job, time.monotonic() + timeout + CANCEL_GRACE)

    def finished(self, task: asyncio.Task[Any]) -> None:
        with self._lock:
            self._deadlines.pop(task, None)

    async def kill_for(self, job: Job, reason: str) -> None:
        """Stop the process the way the sync watchdog does (the job's outcome is already recorded)."""
        await asyncio.get_running_loop().run_in_executor(None, self._flush_and_kill, job, reason)

    # -- the watching thread ------------------------------------------------------------------
    def _watch(self) -> None:
        warned_at = 0.0
        while not self._stopped.wait(TICK):
            held = time.monotonic() - self._last_tick
            if held < STALL_WARNING:
                warned_at = 0.0
                continue
            task = asyncio.current_task(self._loop) if self._loop is not None else None
            if warned_at == 0.0:
                warned_at = time.monotonic()
                name = self._name_of(task)
                log.warning(
                    "%s has held the event loop for %.1f s (sync code in an async handler?); "
                    "the other in-flight jobs wait until it returns",
                    name, held,
                )
            overdue = self._overdue(task)
            if overdue is not None:
                self._timeout_blocked(overdue)
                return

    def _name_of(self, task: asyncio.Task[Any] | None) -> str:
        if task is None:
            return "worker code"
        with self._lock:
            entry = self._deadlines.get(task)
        return f"{_safe_name(entry[0])} ({task.get_name()})" if entry is not None else task.get_name()

    def _overdue(self, task: asyncio.Task[Any] | None) -> Job | None:
        """The job past its deadline while the loop is held (the holder's own first)."""
        now = time.monotonic()
        with self._lock:
            entries = list(self._deadlines.items())
        entries.sort(key=lambda entry: entry[0] is not task)
        for _, (job, deadline) in entries:
            if deadline <= now:
                return job
        return None

    def _timeout_blocked(self, job: Job) -> None:
        from laravel_queue.worker.exceptions import TimeoutExceededError
        from laravel_queue.worker.inflight.jobrun import timeout_outcome

        assert self._runner is not None
        try:
            raise TimeoutExceededError.for_job(_safe_name(job))
        except TimeoutExceededError as exc:
            try:
                timeout_outcome(self._runner.worker, job, exc)
            except Exception as bookkeeping_exc:
                log.error("timeout bookkeeping for %s failed: %s", job.job_id, bookkeeping_exc)
            self._flush_and_kill(job, f"{exc} while blocking the event loop")

    def _flush_and_kill(self, job: Job, reason: str) -> None:
        runner = self._runner
        if runner is not None and runner.acks:
            acks, runner.acks = list(runner.acks), []
            try:
                runner.worker.connections.queue(job.connection_name).flush_acks(acks)
            except Exception as exc:
                log.error("could not delete %d finished job(s) before stopping: %s", len(acks), exc)
        log.error("%s; stopping the worker (exit by SIGKILL, as Laravel)", reason)
        self._kill()


def _safe_name(job: Job) -> str:
    try:
        return job.display_name
    except Exception:
        return "Unknown"
