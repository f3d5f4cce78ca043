"""Jobs whose queued models are gone: Laravel's CallQueuedHandler::handleModelNotFound.

Restoring a job's models (PHP: while unserializing; Python: `ModelResolver` inside the
handler) raises `ModelNotFoundError` when a row was deleted meanwhile. Laravel 13 then
reads ONLY the payload's `deleteWhenMissingModels` (absent, as in 12.x payloads, means
false): true deletes the job and records it as a successful batch job, false fails it at
once (no retry). Either way the unique lock named in the hidden context is force-released
first, as the command could not be restored to ask it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from laravel_queue import compat
from laravel_queue.bus.batches import Batches, batch_id_of
from laravel_queue.bus.unique import UniqueLockRef, UniqueLocks, context_lock
from laravel_queue.job import Job

log = logging.getLogger("laravel_queue.bus.missing_models")

PAYLOAD_FLAG = "deleteWhenMissingModels"


def delete_when_missing(payload: dict[str, Any]) -> bool:
    """The payload's flag; a missing key (12.x payloads) is false."""
    return payload.get(PAYLOAD_FLAG) is True


class MissingModels:
    """The worker's step for a `ModelNotFoundError` from restoring a job's models (Laravel 13)."""

    def __init__(self, connections: Any) -> None:
        self.connections = connections

    def applies(self) -> bool:
        """Only Laravel 13's rule lives here; before 13 the exception takes the usual path."""
        return compat.payload_has_delete_when_missing_models(self.connections.settings.laravel_version)

    def handle(self, job: Job, exc: BaseException, *, delete: Callable[[Job], None], fail: Callable[..., None]) -> None:
        """Release the context's unique lock, then delete (batch success) or fail the job."""
        self._release_context_lock(job)
        if not delete_when_missing(job.payload):
            fail(job, exc)
            return
        batch_id = batch_id_of(job, None)
        if batch_id is not None and job.uuid:
            try:
                Batches(self.connections).record_successful_job(batch_id, job.uuid)
            except Exception as batch_exc:
                log.error("batch %s: success of job %s not recorded: %s", batch_id, job.uuid, batch_exc)
        log.info("%s deleted: its models no longer exist (deleteWhenMissingModels)", job.display_name)
        delete(job)

    def _release_context_lock(self, job: Job) -> None:
        found = context_lock(job.payload)
        if found is None:
            return
        store, key = found
        try:
            UniqueLocks(self.connections).release(UniqueLockRef(store, key, "unique"))
        except Exception as lock_exc:
            log.error("unique lock %s of job %s not released: %s", key, job.uuid, lock_exc)
