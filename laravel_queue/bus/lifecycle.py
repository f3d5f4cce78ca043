"""The bus features the worker runs around every job, in CallQueuedHandler's order (spec §9).

Success (§9.1 steps 3-5): until-processing unique lock released before the handler;
after it, the `ShouldBeUnique` lock released unless the job was released; then, if
the job neither failed nor was released, the next chained job dispatched and the
batch success recorded. Failure (§9.3 step 4): unique lock released (unless
until-processing), batch failure recorded, chain catch callbacks. Failure-side work
never raises into the worker: each step is logged and the next one still runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from laravel_queue.bus.batches import BatchCallbacks, Batches
from laravel_queue.bus.chains import ChainCallbacks, Chains
from laravel_queue.bus.unique import UniqueLocks
from laravel_queue.job import CALL_QUEUED_HANDLER, InvalidPayloadError, Job
from laravel_queue.worker.lifecycle import JobLifecycle

log = logging.getLogger("laravel_queue.bus")


@dataclass
class DecodedCommand:
    """Stand-in for a PreparedJob when a job failed before it was prepared."""

    command: Any
    handler: Any = None


class BusLifecycle(JobLifecycle):
    """Unique locks, chains and batches, called in Laravel's order."""

    def __init__(
        self,
        connections: Any,
        *,
        registry: Any = None,
        batch_callbacks: BatchCallbacks | None = None,
        chain_callbacks: ChainCallbacks | None = None,
    ) -> None:
        if registry is None:
            from laravel_queue.registry import default_registry

            registry = default_registry
        self.connections = connections
        self.registry = registry
        self.unique = UniqueLocks(connections, registry)
        self.chains = Chains(connections, registry, chain_callbacks)
        self.batches = Batches(connections, batch_callbacks)

    def before_handle(self, job: Job, prepared: Any) -> None:
        job.connections = self.connections  # what the job's middleware reach the cache through
        self.unique.before_handle(job, prepared)
        self.batches.before_handle(job, prepared)

    def after_handle(self, job: Job, prepared: Any) -> None:
        self.unique.after_handle(job, prepared)
        if job.has_failed() or job.is_released():
            return
        self.chains.after_handle(job, prepared)
        self.batches.after_handle(job, prepared)

    def after_failure(self, job: Job, prepared: Any | None, exc: BaseException | None) -> None:
        try:
            _ = job.payload
        except InvalidPayloadError:
            return  # no unique key, batch or chain can be read from an unreadable payload
        if prepared is None:
            prepared = self._decode(job)
        for part in (self.unique, self.batches, self.chains):
            try:
                part.after_failure(job, prepared, exc)
            except Exception as step_exc:
                log.error(
                    "failure bookkeeping (%s) for job %s did not complete: %s",
                    type(part).__name__,
                    _safe_uuid(job),
                    step_exc,
                    exc_info=True,
                )

    def with_connections(self, connections: Any) -> BusLifecycle:
        return BusLifecycle(
            connections,
            registry=self.registry,
            batch_callbacks=self.batches.callbacks,
            chain_callbacks=self.chains.callbacks,
        )

    def _decode(self, job: Job) -> DecodedCommand | None:
        """The command of a job that failed before it was prepared (max attempts, bad command...)."""
        try:
            payload = job.payload
        except Exception:
            return None
        if payload.get("job") != CALL_QUEUED_HANDLER:
            return DecodedCommand(payload.get("data"))
        try:
            from laravel_queue.payload_codec import decode_command

            return DecodedCommand(decode_command(job, self._encrypter()))
        except Exception as exc:
            log.warning("command of failed job %s cannot be decoded (%s); using its payload only", _safe_uuid(job), exc)
            return None

    def _encrypter(self) -> Any:
        settings = self.connections.settings
        if settings.app.key is None:
            return None
        from laravel_queue.bus.encryption import Encrypter

        return Encrypter.from_settings(settings)


def lifecycle_for(connections: Any, registry: Any = None) -> JobLifecycle:
    """The worker's bus lifecycle: unique locks, chains and batches over these connections.

    `registry` (default: the default registry) supplies the declared knobs of job classes
    for jobs that fail before they are prepared and for the next job of a chain."""
    return BusLifecycle(connections, registry=registry)


def _safe_uuid(job: Job) -> str:
    try:
        return str(job.uuid or job.job_id)
    except Exception:
        return "?"
