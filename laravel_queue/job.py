"""The reserved-job handle: Laravel's `Illuminate\\Queue\\Jobs\\Job` in Python.

Drivers subclass `Job` and implement the two storage operations
(`_delete_from_backend`, `_release_to_backend`) and `attempts()`; everything a
handler or the worker reads from the payload lives here once.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from laravel_queue.errors import PayloadError

CALL_QUEUED_HANDLER = "Illuminate\\Queue\\CallQueuedHandler@call"


class InvalidPayloadError(PayloadError, ValueError):
    """The stored job body is not a Laravel payload (bad JSON or not an object)."""


class Job(ABC):
    """One reserved job, with Laravel's flags and payload readers."""

    def __init__(self, *, raw_body: str, queue: str, connection_name: str) -> None:
        self.raw_body = raw_body
        self.queue = queue
        self.connection_name = connection_name
        self._payload: dict[str, Any] | None = None
        self._deleted = False
        self._released = False
        self._failed = False
        self.on_fail: Callable[[Job, BaseException | None], None] | None = None
        """Set by the worker: the failure pipeline `fail()` runs (delete, hooks, failed_jobs)."""
        self.run: Any = None
        """Set by the worker: this job's `JobRun` (prepared command, batch, deferred delete)."""
        self.connections: Any = None
        """Set by the bus lifecycle: the Connections running this job (middleware use its cache)."""

    # -- storage operations, per driver -------------------------------------------------
    @abstractmethod
    def attempts(self) -> int:
        """The number of this attempt, 1-based (counted at reservation)."""

    @property
    @abstractmethod
    def job_id(self) -> str | int | None:
        """Driver job id: Redis payload id, jobs.id, or SQS MessageId."""

    @abstractmethod
    def _delete_from_backend(self) -> None: ...

    @abstractmethod
    def _release_to_backend(self, delay: int) -> None: ...

    # -- Laravel's job API ----------------------------------------------------------------
    def delete(self) -> None:
        self._deleted = True
        self._delete_from_backend()

    def delete_later(self) -> None:
        """Mark deleted now; the worker hands the job to the next `Queue.pop(ack=...)`."""
        self._deleted = True

    def release(self, delay: int = 0) -> None:
        self._released = True
        self._release_to_backend(max(0, int(delay)))

    def fail(self, exc: BaseException | None = None) -> None:
        """Fail the job for good: Laravel's `Job::fail()` (the worker supplies the pipeline)."""
        if self.on_fail is not None:
            self.on_fail(self, exc)
            return
        self.mark_as_failed()
        if not self._deleted:
            self.delete()

    def mark_as_failed(self) -> None:
        self._failed = True

    def is_deleted(self) -> bool:
        return self._deleted

    def is_released(self) -> bool:
        return self._released

    def is_deleted_or_released(self) -> bool:
        return self._deleted or self._released

    def has_failed(self) -> bool:
        return self._failed

    def shed_body(self, *, acknowledged: bool = False) -> None:
        """Drop the body and the decoded `data` once the job's fate is decided and every listener ran.

        A huge payload is otherwise held (raw, decoded, parsed) until the next pop, past the
        worker's memory check. The envelope's small fields (uuid, id, displayName, attempts)
        stay readable for log lines. What the driver needs to delete the job later stays,
        unless `acknowledged` says the backend is already done with it (failed, released).
        """
        try:
            envelope = {key: value for key, value in self.payload.items() if key != "data"}
        except InvalidPayloadError:
            envelope = {}
        self._payload = envelope
        self.raw_body = ""

    # -- payload readers ------------------------------------------------------------------
    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            try:
                decoded = json.loads(self.raw_body)
            except (ValueError, TypeError) as exc:
                raise InvalidPayloadError(f"job payload is not valid JSON: {exc}") from None
            except RecursionError:
                raise InvalidPayloadError("job payload JSON is nested too deeply to decode") from None
            if not isinstance(decoded, dict):
                raise InvalidPayloadError(f"job payload is not a JSON object (got {type(decoded).__name__})")
            self._payload = decoded
        return self._payload

    @property
    def uuid(self) -> str | None:
        return self.payload.get("uuid")

    @property
    def display_name(self) -> str:
        """Laravel's `resolveName()`: displayName, else the job string."""
        payload = self.payload
        name = payload.get("displayName") or payload.get("job") or "Unknown"
        return str(name)

    @property
    def job_name(self) -> str:
        return str(self.payload.get("job", ""))

    @property
    def command_name(self) -> str | None:
        data = self.payload.get("data")
        return data.get("commandName") if isinstance(data, dict) else None

    @property
    def max_tries(self) -> int | None:
        return _int_or_none(self.payload.get("maxTries"))

    @property
    def max_exceptions(self) -> int | None:
        return _int_or_none(self.payload.get("maxExceptions"))

    @property
    def timeout(self) -> int | None:
        return _int_or_none(self.payload.get("timeout"))

    @property
    def retry_until(self) -> int | None:
        """`retryUntil`, or `timeoutAt` in payloads written before Laravel 8."""
        payload = self.payload
        value = payload.get("retryUntil")
        return _int_or_none(value if value is not None else payload.get("timeoutAt"))

    @property
    def fail_on_timeout(self) -> bool:
        return bool(self.payload.get("failOnTimeout", False))

    @property
    def backoff(self) -> str | None:
        """Payload `backoff`, else `delay` (12.11+ fallback), as Laravel's reader returns it."""
        payload = self.payload
        value = payload.get("backoff")
        if value is None:
            value = payload.get("delay")
        return None if value is None else str(value)

    def batch(self) -> Any:
        """Laravel's `$this->batch()`: the job's batch, freshly read, or None."""
        read = getattr(self.run, "batch", None)
        return read() if read is not None else None

    @property
    def batch_id(self) -> str | None:
        data = self.payload.get("data")
        return data.get("batchId") if isinstance(data, dict) else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.job_id!r} {self.connection_name}:{self.queue}>"


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
