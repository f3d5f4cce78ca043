"""The exceptions Laravel's worker raises itself, with Laravel's class names and messages.

`php_class` is what lands in failed_jobs.exception, so `php artisan queue:failed`
shows a Python worker's failures exactly as it shows a PHP worker's.
"""

from __future__ import annotations

from laravel_queue.errors import JobOutcomeError


class WorkerJobError(JobOutcomeError):
    php_class = "Exception"


class MaxAttemptsExceededError(WorkerJobError):
    php_class = "Illuminate\\Queue\\MaxAttemptsExceededException"

    @classmethod
    def for_job(cls, display_name: str) -> MaxAttemptsExceededError:
        return cls(f"{display_name} has been attempted too many times.")


class TimeoutExceededError(MaxAttemptsExceededError):
    php_class = "Illuminate\\Queue\\TimeoutExceededException"

    @classmethod
    def for_job(cls, display_name: str) -> TimeoutExceededError:
        return cls(f"{display_name} has timed out.")


class ManuallyFailedError(WorkerJobError):
    php_class = "Illuminate\\Queue\\ManuallyFailedException"
