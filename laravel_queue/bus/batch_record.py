"""The batch record: one `job_batches` row as Laravel's `Batch` reads it.

Kept apart from the repository that loads it and from the worker code that updates
it: handlers (`batch_of(job)`) and callbacks see only this value and its few
operations (`fresh()`, `cancel()`), the same surface `$this->batch()` gives in PHP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from laravel_queue.bus.batch_repository import BatchRepository

PHP_CALLBACK_KINDS = ("progress", "then", "catch", "failure", "finally")


@dataclass
class Batch:
    """One `job_batches` row, read as Laravel's `Batch` reads it."""

    id: str
    name: str
    total_jobs: int
    pending_jobs: int
    failed_jobs: int
    failed_job_ids: list[str]
    options: dict[Any, Any]
    created_at: int
    cancelled_at: int | None
    finished_at: int | None
    repository: BatchRepository | None = field(default=None, repr=False, compare=False)

    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def finished(self) -> bool:
        return self.finished_at is not None

    def allows_failures(self) -> bool:
        return self.options.get("allowFailures", False) is True

    def has_failures(self) -> bool:
        return self.failed_jobs > 0

    def processed_jobs(self) -> int:
        return self.total_jobs - self.pending_jobs

    def progress(self) -> int:
        """Percent processed, rounded as PHP's round() does (half away from zero)."""
        if self.total_jobs <= 0:
            return 0
        return int(self.processed_jobs() * 100 / self.total_jobs + 0.5)

    def php_callbacks(self, kind: str) -> int:
        """How many PHP callbacks of `kind` (then, catch, ...) the batch carries."""
        value = self.options.get(kind)
        if isinstance(value, (list, dict)):
            return len(value)
        return 0 if value is None else 1

    def fresh(self) -> Batch:
        """The batch re-read from storage (as callbacks receive it)."""
        if self.repository is None:
            return self
        return self.repository.find(self.id) or self

    def cancel(self) -> None:
        """Laravel's `$batch->cancel()`: sets cancelled_at and finished_at to now."""
        if self.repository is None:
            raise RuntimeError("this Batch is not attached to a repository")
        self.repository.cancel(self.id)


@dataclass(frozen=True)
class BatchCounts:
    """Laravel's UpdatedBatchJobCounts."""

    pending_jobs: int
    failed_jobs: int

    def all_jobs_have_ran_exactly_once(self) -> bool:
        return self.pending_jobs - self.failed_jobs == 0
