"""The job pipeline: Laravel's Worker::process and CallQueuedHandler::call, inside one guard.

Every job ends in one of Laravel's outcomes (deleted, released, failed into
failed_jobs) whatever its handler, a hook, a bus feature or its failed() method
raises: Laravel's routing handles the handler's exceptions, hooks and failure
side-steps are logged, and anything else (a bug, a lost connection while
releasing) is logged and the job released if it can be, else left reserved to
return after `retry_after`. Only the loop's stop conditions stop a worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from laravel_queue.connections import Connections
from laravel_queue.job import InvalidPayloadError, Job
from laravel_queue.worker.exceptions import ManuallyFailedError, MaxAttemptsExceededError
from laravel_queue.worker.lifecycle import JobLifecycle, WorkerEvents
from laravel_queue.worker.options import WorkerOptions
from laravel_queue.worker.output import WorkerOutput
from laravel_queue.worker.policy import (
    MAX_EXCEPTIONS_TTL,
    backoff_for,
    has_exceeded_attempts,
    max_exceptions_key,
    reached_max_exceptions,
    will_exceed_attempts,
)
from laravel_queue.worker.run import JobRun

if TYPE_CHECKING:
    from laravel_queue.bus.encryption import Encrypter
    from laravel_queue.cache.base import CacheStore

log = logging.getLogger("laravel_queue.worker")


class JobProcessor:
    """Runs one `JobRun` to its outcome and reports it (console line, `finished` listeners)."""

    def __init__(
        self,
        connections: Connections,
        *,
        registry: Any,
        options: WorkerOptions,
        output: WorkerOutput,
        lifecycle: JobLifecycle,
        events: WorkerEvents,
        cache: Callable[[], CacheStore],
        encrypter: Encrypter | None = None,
    ) -> None:
        self.connections = connections
        self.registry = registry
        self.options = options
        self.output = output
        self.lifecycle = lifecycle
        self.events = events
        self.cache = cache
        self.encrypter = encrypter
        from laravel_queue.bus.laravel13 import Laravel13Steps

        self.l13 = Laravel13Steps(connections)

    def process(self, run: JobRun) -> None:
        """Laravel's Worker::process for one run; never raises an `Exception`."""
        job = run.job
        job.on_fail = self.fail_job
        events = self.events
        try:
            if events.reserved:
                events.fire(events.reserved, job)
            self._console_starting(job)
            outcome, exc = self._pipeline(run)
        except Exception as unexpected:
            outcome, exc = self._contain(run, unexpected), unexpected
        self._finished(run, outcome, exc)
        # Break the cycles (this frame -> exc -> traceback -> _pipeline frame -> this frame, and
        # job <-> run) so a job and its payload are freed now, not at the next garbage collection.
        exc = None
        job.run = None

    def fail_unreservable(self, job: Job, exc: BaseException) -> None:
        """A job the driver found but could not reserve (Laravel 12.54 fails it): failed_jobs,
        and the `finished` listeners hear of it like any other job."""
        run = JobRun(job)
        job.on_fail = self.fail_job
        self.fail_job(job, exc)
        if self.events.finished:
            self.events.fire(self.events.finished, job, "failed", run.milliseconds(), exc)
        job.run = None

    def _console_starting(self, job: Job) -> None:
        """The RUNNING line; a console that cannot be written does not touch the job."""
        try:
            self.output.starting(job)
        except Exception:
            log.exception("console output for job %s failed", job.job_id)

    def _pipeline(self, run: JobRun) -> tuple[str, BaseException | None]:
        job = run.job
        try:
            _ = job.payload
        except InvalidPayloadError as exc:
            self.fail_job(job, exc)
            log.warning("job %s has an unreadable payload: %s", job.job_id, exc)
            return "failed", exc
        events = self.events
        if events.before:
            events.fire(events.before, job)
        try:
            if has_exceeded_attempts(job, self.options, time.time()):
                self._fail_exceeded(job)
            if not job.is_deleted():
                self._call(run)
            if events.after:
                events.fire(events.after, job)
            return run.outcome(), None
        except Exception as exc:
            self.handle_exception(job, exc)
            return ("failed" if job.has_failed() else "released_after_exception"), exc

    def _contain(self, run: JobRun, exc: Exception) -> str:
        """An exception outside Laravel's routing: log it, and give the job a fate if it has none."""
        job = run.job
        log.exception("job %s: unexpected error in the worker's pipeline", safe_display(job))
        if job.has_failed():
            return "failed"
        if job.is_deleted():
            return run.outcome()
        if not job.is_released():
            try:
                job.release(backoff_for(job, self.options))
            except Exception as release_exc:
                log.error("job %s not released (%s); it returns after retry_after", job.job_id, release_exc)
        return "released_after_exception"

    def _finished(self, run: JobRun, outcome: str, exc: BaseException | None) -> None:
        """The job's fate is decided: the console line and the `finished` listeners."""
        milliseconds = run.milliseconds()
        status = outcome if outcome in ("failed", "released_after_exception") else "success"
        try:
            self.output.finished(run.job, status, milliseconds, exc)
        except Exception:
            log.exception("console output for job %s failed", run.job.job_id)
        if self.events.finished:
            self.events.fire(self.events.finished, run.job, outcome, milliseconds, exc)

    def _fail_exceeded(self, job: Job) -> None:
        """markJobAsFailedIfAlreadyExceedsMaxAttempts: fail it, then raise into the routing."""
        try:
            raise MaxAttemptsExceededError.for_job(job.display_name)
        except MaxAttemptsExceededError as exc:  # raised first, so failed_jobs shows where
            self.fail_job(job, exc)
            raise

    # -- CallQueuedHandler::call -----------------------------------------------------------------
    def _call(self, run: JobRun) -> None:
        """CallQueuedHandler::call for object jobs, the registered function for string jobs."""
        from laravel_queue.registry import UnknownJobError

        job = run.job
        try:
            prepared = self.registry.prepare(job, encrypter=self._encrypter())
        except UnknownJobError:
            if self.options.unknown == "release":
                self._give_back(run)
                return
            raise
        run.prepared = prepared
        if self.l13.superseded(job, prepared, self.output):  # Laravel 13 JobDebounced: deleted unrun
            run.skipped = "debounced"
            self.delete_finished(run)
            return
        self.lifecycle.before_handle(job, prepared)
        run.handled = True
        try:
            prepared.handle()
        except Exception as exc:
            if not self.l13.missing_models(job, exc, delete=lambda _: self.delete_finished(run), fail=self.fail_job):
                raise
            return
        self.lifecycle.after_handle(job, prepared)
        if not job.is_deleted_or_released():
            self.delete_finished(run)

    def delete_finished(self, run: JobRun) -> None:
        """Delete now, or (in the loop) mark it and let the worker carry the delete."""
        if run.defer_delete:
            run.job.delete_later()
            run.deferred = True
        else:
            run.job.delete()

    def _give_back(self, run: JobRun) -> None:
        """`--unknown=release`: back to the queue unchanged, attempts not consumed, for PHP workers."""
        job = run.job
        give_back = getattr(job, "give_back", None)
        if give_back is not None:
            give_back()
        else:
            job.release(0)
        run.gave_back = True
        log.info("no Python handler for %s; given back to the queue", job.display_name)

    def _encrypter(self) -> Encrypter | None:
        settings = self.connections.settings
        if self.encrypter is None and settings.app.key is not None:
            from laravel_queue.bus.encryption import Encrypter

            self.encrypter = Encrypter.from_settings(settings)
        return self.encrypter

    # -- exceptions and failure ----------------------------------------------------------------
    def handle_exception(self, job: Job, exc: Exception) -> None:
        """Laravel's handleJobException: fail if out of tries or exceptions, else release with backoff."""
        try:
            if not job.has_failed():
                if will_exceed_attempts(job, self.options, time.time()):
                    self.fail_job(job, exc)
                if exceeded_max_exceptions(self.cache, job):
                    self.fail_job(job, exc)
                if not job.has_failed() and self.l13.should_stop_retries(job, exc):  # 13.x dontRetry
                    self.fail_job(job, exc)
            self.events.fire(self.events.exception_occurred, job, exc)
        finally:  # users see the `laravel_queue.jobs` record (ops/joblog.py); this one only at DEBUG
            log.debug("job %s raised %s: %s", safe_display(job), type(exc).__name__, exc, exc_info=exc)
            if not job.is_deleted() and not job.is_released() and not job.has_failed():
                job.release(backoff_for(job, self.options))

    def fail_job(self, job: Job, exc: BaseException | None) -> None:
        """Laravel's Job::fail: record it in failed_jobs, delete it, run the failure hooks.

        Laravel deletes first and writes failed_jobs last; here the record is written first,
        so a failed_jobs store that cannot be written leaves the job reserved (it returns
        after retry_after) instead of losing it. A failure hook that raises is logged.
        """
        job.mark_as_failed()
        if job.is_deleted():
            return
        error = exc if exc is not None else ManuallyFailedError("")
        if not record_failed(self.connections, job, error):
            return
        try:
            job.delete()
        except Exception as delete_exc:
            log.error("failed job %s recorded, not deleted (%s); it returns after retry_after", job.job_id, delete_exc)
        prepared = job.run.prepared if job.run is not None else None
        try:
            self.lifecycle.after_failure(job, prepared, error)
            if prepared is not None:
                prepared.failed(error)
        except Exception:
            log.exception("failure hook of job %s raised; the job is recorded in failed_jobs", job.job_id)
        self.events.fire(self.events.failing, job, error)


def exceeded_max_exceptions(cache: Callable[[], CacheStore], job: Job) -> bool:
    """markJobAsFailedIfWillExceedMaxExceptions's count, in the cache PHP workers share.

    Counts this exception and says whether the job reached its `maxExceptions`; an
    unusable cache counts nothing (Laravel without a cache does the same).
    """
    max_exceptions = job.max_exceptions
    uuid = job.uuid
    if not uuid or max_exceptions is None:
        return False
    key = max_exceptions_key(uuid)
    try:
        store = cache()
        if not store.get(key):
            store.put(key, 0, MAX_EXCEPTIONS_TTL)
        count = store.increment(key)
    except Exception as cache_exc:
        log.warning("maxExceptions not counted (cache unavailable): %s", cache_exc)
        return False
    if not reached_max_exceptions(max_exceptions, count):
        return False
    try:
        store.forget(key)
    except Exception as cache_exc:
        log.warning("maxExceptions counter of %s not cleared: %s", uuid, cache_exc)
    return True


def record_failed(connections: Connections, job: Job, exc: BaseException) -> bool:
    """Write the job to failed_jobs with Laravel's exception text; False (logged) if it cannot be."""
    from laravel_queue.failed.exception_text import format_exception

    try:
        connections.failed().log(job.connection_name, job.queue, job.raw_body, format_exception(exc))
    except Exception as log_exc:
        log.error(
            "could not write failed job %s to failed_jobs (%s); it stays reserved and returns after retry_after",
            job.job_id,
            log_exc,
        )
        return False
    return True


def safe_display(job: Job) -> str:
    try:
        return job.display_name
    except Exception:
        return "Unknown"
