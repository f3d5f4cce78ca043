"""`failed_jobs` in SQL: Laravel's DatabaseUuidFailedJobProvider and DatabaseFailedJobProvider.

Same columns, same value formats (`failed_at` as 'Y-m-d H:i:s' in the app timezone), same
ordering, so `php artisan queue:failed` / `queue:retry` read rows written here and the reverse.
"""

from __future__ import annotations

import json
import time
import uuid as uuid_module
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from laravel_queue.db import Database
from laravel_queue.failed.base import FailedJob, FailedJobProvider

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_PRUNE_CHUNK = 1000


def as_utf8(text: str) -> str:
    """PHP's mb_convert_encoding(..., 'UTF-8'): whatever cannot be encoded becomes '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def payload_uuid(payload: str) -> str:
    """The payload's uuid; a new one when the payload has none (unreadable jobs are still recorded)."""
    try:
        decoded = json.loads(payload)
    except (ValueError, RecursionError):
        decoded = None
    uuid = decoded.get("uuid") if isinstance(decoded, dict) else None
    if not isinstance(uuid, str) or not uuid:
        return str(uuid_module.uuid4())
    return uuid


class _SqlFailedJobProvider(FailedJobProvider):
    """What both SQL providers share; `key_column` is `uuid` or `id`."""

    key_column = "id"

    def __init__(
        self,
        db: Database,
        table: str = "failed_jobs",
        *,
        timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
        name_limit: int | None = None,
    ) -> None:
        self.db = db
        self.table_name = table
        self.name_limit = name_limit  # Laravel 13: connection/queue are string(255)
        self.tz = ZoneInfo(timezone)
        self.clock = clock

    @property
    def _t(self) -> str:
        return self.db.table(self.table_name)

    def _q(self, name: str) -> str:
        return self.db.quote_identifier(name)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), self.tz)

    def _format(self, moment: datetime) -> str:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        return moment.astimezone(self.tz).strftime(DATE_FORMAT)

    def _record(self, row: dict[str, Any]) -> FailedJob:
        failed_at = row["failed_at"]
        if isinstance(failed_at, str):
            failed_at = datetime.strptime(failed_at[:19], DATE_FORMAT)
        if failed_at.tzinfo is None:
            failed_at = failed_at.replace(tzinfo=self.tz)
        uuid = row.get("uuid")
        return FailedJob(
            id=row[self.key_column],
            uuid=uuid,
            connection=str(row["connection"]),
            queue=str(row["queue"]),
            payload=str(row["payload"]),
            exception=str(row["exception"]),
            failed_at=failed_at,
        )

    def _insert_params(self, connection: str, queue: str, payload: str, exception: str) -> dict[str, Any]:
        return {
            "connection": connection[: self.name_limit],
            "queue": queue[: self.name_limit],
            "payload": payload,
            "exception": as_utf8(exception),
            "failed_at": self._format(self.now()),
        }

    def all(self) -> list[FailedJob]:
        rows = self.db.fetch_all(f"select * from {self._t} order by {self._q('id')} desc")
        return [self._record(row) for row in rows]

    def ids(self, queue: str | None = None) -> list[str | int]:
        key = self._q(self.key_column)
        if queue is None:
            rows = self.db.fetch_all(f"select {key} from {self._t} order by {self._q('id')} desc")
        else:
            rows = self.db.fetch_all(
                f"select {key} from {self._t} where {self._q('queue')} = ? order by {self._q('id')} desc", (queue,)
            )
        return [row[self.key_column] for row in rows]

    def find(self, id: str | int) -> FailedJob | None:
        row = self.db.fetch_one(f"select * from {self._t} where {self._q(self.key_column)} = ? limit 1", (id,))
        return None if row is None else self._record(row)

    def forget(self, id: str | int) -> bool:
        return self.db.execute(f"delete from {self._t} where {self._q(self.key_column)} = ?", (id,)) > 0

    def flush(self, hours: int | None = None) -> int:
        if not hours:
            return self.db.execute(f"delete from {self._t}")
        cutoff = self._format(self.now() - timedelta(hours=hours))
        return self.db.execute(f"delete from {self._t} where {self._q('failed_at')} <= ?", (cutoff,))

    def prune(self, before: datetime) -> int:
        """Delete rows with failed_at < before, 1000 at a time (Laravel's chunked delete)."""
        cutoff = self._format(before)
        failed_at, id_ = self._q("failed_at"), self._q("id")
        if self.db.dialect == "mysql":
            sql = f"delete from {self._t} where {failed_at} < ? limit {_PRUNE_CHUNK}"
        else:
            sql = (
                f"delete from {self._t} where {id_} in "
                f"(select {id_} from {self._t} where {failed_at} < ? limit {_PRUNE_CHUNK})"
            )
        total = 0
        while True:
            deleted = self.db.execute(sql, (cutoff,))
            total += deleted
            if deleted == 0:
                return total


class DatabaseUuidFailedJobProvider(_SqlFailedJobProvider):
    """Driver `database-uuids` (Laravel's default): records keyed by the payload uuid."""

    key_column = "uuid"

    def log(self, connection: str, queue: str, payload: str, exception: str) -> str:
        uuid = payload_uuid(payload)
        values = {"uuid": uuid, **self._insert_params(connection, queue, payload, exception)}
        columns = ", ".join(self._q(c) for c in values)
        placeholders = ", ".join("?" for _ in values)
        self.db.execute(f"insert into {self._t} ({columns}) values ({placeholders})", tuple(values.values()))
        return uuid


class DatabaseFailedJobProvider(_SqlFailedJobProvider):
    """Driver `database` (legacy table without `uuid`): records keyed by the row id."""

    key_column = "id"

    def log(self, connection: str, queue: str, payload: str, exception: str) -> int:
        values = self._insert_params(connection, queue, payload, exception)
        columns = ", ".join(self._q(c) for c in values)
        placeholders = ", ".join("?" for _ in values)
        return self.db.insert_get_id(
            f"insert into {self._t} ({columns}) values ({placeholders})", tuple(values.values())
        )

    def find(self, id: str | int) -> FailedJob | None:
        return super().find(_int_id(id))

    def forget(self, id: str | int) -> bool:
        return super().forget(_int_id(id))


def _int_id(id: str | int) -> int:
    try:
        return int(id)
    except (TypeError, ValueError):
        raise ValueError(f"failed job id must be an integer for the `database` driver, got {id!r}") from None
