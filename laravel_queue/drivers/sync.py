"""The `sync` driver: a pushed job runs at once, in the caller's process (Laravel's SyncQueue).

As in Laravel, nothing is stored: a job that raises is failed (its `failed()` hook
runs) and the exception reaches the code that dispatched it; no failed_jobs record
is written, because only `queue:work` writes those.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from laravel_queue.drivers.base import Queue
from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.config import QueueConnectionConfig
    from laravel_queue.resources import Resources


class SyncJob(Job):
    """A job that lives only for the duration of the push."""

    def __init__(self, *, raw_body: str, queue: str, connection_name: str) -> None:
        super().__init__(raw_body=raw_body, queue=queue, connection_name=connection_name)
        self._id = str(uuid.uuid4())

    def attempts(self) -> int:
        return 1

    @property
    def job_id(self) -> str:
        return self._id

    def _delete_from_backend(self) -> None:
        """Nothing is stored."""

    def _release_to_backend(self, delay: int) -> None:
        """Laravel's SyncJob::release does nothing either."""


class SyncQueue(Queue):
    """Runs each pushed job immediately through the handler registry."""

    def __init__(self, *, connection_name: str = "sync", registry: Any = None, encrypter: Any = None) -> None:
        super().__init__(connection_name=connection_name, default_queue="default")
        self.registry = registry
        self.encrypter = encrypter

    @classmethod
    def from_config(cls, connections: Resources, cfg: QueueConnectionConfig) -> SyncQueue:
        encrypter = None
        if connections.settings.app.key is not None:
            from laravel_queue.bus.encryption import Encrypter

            encrypter = Encrypter.from_settings(connections.settings)
        return cls(connection_name=cfg.name, encrypter=encrypter)

    def push_raw(self, payload: str, queue: str | None = None, *, delay: int = 0) -> str:
        registry = self.registry
        if registry is None:
            from laravel_queue.registry import default_registry

            registry = default_registry
        job = SyncJob(raw_body=payload, queue=self.get_queue(queue), connection_name=self.connection_name)
        prepared = registry.prepare(job, encrypter=self.encrypter)
        try:
            prepared.handle()
        except Exception as exc:
            job.mark_as_failed()
            prepared.failed(exc)
            raise
        if not job.is_deleted_or_released():
            job.delete()
        return job.job_id

    def pop(self, queue: str | None = None, index: int = 0, *, ack: Job | None = None) -> None:
        return None

    def size(self, queue: str | None = None) -> int:
        return 0

    def clear(self, queue: str | None = None) -> int:
        return 0
