"""A reserved `jobs` row, and the error for one that cannot be reserved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laravel_queue.db import DatabaseError
from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.drivers.database.queue import DatabaseQueue


class UnreservableJobError(DatabaseError):
    """The selected row could not be marked reserved (e.g. `attempts` overflowing TINYINT).

    Laravel 12.54+ fails such a job instead of leaving it to block the queue: `job` is the
    handle to pass through the worker's failure path. The transaction (and any `ack`) was
    rolled back."""

    def __init__(self, message: str, job: DatabaseJob) -> None:
        super().__init__(message)
        self.job = job


class DatabaseJob(Job):
    """A reserved `jobs` row: id, attempts after the reservation increment, raw payload."""

    def __init__(self, queue_driver: DatabaseQueue, record: dict[str, Any], queue: str) -> None:
        super().__init__(raw_body=str(record["payload"]), queue=queue, connection_name=queue_driver.connection_name)
        self.record = record
        self._driver = queue_driver

    def shed_body(self, *, acknowledged: bool = False) -> None:
        super().shed_body(acknowledged=acknowledged)
        self.record["payload"] = ""  # the row's copy; id and attempts stay for the delete

    def attempts(self) -> int:
        return int(self.record["attempts"])

    @property
    def job_id(self) -> int:
        return int(self.record["id"])

    def _delete_from_backend(self) -> None:
        self._driver.delete_reserved(self.queue, self.job_id)

    def _release_to_backend(self, delay: int) -> None:
        self._driver.delete_and_release(self.queue, self, delay)

    def give_back(self) -> None:
        """Un-reserve the row as it was, attempt not consumed (`--unknown=release`)."""
        self._released = True
        self._driver.give_back(self)
