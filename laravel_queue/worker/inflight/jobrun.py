"""One reserved job on the in-flight worker: the sync pipeline (`worker.process`) with an awaited handler.

The rules are the sync worker's own `JobProcessor` (attempts, tries, retryUntil,
maxExceptions, backoff, failed_jobs, chains, batches, unique locks, `--unknown`) and the
same `JobRun` per job; only the handler call differs. An `async def` handler runs in the
job's task on the loop and is cancelled at its timeout (it sees `asyncio.CancelledError`);
a sync handler runs in the thread pool, and since a thread cannot be stopped, a sync
handler past its timeout stops the process as the sync worker's watchdog does. The driver
and bookkeeping I/O around the handler goes through `JobSource.run` (inline for Redis,
the driver thread otherwise).

A job's middleware run on the loop, around either kind of handler (`asend_through`), so
jobs with middleware overlap like the others. They reach the cache, Redis and batches
through `job.connections`, which for that stretch is `JobSource.connections_on_loop`:
connections used only on the loop thread, never at the same time as the driver's.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from laravel_queue.errors import InternalError
from laravel_queue.job import InvalidPayloadError, Job
from laravel_queue.middleware.pipeline import asend_through
from laravel_queue.registry import PreparedJob, UnknownJobError
from laravel_queue.worker.exceptions import TimeoutExceededError
from laravel_queue.worker.policy import has_exceeded_attempts, timeout_for, will_exceed_attempts
from laravel_queue.worker.process import JobProcessor, exceeded_max_exceptions, safe_display
from laravel_queue.worker.run import JobRun

if TYPE_CHECKING:
    from laravel_queue.worker.inflight.sources import JobSource
    from laravel_queue.worker.inflight.watch import LoopWatch

log = logging.getLogger("laravel_queue.worker")


class JobTimedOut(InternalError):
    """The handler ran past its timeout; the outcome is recorded, the job is not touched again."""


class JobRunner:
    """Runs reserved jobs through the sync worker's `JobProcessor` with an awaited handler."""

    def __init__(self, processor: JobProcessor, source: JobSource, pool: Executor, watch: LoopWatch) -> None:
        self.processor = processor
        self.source = source
        self.pool = pool
        self.watch = watch
        self.acks: list[Job] = []
        """Finished jobs whose delete rides on the next pop."""

    async def process(self, job: Job) -> None:
        """JobProcessor.process for one run: never raises an `Exception`."""
        processor, io = self.processor, self.source.run
        run = JobRun(job, defer_delete=True)
        job.on_fail = self.source.pinned(processor.fail_job)
        try:
            if processor.events.reserved:
                await io(processor.events.fire, processor.events.reserved, job)
            _console_starting(processor, job)
            outcome, exc = await self._pipeline(run)
        except Exception as unexpected:
            outcome, exc = await io(processor._contain, run, unexpected), unexpected
        await io(processor._finished, run, outcome, exc)
        if run.deferred:
            self.acks.append(job)
        exc = None  # no frame <-> traceback or job <-> run cycle: the job is freed now (as JobProcessor)
        job.run = None

    async def _pipeline(self, run: JobRun) -> tuple[str, BaseException | None]:
        processor, io, job = self.processor, self.source.run, run.job
        try:
            _ = job.payload
        except InvalidPayloadError as exc:
            await io(processor.fail_job, job, exc)
            log.warning("job %s has an unreadable payload: %s", job.job_id, exc)
            return "failed", exc
        try:
            prepared = await io(self._before_handler, run)
            if prepared is not None and run.skipped is None:
                await self._handle(run, prepared)
            await io(self._after_handler, run)
            return run.outcome(), None
        except JobTimedOut as timed_out:
            return ("failed" if job.has_failed() else "released_after_exception"), timed_out.__cause__
        except Exception as exc:
            await io(processor.handle_exception, job, exc)
            return ("failed" if job.has_failed() else "released_after_exception"), exc

    # -- the steps around the handler (sync: they run where the source does its I/O) -----------
    def _before_handler(self, run: JobRun) -> PreparedJob | None:
        """Before event, attempts check, handler lookup and decode, lifecycle; None: no handler call."""
        processor, job = self.processor, run.job
        if processor.events.before:
            processor.events.fire(processor.events.before, job)
        if has_exceeded_attempts(job, processor.options, time.time()):
            processor._fail_exceeded(job)
        if job.is_deleted():
            return None
        try:
            prepared: PreparedJob = processor.registry.prepare(job, encrypter=processor._encrypter())
        except UnknownJobError:
            if processor.options.unknown == "release":
                processor._give_back(run)
                return None
            raise
        run.prepared = prepared
        processor.lifecycle.before_handle(job, prepared)
        run.handled = True
        return prepared

    def _after_handler(self, run: JobRun) -> None:
        """Lifecycle (unique, chain, batch), the finished job's deferred delete, after event."""
        processor, job = self.processor, run.job
        if run.handled:
            processor.lifecycle.after_handle(job, run.prepared)
            if not job.is_deleted_or_released():
                processor.delete_finished(run)
        if processor.events.after:
            processor.events.fire(processor.events.after, job)

    # -- the handler ----------------------------------------------------------------------------
    async def _handle(self, run: JobRun, prepared: PreparedJob) -> None:
        timeout = timeout_for(run.job, self.processor.options)
        if prepared.middleware:  # they run on this thread: connections of their own
            run.job.connections = self.source.connections_on_loop(self.processor.connections)
        if prepared.is_async:
            await self._handle_async(run, prepared, timeout)
        else:
            await self._handle_in_thread(run, prepared, timeout)

    async def _handle_async(self, run: JobRun, prepared: PreparedJob, timeout: int) -> None:
        """Awaited in this job's own task; at `timeout` the task is cancelled (the handler sees
        CancelledError) and Laravel's timeout outcome follows."""
        if timeout <= 0:
            await prepared.ahandle()
            return
        task = asyncio.current_task()
        assert task is not None
        self.watch.started(task, run, timeout)
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
            await self._timed_out(run.job)

    async def _handle_in_thread(self, run: JobRun, prepared: PreparedJob, timeout: int) -> None:
        """The sync handler in the thread pool; its middleware, if any, around it on the loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any]
        if prepared.middleware:

            def in_pool(job: Job, command: Any) -> asyncio.Future[Any]:
                return loop.run_in_executor(self.pool, prepared.call_handler)

            future = asyncio.ensure_future(asend_through(run.job, prepared.command, prepared.middleware, in_pool))
        else:
            future = loop.run_in_executor(self.pool, prepared.handle)
        done, _ = await asyncio.wait({future}, timeout=timeout if timeout > 0 else None)
        if not done:  # a thread cannot be cancelled: the sync watchdog's bookkeeping, then SIGKILL
            await self.watch.kill_for(run, "a sync handler ran past its timeout in the thread pool")
        future.result()

    async def _timed_out(self, job: Job) -> None:
        try:
            raise TimeoutExceededError.for_job(safe_display(job))
        except TimeoutExceededError as exc:
            await self.source.run(timeout_outcome, self.processor, job, exc)
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


def _console_starting(processor: JobProcessor, job: Job) -> None:
    """The RUNNING line, left to the round's flush (worker._round); a console that cannot be
    written does not touch the job."""
    try:
        processor.output.starting(job, flush=False)
    except Exception:
        log.exception("console output for job %s failed", job.job_id)


def timeout_outcome(processor: JobProcessor, job: Job, exc: TimeoutExceededError) -> None:
    """Laravel's timeout bookkeeping (§8.6) for a cancelled handler: fail the job when out of
    tries, at maxExceptions or failOnTimeout (failed() hook included, as Laravel's Job::fail),
    else leave it reserved so it returns after retry_after."""
    if job.is_deleted() or job.is_released() or job.has_failed():
        return  # its fate was decided before the deadline
    fails = will_exceed_attempts(job, processor.options, time.time())
    fails = exceeded_max_exceptions(processor.cache, job) or fails
    if fails or job.fail_on_timeout:
        processor.fail_job(job, exc)
