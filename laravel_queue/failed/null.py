"""Driver `null` (or no driver): failures are not recorded, as Laravel's NullFailedJobProvider."""

from __future__ import annotations

from datetime import datetime

from laravel_queue.failed.base import FailedJob, FailedJobProvider


class NullFailedJobProvider(FailedJobProvider):
    def log(self, connection: str, queue: str, payload: str, exception: str) -> None:
        return None

    def all(self) -> list[FailedJob]:
        return []

    def find(self, id: str | int) -> FailedJob | None:
        return None

    def forget(self, id: str | int) -> bool:
        return True

    def flush(self, hours: int | None = None) -> int:
        return 0

    def prune(self, before: datetime) -> int:
        return 0
