"""One reserved job on the in-flight worker: Laravel's Worker::process, step for step.

The rules are the sync worker's own methods (attempts, tries, retryUntil, maxExceptions,
backoff, failed_jobs, chains, batches, unique locks, `--unknown`); only the handler
call differs. An `async def` handler runs on the loop as its own task and is cancelled
at its timeout (it sees `asyncio.CancelledError`); a sync handler runs in the thread
pool, and since a thread cannot be stopped, a sync handler past its timeout stops the
process as the sync worker's watchdog does. The driver and bookkeeping I/O around the
handler goes through `JobSource.run` (inline for Redis, the driver thread otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from laravel_queue.job import InvalidPayloadError, Job
from laravel_queue.registry import PreparedJob, UnknownJobError
from laravel_queue.worker.exceptions import TimeoutExceededError
from laravel_queue.worker.policy import timeout_for

if TYPE_CHECKING:
    from laravel_queue.worker.inflight.sources import JobSource
    from laravel_queue.worker.inflight.watch import LoopWatch
    from laravel_queue.worker.worker import Worker

log = logging.getLogger("laravel_queue.worker")

DELETED = "deleted"  # failed before its handler (max attempts)
GIVEN_BACK = "given_back"  # --unknown=release


class JobTimedOut(Exception):
    """The handler ran past its timeout; the outcome is recorded, the job is not touched again."""


class JobRunner:
    """Runs reserved jobs through the sync worker's rules with an awaited handler."""

    def __init__(self, worker: Worker, source: JobSource, pool: Executor, watch: LoopWatch) -> None:
        self.worker = worker
        self.source = source
        self.pool = pool
        self.watch = watch
        self.acks: list[Job] = []
        """Finished jobs whose delete rides on the next pop."""

    async def process(self, job: Job) -> None:
        """Laravel's Worker::process: guard, run, and route exceptions."""
        worker, io = self.worker, self.source.run
        job.on_fail = self.source.pinned(worker._fail_job)
        await io(worker.events.fire, worker.events.reserved, job)
        worker.output.starting(job, flush=False)  # flushed once per round (worker._rounds)
        started = time.perf_counter()
        try:
            _ = job.payload
        except InvalidPayloadError as exc:
            await io(worker._fail_job, job, exc)
            await io(worker._finished, job, "failed", started, exc)
            log.warning("job %s has an unreadable payload: %s", job.job_id, exc)
            return
        try:
            prepared = await io(self._before_handler, job)
            if isinstance(prepared, PreparedJob):
                await self._handle(job, prepared)
            outcome = await io(self._after_handler, job, prepared)
            await io(worker._finished, job, outcome, started)
        except JobTimedOut as exc:
            outcome = "failed" if job.has_failed() else "released_after_exception"  # or left reserved
            await io(worker._finished, job, outcome, started, exc.__cause__)
        except Exception as exc:
            await io(worker._handle_exception, job, exc)
            outcome = "failed" if job.has_failed() else "released_after_exception"
            await io(worker._finished, job, outcome, started, exc)

    # -- the steps around the handler (sync: they run where the source does its I/O) -----------
    def _before_handler(self, job: Job) -> PreparedJob | str:
        """Before event, attempts check, handler lookup and decode, lifecycle; or why no handler runs."""
        worker = self.worker
        worker.events.fire(worker.events.before, job)
        worker._fail_if_already_exceeded(job)
        if job.is_deleted():
            return DELETED
        try:
            prepared = worker.registry.prepare(job, encrypter=worker._encrypter())
        except UnknownJobError:
            if worker.options.unknown == "release":
                worker._give_back(job)
                return GIVEN_BACK
            raise
        job._prepared = prepared  # type: ignore[attr-defined]
        worker.lifecycle.before_handle(job, prepared)
        return prepared

    def _after_handler(self, job: Job, prepared: PreparedJob | str) -> str:
        """Lifecycle (unique, chain, batch), the finished job's deferred delete, after event; the outcome."""
        worker = self.worker
        if isinstance(prepared, PreparedJob):
            worker.lifecycle.after_handle(job, prepared)
            if not job.is_deleted_or_released():
                job.delete_later()
                self.acks.append(job)
        worker.events.fire(worker.events.after, job)
        if job.has_failed():
            return "failed"
        if isinstance(prepared, str):
            return prepared
        return "released" if job.is_released() else "processed"

    # -- the handler ----------------------------------------------------------------------------
    async def _handle(self, job: Job, prepared: PreparedJob) -> None:
        timeout = timeout_for(job, self.worker.options)
        if prepared.is_async:
            await self._handle_async(job, prepared, timeout)
        else:
            await self._handle_in_thread(job, prepared, timeout)

    async def _handle_async(self, job: Job, prepared: PreparedJob, timeout: int) -> None:
        """Awaited in this job's own task; at `timeout` the task is cancelled (the handler sees
        CancelledError) and Laravel's timeout outcome follows."""
        if timeout <= 0:
            await prepared.ahandle()
            return
        task = asyncio.current_task()
        assert task is not None
        self.watch.started(task, job, timeout)
        timed_out = False
        deadline = _deadline(timeout)
        try:
            async with deadline:
                await prepared.ahandle()
        except TimeoutError:
            if not deadline.expired():
                raise  # the handler's own TimeoutError: an exception like any other
            timed_out = True  # the outcome is recorded outside this block: failed_jobs shows no chain
        finally:
            self.watch.finished(task)
        if timed_out:
            await self._timed_out(job)

    async def _handle_in_thread(self, job: Job, prepared: PreparedJob, timeout: int) -> None:
        future = asyncio.get_running_loop().run_in_executor(self.pool, prepared.handle)
        done, _ = await asyncio.wait({future}, timeout=timeout if timeout > 0 else None)
        if not done:  # a thread cannot be cancelled: Laravel's outcome, then the process stops
            try:
                await self._timed_out(job)
            finally:
                await self.watch.kill_for(job, "a sync handler ran past its timeout in the thread pool")
        future.result()

    async def _timed_out(self, job: Job) -> None:
        try:
            raise TimeoutExceededError.for_job(_describe(job, with_id=False))
        except TimeoutExceededError as exc:
            await self.source.run(timeout_outcome, self.worker, job, exc)
            log.error("%s (cancelled; the other in-flight jobs go on)", exc)
            raise JobTimedOut(str(exc)) from exc


if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    class _deadline:
        """asyncio.timeout for 3.10: cancel this task at the deadline, then raise TimeoutError."""

        def __init__(self, seconds: float) -> None:
            self._seconds = seconds
            self._fired = False
            self._handle: asyncio.TimerHandle | None = None

        def expired(self) -> bool:
            return self._fired

        async def __aenter__(self) -> _deadline:
            task = asyncio.current_task()
            assert task is not None

            def cancel() -> None:
                self._fired = True
                task.cancel()

            self._handle = asyncio.get_running_loop().call_later(self._seconds, cancel)
            return self

        async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            assert self._handle is not None
            self._handle.cancel()
            if self._fired and exc_type is asyncio.CancelledError:
                raise TimeoutError


def timeout_outcome(worker: Worker, job: Job, exc: TimeoutExceededError) -> None:
    """Laravel's timeout bookkeeping (§8.6): fail when out of tries or failOnTimeout, else leave
    the job reserved so it returns after retry_after."""
    worker._fail_if_will_exceed_attempts(job, exc)
    if not job.has_failed():
        worker._fail_if_will_exceed_exceptions(job, exc)
    if not job.has_failed() and job.fail_on_timeout:
        worker._fail_job(job, exc)


def _describe(job: Job, *, with_id: bool = True) -> str:
    try:
        name = job.display_name
    except Exception:
        name = "Unknown"
    return f"{name} ({job.job_id})" if with_id else name

