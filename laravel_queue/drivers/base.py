"""The queue-connection contract every driver implements (Laravel's `Queue` contract)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from laravel_queue.job import Job


class Queue(ABC):
    """One configured queue connection: push, pop, size and clear on named queues."""

    def __init__(self, *, connection_name: str, default_queue: str = "default") -> None:
        self.connection_name = connection_name
        self.default_queue = default_queue

    def get_queue(self, queue: str | None) -> str:
        return queue or self.default_queue

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Add the driver's own envelope fields (Redis: `id`, `attempts`) before encoding."""
        return payload

    @abstractmethod
    def push_raw(self, payload: str, queue: str | None = None, *, delay: int = 0) -> str | int | None:
        """Store an encoded payload, ready now or after `delay` seconds; returns the job id."""

    @abstractmethod
    def pop(self, queue: str | None = None, index: int = 0, *, ack: Job | None = None) -> Job | None:
        """Reserve the next available job of one queue (`index`: its place in the priority list).

        `ack`, when given, is a finished job of this connection that the worker marked with
        `Job.delete_later()`: the driver removes it from storage in the same round trip or
        transaction as this reservation, whether or not a job is found. This is how the
        worker reaches several times Laravel's throughput without changing what is stored.
        """

    def flush_acks(self, jobs: list[Job]) -> None:
        """Remove jobs marked `delete_later()` that no pop has carried (worker stopping)."""
        for job in jobs:
            job._delete_from_backend()

    @abstractmethod
    def size(self, queue: str | None = None) -> int: ...

    def pending_size(self, queue: str | None = None) -> int | None:
        return None

    def delayed_size(self, queue: str | None = None) -> int | None:
        return None

    def reserved_size(self, queue: str | None = None) -> int | None:
        return None

    def creation_time_of_oldest_pending_job(self, queue: str | None = None) -> int | None:
        return None

    @abstractmethod
    def clear(self, queue: str | None = None) -> int:
        """Delete every job of the queue; returns how many there were."""

    def close(self) -> None:
        """Release network resources."""
