"""The consumer side: a worker listener that keeps Horizon's books for the jobs Python runs.

It listens on two worker events: `reserved` (a job was popped) and `finished` (its fate
is decided: processed, released, failed, ...), and writes what Horizon's own listeners
write at those moments (spec horizon.md §5.2-5.6). Writes are bookkeeping: they come
after the queue step, take one round trip each, and a failing write is logged and
never changes what happens to the job.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from laravel_queue.failed.exception_text import format_exception
from laravel_queue.horizon.config import HorizonMode
from laravel_queue.horizon.store import HorizonStore, JobRecord
from laravel_queue.job import InvalidPayloadError, Job

log = logging.getLogger("laravel_queue.horizon")

COMPLETED_OUTCOMES = frozenset({"processed", "deleted"})
RELEASED_OUTCOMES = frozenset({"released", "released_after_exception"})


def job_record(payload: dict[str, Any], *, raw: str, connection: str, queue: str) -> JobRecord | None:
    """The Horizon identity of a payload (id = uuid, else id), or None if it has none."""
    job_id = payload.get("uuid") or payload.get("id")
    if not job_id:
        return None
    tags = payload.get("tags") or []
    if isinstance(tags, dict):  # an empty PHP array after Redis's cjson round trip is `{}`
        tags = list(tags.values())
    retry_of = payload.get("retry_of")
    return JobRecord(
        id=str(job_id),
        connection=connection,
        queue=queue,
        name=str(payload.get("displayName") or payload.get("job") or ""),
        payload=raw,
        tags=tuple(str(tag) for tag in tags if isinstance(tag, (str, int, float))) if isinstance(tags, list) else (),
        silenced=bool(payload.get("silenced")),
        retry_of=str(retry_of) if retry_of else None,
    )


def exception_context(exc: BaseException | None) -> str:
    """Horizon stores `json_encode($e->context())` when the exception has that method."""
    context = getattr(exc, "context", None)
    if not callable(context):
        return ""
    try:
        return json.dumps(context(), separators=(",", ":"), default=str)
    except Exception:  # a user's context() that fails must not lose the failure record
        return ""


class HorizonListener:
    """Worker listener: `attach(events)` adds it to the `reserved` and `finished` hooks."""

    def __init__(self, store: HorizonStore, mode: HorizonMode) -> None:
        self.store = store
        self.mode = mode

    def attach(self, events: Any) -> None:
        events.reserved.append(self.on_reserved)
        events.finished.append(self.on_finished)

    def _record(self, job: Job) -> JobRecord | None:
        reserved = getattr(job, "reserved", None)
        if not isinstance(reserved, bytes):  # not a Redis job: Horizon only runs Redis queues
            return None
        try:
            payload = job.payload
        except InvalidPayloadError:
            return None
        if self.mode.mode == "payload" and "pushedAt" not in payload:
            return None
        return job_record(
            payload, raw=reserved.decode("utf-8", "replace"), connection=job.connection_name, queue=job.queue
        )

    def on_reserved(self, job: Job) -> None:
        record = self._record(job)
        if record is None:
            return
        try:
            self.store.reserved(record.id, record.payload)
        except Exception as exc:
            _log_failure("reserved", record, exc)

    def on_finished(self, job: Job, outcome: str, runtime_ms: float, exc: BaseException | None) -> None:
        record = self._record(job)
        if record is None:
            return
        try:
            if outcome in COMPLETED_OUTCOMES:
                self.store.completed(record, runtime_ms)
            elif outcome in RELEASED_OUTCOMES:
                self.store.released(record.id, record.payload)
            elif outcome == "given_back":  # back on the queue as listed, attempt not used
                self.store.released(record.id, job.raw_body)
            elif outcome == "failed":
                text = format_exception(exc) if exc is not None else ""
                self.store.failed(record, text, exception_context(exc))
        except Exception as error:
            _log_failure(outcome, record, error)


def _log_failure(stage: str, record: JobRecord, exc: BaseException) -> None:
    log.warning(
        "Horizon bookkeeping for job %s (%s) failed: %s; the job itself is unaffected",
        record.id, stage, exc,
        extra={"laravel_queue_event": "horizon_write_failed", "job_id": record.id, "stage": stage},
    )
