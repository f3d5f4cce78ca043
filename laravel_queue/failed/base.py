"""The failed-job provider contract (Laravel's `FailedJobProviderInterface`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FailedJob:
    """One failed-job record as `queue:failed` shows it."""

    id: str | int
    uuid: str | None
    connection: str
    queue: str
    payload: str
    exception: str
    failed_at: datetime


class FailedJobProvider(ABC):
    """Where a permanently failed job is recorded, and read back by `queue:failed`/`queue:retry`."""

    @abstractmethod
    def log(self, connection: str, queue: str, payload: str, exception: str) -> str | int | None:
        """Record a failure; returns the id the CLI uses (uuid, or the row id)."""

    @abstractmethod
    def all(self) -> list[FailedJob]:
        """Every record, newest first."""

    @abstractmethod
    def find(self, id: str | int) -> FailedJob | None: ...

    @abstractmethod
    def forget(self, id: str | int) -> bool: ...

    @abstractmethod
    def flush(self, hours: int | None = None) -> int:
        """Delete all records, or those that failed at least `hours` ago."""

    @abstractmethod
    def prune(self, before: datetime) -> int:
        """Delete records that failed before the given moment."""

    def ids(self, queue: str | None = None) -> list[str | int]:
        return [job.id for job in self.all() if queue is None or job.queue == queue]
