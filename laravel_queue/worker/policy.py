"""Laravel's per-job rules as pure functions: no I/O, no clock of their own.

Shared by the sync worker and the asyncio worker, so both decide the same way
(laravel/framework Worker.php: markJobAsFailedIfAlreadyExceedsMaxAttempts,
markJobAsFailedIfWillExceedMaxAttempts, markJobAsFailedIfWillExceedMaxExceptions,
calculateBackoff, timeoutForJob, stopIfNecessary). The caller passes `now`
(a Unix timestamp) and the values Laravel reads, and acts on the answer.
"""

from __future__ import annotations

from laravel_queue.job import InvalidPayloadError, Job
from laravel_queue.worker.options import WorkerOptions

EXIT_SUCCESS = 0
EXIT_ERROR = 1
EXIT_MEMORY_LIMIT = 12

MAX_EXCEPTIONS_KEY_PREFIX = "job-exceptions:"
MAX_EXCEPTIONS_TTL = 86400  # Laravel: Carbon::now()->addDay()


def max_tries_for(job: Job, options: WorkerOptions) -> int:
    """The job's `tries` when it declares one, else `--tries`."""
    declared = job.max_tries
    return declared if declared is not None else options.max_tries


def has_exceeded_attempts(job: Job, options: WorkerOptions, now: float) -> bool:
    """Before running: past `retryUntil`, or (without one) attempted more than its tries.

    PHP's truthiness: a `retryUntil` of 0 counts as none, `tries` 0 means unlimited.
    """
    retry_until = job.retry_until
    if retry_until:
        return now > retry_until
    max_tries = max_tries_for(job, options)
    return max_tries != 0 and job.attempts() > max_tries


def will_exceed_attempts(job: Job, options: WorkerOptions, now: float) -> bool:
    """After an exception: `retryUntil` has passed, or this attempt was the last try."""
    retry_until = job.retry_until
    if retry_until:
        return retry_until <= now
    max_tries = max_tries_for(job, options)
    return max_tries > 0 and job.attempts() >= max_tries


def max_exceptions_key(uuid: str) -> str:
    """The cache key Laravel counts a job's exceptions under (shared with PHP workers)."""
    return MAX_EXCEPTIONS_KEY_PREFIX + uuid


def reached_max_exceptions(max_exceptions: int | None, count: int | None) -> bool:
    """`$maxExceptions <= $cache->increment(...)`: the counted exceptions reached the limit."""
    return max_exceptions is not None and count is not None and max_exceptions <= count


def backoff_for(job: Job, options: WorkerOptions) -> int:
    """Laravel's calculateBackoff: the job's list (or `--backoff`), indexed by attempt, last repeats."""
    source = job.backoff if job.backoff is not None else options.backoff
    values = [part.strip() for part in str(source).split(",")]
    index = job.attempts() - 1
    chosen = values[index] if 0 <= index < len(values) else values[-1]
    try:
        return int(float(chosen or 0))
    except ValueError:
        return 0


def timeout_for(job: Job, options: WorkerOptions) -> int:
    """The job's `timeout`, else `--timeout`; an unreadable payload gets `--timeout`."""
    try:
        declared = job.timeout
    except InvalidPayloadError:
        return options.timeout
    return declared if declared is not None else options.timeout


def stop_status(
    *,
    should_quit: bool,
    memory_mb: float,
    memory_limit: float,
    restart_changed: bool,
    stop_when_empty: bool,
    found_nothing: bool,
    elapsed: float,
    max_time: float,
    jobs_processed: int,
    max_jobs: int,
) -> int | None:
    """Laravel's stopIfNecessary: the exit status of the first stop condition met, else None."""
    if should_quit:
        return EXIT_SUCCESS
    if memory_mb >= memory_limit:
        return EXIT_MEMORY_LIMIT
    if restart_changed:
        return EXIT_SUCCESS
    if stop_when_empty and found_nothing:
        return EXIT_SUCCESS
    if max_time and elapsed >= max_time:
        return EXIT_SUCCESS
    if max_jobs and jobs_processed >= max_jobs:
        return EXIT_SUCCESS
    return None
