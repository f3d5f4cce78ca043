"""Laravel's `DynamoDbFailedJobProvider`: failed jobs as items of one DynamoDB table.

Items are keyed like Laravel's (partition key `application` = `app.name`, sort key
`uuid`) with the same attributes, so `php artisan queue:failed` and this package read
each other's records. Laravel refuses `flush` on DynamoDB (it relies on a TTL on
`expires_at`); here `flush` and `prune` delete the matching items, because asking for
it is the user's explicit intent and leaves the TTL working as before.
"""

from __future__ import annotations

import json
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from laravel_queue.drivers.aws import aws_client, aws_errors
from laravel_queue.errors import ServiceConnectionError
from laravel_queue.failed.base import FailedJob, FailedJobProvider

if TYPE_CHECKING:
    from laravel_queue.resources import Resources

RETENTION_SECONDS = 7 * 24 * 3600
"""`expires_at` = `failed_at` + 7 days, for a DynamoDB TTL on that attribute (Laravel 11+)."""
WRITE_BATCH_SIZE = 25
"""Requests per `BatchWriteItem` call (the DynamoDB maximum)."""


class DynamoDbFailedJobError(ServiceConnectionError, RuntimeError):
    """A DynamoDB call that failed; names the operation, the table and AWS's error code."""

    def __init__(self, operation: str, table: str, code: str, message: str) -> None:
        self.operation = operation
        self.table = table
        self.code = code
        super().__init__(f"DynamoDB {operation} on table {table} failed: [{code}] {message}".rstrip())


class DynamoDbFailedJobProvider(FailedJobProvider):
    """Failed jobs stored per application in a DynamoDB table (`queue.failed.driver=dynamodb`)."""

    def __init__(
        self,
        client: Any,
        table: str,
        application: str,
        *,
        timezone: str | tzinfo = "UTC",
        clock: Callable[[], float] = time.time,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.table = table
        self.application = application
        self.timezone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.clock = clock
        self._secrets = secrets

    @classmethod
    def from_config(cls, connections: Resources) -> DynamoDbFailedJobProvider:
        """Build from `queue.failed` (table, region, key, secret, endpoint) and `app.name`."""
        settings = connections.settings
        cfg = settings.queue.failed
        client = aws_client("dynamodb", region=cfg.region, key=cfg.key, secret=cfg.secret, endpoint=cfg.endpoint)
        secrets = tuple(s.get_secret_value() for s in (cfg.key, cfg.secret) if s is not None)
        return cls(client, cfg.table, settings.app.name, timezone=settings.app.timezone, secrets=secrets)

    def _call(self, operation: str) -> Any:
        return aws_errors(operation, self.table, self._secrets, DynamoDbFailedJobError)

    def _key(self, id: str | int) -> dict[str, Any]:
        return {"application": {"S": self.application}, "uuid": {"S": str(id)}}

    # -- FailedJobProvider -------------------------------------------------------------------
    def log(self, connection: str, queue: str, payload: str, exception: str) -> str:
        """PutItem as Laravel does; the id is the payload's `uuid` (a new one if it has none)."""
        job_uuid = _payload_uuid(payload) or str(uuidlib.uuid4())
        failed_at = int(self.clock())
        item = {
            **self._key(job_uuid),
            "connection": {"S": connection},
            "queue": {"S": queue},
            "payload": {"S": payload},
            "exception": {"S": exception},
            "failed_at": {"N": str(failed_at)},
            "expires_at": {"N": str(failed_at + RETENTION_SECONDS)},
        }
        with self._call("PutItem"):
            self.client.put_item(TableName=self.table, Item=item)
        return job_uuid

    def all(self) -> list[FailedJob]:
        """Every record of this application, newest `failed_at` first."""
        jobs = [self._record(item) for item in self._query()]
        return sorted(jobs, key=lambda job: job.failed_at, reverse=True)

    def find(self, id: str | int) -> FailedJob | None:
        with self._call("GetItem"):
            response = self.client.get_item(TableName=self.table, Key=self._key(id), ConsistentRead=True)
        item = response.get("Item")
        return self._record(item) if item else None

    def forget(self, id: str | int) -> bool:
        """DeleteItem; True when a record was there."""
        with self._call("DeleteItem"):
            response = self.client.delete_item(TableName=self.table, Key=self._key(id), ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    def flush(self, hours: int | None = None) -> int:
        """Delete every record, or those that failed at least `hours` ago."""
        if hours is None:
            return self._delete_where(None)
        return self._delete_where(lambda failed_at: failed_at <= int(self.clock()) - hours * 3600)

    def prune(self, before: datetime) -> int:
        """Delete records that failed before `before` (naive datetimes are in the app timezone)."""
        moment = before if before.tzinfo else before.replace(tzinfo=self.timezone)
        cutoff = moment.timestamp()
        return self._delete_where(lambda failed_at: failed_at < cutoff)

    # -- helpers ------------------------------------------------------------------------------
    def _query(self, projection: str | None = None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#app = :application",
            "ExpressionAttributeNames": {"#app": "application"},
            "ExpressionAttributeValues": {":application": {"S": self.application}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if projection:
            params["ProjectionExpression"] = projection
            params["ExpressionAttributeNames"] |= {"#uuid": "uuid", "#failed_at": "failed_at"}
        while True:
            with self._call("Query"):
                response = self.client.query(**params)
            yield from response.get("Items", [])
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return
            params["ExclusiveStartKey"] = last_key

    def _delete_where(self, matches: Callable[[int], bool] | None) -> int:
        doomed = [
            item["uuid"]["S"]
            for item in self._query("#uuid, #failed_at")
            if matches is None or matches(int(item.get("failed_at", {}).get("N", "0")))
        ]
        for start in range(0, len(doomed), WRITE_BATCH_SIZE):
            requests = [{"DeleteRequest": {"Key": self._key(id)}} for id in doomed[start : start + WRITE_BATCH_SIZE]]
            self._batch_write(requests)
        return len(doomed)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem, resending what DynamoDB left unprocessed (throttling) with backoff."""
        pending = {self.table: requests}
        for attempt in range(8):
            with self._call("BatchWriteItem"):
                response = self.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(2.0, 0.05 * 2**attempt))
        raise DynamoDbFailedJobError(
            "BatchWriteItem", self.table, "UnprocessedItems", "DynamoDB kept deferring deletes; try again"
        )

    def _record(self, item: dict[str, Any]) -> FailedJob:
        job_uuid = item["uuid"]["S"]
        failed_at = datetime.fromtimestamp(int(item["failed_at"]["N"]), tz=self.timezone)
        return FailedJob(
            id=job_uuid,
            uuid=job_uuid,
            connection=item.get("connection", {}).get("S", ""),
            queue=item.get("queue", {}).get("S", ""),
            payload=item.get("payload", {}).get("S", ""),
            exception=item.get("exception", {}).get("S", ""),
            failed_at=failed_at,
        )


def _payload_uuid(payload: str) -> str | None:
    try:
        decoded = json.loads(payload)
    except ValueError:
        return None
    value = decoded.get("uuid") if isinstance(decoded, dict) else None
    return str(value) if value else None
