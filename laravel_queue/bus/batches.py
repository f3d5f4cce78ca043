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
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from laravel_queue.bus.middleware import SKIP_IF_BATCH_CANCELLED, declares, middleware_of
from laravel_queue.job import Job
from laravel_queue.payload import php_json_encode_escaped
from laravel_queue.php import PhpObject, PhpUnserializeError, loads
from laravel_queue.worker.lifecycle import JobLifecycle

log = logging.getLogger("laravel_queue.bus.batches")

PHP_CALLBACK_KINDS = ("progress", "then", "catch", "failure", "finally")


# -- the batch record ---------------------------------------------------------------------------


@dataclass
class Batch:
    """One `job_batches` row, read as Laravel's `Batch` reads it."""

    id: str
    name: str
    total_jobs: int
    pending_jobs: int
    failed_jobs: int
    failed_job_ids: list[str]
    options: dict[Any, Any]
    created_at: int
    cancelled_at: int | None
    finished_at: int | None
    repository: BatchRepository | None = field(default=None, repr=False, compare=False)

    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def finished(self) -> bool:
        return self.finished_at is not None

    def allows_failures(self) -> bool:
        return self.options.get("allowFailures", False) is True

    def has_failures(self) -> bool:
        return self.failed_jobs > 0

    def processed_jobs(self) -> int:
        return self.total_jobs - self.pending_jobs

    def progress(self) -> int:
        """Percent processed, rounded as PHP's round() does (half away from zero)."""
        if self.total_jobs <= 0:
            return 0
        return int(self.processed_jobs() * 100 / self.total_jobs + 0.5)

    def php_callbacks(self, kind: str) -> int:
        """How many PHP callbacks of `kind` (then, catch, ...) the batch carries."""
        value = self.options.get(kind)
        if isinstance(value, (list, dict)):
            return len(value)
        return 0 if value is None else 1

    def fresh(self) -> Batch:
        """The batch re-read from storage (as callbacks receive it)."""
        if self.repository is None:
            return self
        return self.repository.find(self.id) or self

    def cancel(self) -> None:
        """Laravel's `$batch->cancel()`: sets cancelled_at and finished_at to now."""
        if self.repository is None:
            raise RuntimeError("this Batch is not attached to a repository")
        self.repository.cancel(self.id)


@dataclass(frozen=True)
class BatchCounts:
    """Laravel's UpdatedBatchJobCounts."""

    pending_jobs: int
    failed_jobs: int

    def all_jobs_have_ran_exactly_once(self) -> bool:
        return self.pending_jobs - self.failed_jobs == 0


# -- storage -------------------------------------------------------------------------------------


class BatchRepository:
    """Laravel's DatabaseBatchRepository over `laravel_queue.db.Database`."""

    def __init__(self, db: Any, table: str = "job_batches") -> None:
        self.db = db
        self.table_name = table

    @classmethod
    def from_connections(cls, connections: Any) -> BatchRepository:
        batching = connections.settings.queue.batching
        return cls(connections.db(batching.database), batching.table)

    @property
    def _table(self) -> str:
        return str(self.db.table(self.table_name))

    def _q(self, column: str) -> str:
        return str(self.db.quote_identifier(column))

    def find(self, batch_id: str) -> Batch | None:
        row = self.db.fetch_one(f"select * from {self._table} where {self._q('id')} = ? limit 1", (batch_id,))
        return None if row is None else self._to_batch(row)

    def decrement_pending_jobs(self, batch_id: str, job_id: str) -> BatchCounts | None:
        def change(row: Mapping[str, Any]) -> tuple[int, int, list[str]]:
            ids = [i for i in _json_ids(row["failed_job_ids"]) if i != job_id]
            return int(row["pending_jobs"]) - 1, int(row["failed_jobs"]), ids

        return self._update_atomic(batch_id, change)

    def increment_failed_jobs(self, batch_id: str, job_id: str) -> BatchCounts | None:
        def change(row: Mapping[str, Any]) -> tuple[int, int, list[str]]:
            ids = list(dict.fromkeys([*_json_ids(row["failed_job_ids"]), job_id]))  # array_unique keeps the first
            return int(row["pending_jobs"]), int(row["failed_jobs"]) + 1, ids

        return self._update_atomic(batch_id, change)

    def _update_atomic(
        self, batch_id: str, change: Callable[[Mapping[str, Any]], tuple[int, int, list[str]]]
    ) -> BatchCounts | None:
        """Lock the row, compute the new counters from it, write them: Laravel's updateAtomicValues."""
        lock = "" if self.db.dialect == "sqlite" else " for update"
        select = f"select * from {self._table} where {self._q('id')} = ? limit 1{lock}"
        update = (
            f"update {self._table} set {self._q('pending_jobs')} = ?, {self._q('failed_jobs')} = ?, "
            f"{self._q('failed_job_ids')} = ? where {self._q('id')} = ?"
        )

        def run() -> BatchCounts | None:
            row = self.db.fetch_one(select, (batch_id,))
            if row is None:
                return None
            pending, failed, ids = change(row)
            self.db.execute(update, (pending, failed, php_json_encode_escaped(ids), batch_id))
            return BatchCounts(pending, failed)

        result: BatchCounts | None = self.db.run_transaction(run)
        return result

    def mark_as_finished(self, batch_id: str) -> None:
        self.db.execute(
            f"update {self._table} set {self._q('finished_at')} = ? where {self._q('id')} = ?",
            (int(time.time()), batch_id),
        )

    def cancel(self, batch_id: str) -> None:
        now = int(time.time())
        self.db.execute(
            f"update {self._table} set {self._q('cancelled_at')} = ?, {self._q('finished_at')} = ? "
            f"where {self._q('id')} = ?",
            (now, now, batch_id),
        )

    def _to_batch(self, row: Mapping[str, Any]) -> Batch:
        return Batch(
            id=str(row["id"]),
            name=str(row["name"] or ""),
            total_jobs=int(row["total_jobs"]),
            pending_jobs=int(row["pending_jobs"]),
            failed_jobs=int(row["failed_jobs"]),
            failed_job_ids=_json_ids(row["failed_job_ids"]),
            options=unserialize_options(row.get("options"), self.db.dialect),
            created_at=int(row["created_at"]),
            cancelled_at=_int_or_none(row.get("cancelled_at")),
            finished_at=_int_or_none(row.get("finished_at")),
            repository=self,
        )


def unserialize_options(raw: Any, dialect: str) -> dict[Any, Any]:
    """The `options` column: PHP serialize(array), base64-encoded on PostgreSQL; unreadable -> {}."""
    if raw is None or raw == "":
        return {}
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
    try:
        data: Any = text
        if dialect == "pgsql" and ":" not in text and ";" not in text:
            data = base64.b64decode(text)
        value = loads(data)
    except (PhpUnserializeError, ValueError) as exc:
        log.warning("job_batches.options is not PHP-serialized (%s); read as empty, as Laravel does", exc)
        return {}
    if isinstance(value, dict):
        return value
    return {}  # a[] (no options) decodes to an empty list


def _json_ids(raw: Any) -> list[str]:
    """`(array) json_decode($batch->failed_job_ids, true)`."""
    if raw is None or raw == "":
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return [] if value is None else [str(value)]
    return [str(v) for v in value]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# -- Python callbacks ---------------------------------------------------------------------------

BatchCallback = Callable[..., Any]


@dataclass
class BatchHooks:
    """Python callbacks for one batch name, called where PHP would call that batch's closures."""

    then: list[BatchCallback] = field(default_factory=list)
    catch: list[BatchCallback] = field(default_factory=list)
    finally_: list[BatchCallback] = field(default_factory=list)
    progress: list[BatchCallback] = field(default_factory=list)
    failure: list[BatchCallback] = field(default_factory=list)

    def of(self, kind: str) -> list[BatchCallback]:
        return self.finally_ if kind == "finally" else list(getattr(self, kind))


class BatchCallbacks:
    """Batch name -> Python callbacks."""

    def __init__(self) -> None:
        self._hooks: dict[str, BatchHooks] = {}

    def on_batch(
        self,
        name: str,
        *,
        then: BatchCallback | None = None,
        catch: BatchCallback | None = None,
        finally_: BatchCallback | None = None,
        progress: BatchCallback | None = None,
        failure: BatchCallback | None = None,
    ) -> BatchHooks:
        hooks = self._hooks.setdefault(name, BatchHooks())
        given = {"then": then, "catch": catch, "finally_": finally_, "progress": progress, "failure": failure}
        for attribute, callback in given.items():
            if callback is None:
                continue
            if not callable(callback):
                raise TypeError(f"on_batch({name!r}, {attribute}=...) needs a callable, got {callback!r}")
            getattr(hooks, attribute).append(callback)
        return hooks

    def for_batch(self, name: str) -> BatchHooks:
        return self._hooks.get(name) or BatchHooks()

    def clear(self) -> None:
        self._hooks.clear()


default_batch_callbacks = BatchCallbacks()


def on_batch(
    name: str,
    *,
    then: BatchCallback | None = None,
    catch: BatchCallback | None = None,
    finally_: BatchCallback | None = None,
    progress: BatchCallback | None = None,
    failure: BatchCallback | None = None,
    callbacks: BatchCallbacks | None = None,
) -> BatchHooks:
    """Run Python code when a batch named `name` reaches then/catch/finally/progress/failure.

    Callbacks get the fresh `Batch` (and the exception, if they take a second argument).
    """
    return (callbacks or default_batch_callbacks).on_batch(
        name, then=then, catch=catch, finally_=finally_, progress=progress, failure=failure
    )


def _call_hook(callback: BatchCallback, batch: Batch, exc: BaseException | None) -> None:
    """Call with (batch, exc) when the callback takes two arguments, else (batch); never raise."""
    try:
        try:
            params = inspect.signature(callback).parameters.values()
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            takes_two = len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):
            takes_two = False
        if takes_two:
            callback(batch, exc)
        else:
            callback(batch)
    except Exception:  # Laravel reports and swallows callback exceptions
        log.exception("batch callback %r for batch %s raised", callback, batch.id)


# -- the worker's part ------------------------------------------------------------------------------

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
    """Records batch successes and failures and honours SkipIfBatchCancelled."""

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
        options = getattr(prepared.handler, "options", None)
        if declares(middleware_of(prepared.command, options), SKIP_IF_BATCH_CANCELLED):
            batch = self.repository.find(batch_id)
            if batch is not None and batch.cancelled():
                log.info("batch %s is cancelled: %s skipped (SkipIfBatchCancelled)", batch_id, job.display_name)
                # The middleware ends the pipeline without calling the handler; the job then
                # counts as done (unique lock released, chain continued, batch success recorded).
                prepared.handle = _skipped
                if job.run is not None:
                    job.run.skipped = "batch cancelled"

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
                _call_hook(callback, fresh, exc)
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


def _skipped() -> None:
    """The handler stand-in for a job SkipIfBatchCancelled skips."""
    return None
