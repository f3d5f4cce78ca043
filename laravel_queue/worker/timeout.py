"""What a worker records when a job overruns its timeout, just before the process is killed.

Laravel's SIGALRM handler fails the job if the rules say so (last try, maxExceptions
reached, failOnTimeout) and kills the process. Here the watchdog thread does it while
the handler may still be running on the main thread, so it shares nothing with it:
it opens its own connections (a fresh `Connections`), works on its own copy of the
job handle bound to them, and never calls anything of the job's own code.

What runs on a timeout: the attempts / maxExceptions / failOnTimeout rules; the
failed_jobs record and the delete of a job that fails; the bus failure bookkeeping
(batch failure count, chain catch callbacks, unique lock release) when the lifecycle
can be rebuilt on the fresh connections (`JobLifecycle.with_connections`); the delete
of a job that already finished (its handler returned) and of the previous job whose
delete was deferred.
What does not: the job's failed() method and the `failing` / `finished` hooks (they
would run beside handle(), which has not returned), and anything on the main thread's
connections. A failing job's record is written before the SIGKILL; if the database
is locked by the main thread's open transaction the write waits for its busy timeout.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable

from laravel_queue.config.settings import Settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.base import Queue
from laravel_queue.job import Job
from laravel_queue.worker.exceptions import TimeoutExceededError
from laravel_queue.worker.lifecycle import JobLifecycle
from laravel_queue.worker.options import WorkerOptions
from laravel_queue.worker.policy import will_exceed_attempts
from laravel_queue.worker.process import exceeded_max_exceptions, record_failed, safe_display
from laravel_queue.worker.run import JobRun

log = logging.getLogger("laravel_queue.worker")


class TimeoutBookkeeping:
    """Called by the watchdog thread with the overrunning run and the worker's pending ack."""

    def __init__(
        self,
        settings: Settings,
        options: WorkerOptions,
        lifecycle: JobLifecycle,
        connect: Callable[[Settings], Connections] = Connections,
    ) -> None:
        self.settings = settings
        self.options = options
        self.lifecycle = lifecycle
        self.connect = connect

    def __call__(self, run: JobRun, pending_ack: Job | None) -> None:
        exc = TimeoutExceededError.for_job(safe_display(run.job))
        fresh = self.connect(self.settings)
        try:
            self._settle(fresh, run, exc)
            finished = [job for job in (pending_ack, run.job if run.deferred else None) if job is not None]
            if finished:
                queue = fresh.queue(finished[0].connection_name)
                queue.flush_acks([rebound(job, queue) for job in finished])
        except Exception as bookkeeping_exc:
            log.error("timeout bookkeeping for %s failed: %s", run.job.job_id, bookkeeping_exc)
        finally:
            fresh.close()
        log.error("%s; stopping the worker (exit by SIGKILL, as Laravel)", exc)

    def _settle(self, fresh: Connections, run: JobRun, exc: TimeoutExceededError) -> None:
        """Fail the job if Laravel's rules say so, on the fresh connections."""
        job = run.job
        if job.is_deleted() or job.is_released() or job.has_failed():
            return  # its fate was decided before the deadline
        fails = will_exceed_attempts(job, self.options, time.time())
        fails = exceeded_max_exceptions(fresh.cache, job) or fails
        if not (fails or job.fail_on_timeout):
            return  # left reserved: it returns after retry_after, this attempt counted
        queue = fresh.queue(job.connection_name)
        if not record_failed(fresh, job, exc):
            return
        rebound(job, queue).delete()
        lifecycle = self.lifecycle.with_connections(fresh)
        if lifecycle is not None:
            lifecycle.after_failure(job, run.prepared, exc)


def rebound(job: Job, queue: Queue) -> Job:
    """A copy of a reserved job's handle whose storage operations go through `queue`."""
    clone = copy.copy(job)
    for name, value in vars(clone).items():
        if isinstance(value, Queue):
            setattr(clone, name, queue)
    return clone
