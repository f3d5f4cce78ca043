"""Job batches: the `job_batches` bookkeeping Laravel's worker does (spec §11.2, §11.3).

On success of a batched job the batch row's `pending_jobs` drops by one (and the
job's uuid leaves `failed_job_ids`); on a permanent failure `failed_jobs` grows and
the uuid is added; the first failure cancels a batch that does not allow failures.
Every update locks the row (`SELECT ... FOR UPDATE` in a transaction; SQLite:
`BEGIN IMMEDIATE`), so PHP and Python workers can share one batch.

The batch's then/catch/finally/progress/failure callbacks are PHP closures; the
Python worker never runs, drops or rewrites them (decision 1). It makes every state
change PHP makes, calls the Python callbacks registered for the batch name with
`on_batch("name", then=..., catch=..., finally_=...)`, and logs one structured
warning naming the PHP callbacks it could not run.

This module is the worker's side (the `Batches` lifecycle step); the record, the
table and the callback registry live in `batch_record`, `batch_repository` and
`batch_callbacks`, and are re-exported here under their old names.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from laravel_queue.bus.batch_callbacks import (
    BatchCallback,
    BatchCallbacks,
    BatchHooks,
    call_hook,
    default_batch_callbacks,
    on_batch,
)
from laravel_queue.bus.batch_record import PHP_CALLBACK_KINDS, Batch, BatchCounts
from laravel_queue.bus.batch_repository import BatchRepository, unserialize_options
from laravel_queue.job import Job
from laravel_queue.php import PhpObject
from laravel_queue.worker.lifecycle import JobLifecycle

log = logging.getLogger("laravel_queue.bus.batches")

__all__ = [
    "PHP_CALLBACK_KINDS",
    "Batch",
    "BatchCallback",
    "BatchCallbacks",
    "BatchCounts",
    "BatchHooks",
    "BatchRepository",
    "Batches",
    "batch_id_of",
    "batch_of",
    "default_batch_callbacks",
    "on_batch",
    "unserialize_options",
]


def batch_of(job: Job) -> Batch | None:
    """The batch of a running job (Laravel's `$this->batch()`), freshly read; None if not batched."""
    batch: Batch | None = job.batch()
    return batch


def batch_id_of(job: Job, command: Any) -> str | None:
    """The command's `batchId` property (Batchable), else the payload's `data.batchId` (12.51+)."""
    value = command.properties.get("batchId") if isinstance(command, PhpObject) else None  # public
    if not isinstance(value, str) or not value:
        value = job.batch_id
    return value if isinstance(value, str) and value else None


class Batches(JobLifecycle):
    """Records batch successes and failures (SkipIfBatchCancelled is a middleware: laravel_queue.middleware)."""

    def __init__(self, connections: Any, callbacks: BatchCallbacks | None = None) -> None:
        self.connections = connections
        self.callbacks = callbacks or default_batch_callbacks
        self._repository: BatchRepository | None = None

    @property
    def repository(self) -> BatchRepository:
        if self._repository is None:
            self._repository = BatchRepository.from_connections(self.connections)
        return self._repository

    def before_handle(self, job: Job, prepared: Any) -> None:
        batch_id = batch_id_of(job, prepared.command)
        if batch_id is None:
            return
        if job.run is not None:  # the job's run reads its batch from now on (Job.batch())
            job.run.batch = functools.partial(self.repository.find, batch_id)

    def after_handle(self, job: Job, prepared: Any) -> None:
        if job.has_failed() or job.is_released():
            return
        batch_id = batch_id_of(job, prepared.command)
        if batch_id is not None and job.uuid:
            self.record_successful_job(batch_id, job.uuid)

    def after_failure(self, job: Job, prepared: Any | None, exc: BaseException | None) -> None:
        command = prepared.command if prepared is not None else None
        batch_id = batch_id_of(job, command)
        if batch_id is not None and job.uuid:
            self.record_failed_job(batch_id, job.uuid, exc)

    # -- Laravel's Batch::recordSuccessfulJob / recordFailedJob ----------------------------------
    def record_successful_job(self, batch_id: str, job_uuid: str) -> BatchCounts | None:
        batch = self.repository.find(batch_id)
        if batch is None:
            return None
        counts = self.repository.decrement_pending_jobs(batch_id, job_uuid)
        if counts is None:
            return None
        due = ["progress"]
        if counts.pending_jobs == 0:
            self.repository.mark_as_finished(batch_id)
            due.append("then")
        if counts.all_jobs_have_ran_exactly_once():
            due.append("finally")
        self._run_callbacks(batch, due, None)
        return counts

    def record_failed_job(self, batch_id: str, job_uuid: str, exc: BaseException | None) -> BatchCounts | None:
        batch = self.repository.find(batch_id)
        if batch is None:
            return None
        counts = self.repository.increment_failed_jobs(batch_id, job_uuid)
        if counts is None:
            return None
        if counts.failed_jobs == 1 and not batch.allows_failures():
            self.repository.cancel(batch_id)
        due = ["progress", "failure"] if batch.allows_failures() else []
        if counts.failed_jobs == 1:
            due.append("catch")
        if counts.all_jobs_have_ran_exactly_once():
            due.append("finally")
        self._run_callbacks(batch, due, exc)
        return counts

    def _run_callbacks(self, batch: Batch, kinds: list[str], exc: BaseException | None) -> None:
        """Python callbacks for these moments, and one warning naming the PHP ones not run."""
        hooks = self.callbacks.for_batch(batch.name)
        fresh: Batch | None = None
        skipped: dict[str, int] = {}
        for kind in kinds:
            if batch.php_callbacks(kind):
                skipped[kind] = batch.php_callbacks(kind)
            for callback in hooks.of(kind):
                fresh = fresh or batch.fresh()
                call_hook(callback, fresh, exc)
        if skipped:
            names = ", ".join(f"{kind} ({count})" for kind, count in skipped.items())
            log.warning(
                "batch %s [%s]: PHP closures not run by the Python worker: %s",
                batch.id,
                batch.name,
                names,
                extra={
                    "laravel_queue_event": "php_batch_callbacks_not_run",
                    "batch_id": batch.id,
                    "batch_name": batch.name,
                    "callbacks": skipped,
                },
            )
