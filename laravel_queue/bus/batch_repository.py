"""The `job_batches` table: Laravel's DatabaseBatchRepository over `laravel_queue.db.Database`.

Separate from the worker's bookkeeping because `queue:prune-batches`, `queue:retry-batch`
and the SkipIfBatchCancelled middleware read and write the same rows without running
jobs. Every counter update locks the row (`SELECT ... FOR UPDATE` in a transaction;
SQLite: `BEGIN IMMEDIATE`), so PHP and Python workers can share one batch.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from laravel_queue.bus.batch_record import Batch, BatchCounts
from laravel_queue.payload_codec import php_json_encode_escaped
from laravel_queue.php import PhpUnserializeError, loads

log = logging.getLogger("laravel_queue.bus.batches")  # one logger for the whole batches feature


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
