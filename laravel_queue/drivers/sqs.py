"""Laravel's `SqsQueue` and `SqsJob` on boto3: same queue URLs, bodies and receive rules.

A PHP worker and this one can consume the same SQS queue: the message body is the
Laravel payload unchanged, attempts are SQS's `ApproximateReceiveCount`, a release is
a visibility change and the job's queue is the full URL (what `failed_jobs.queue`
holds). Deliberate differences from Laravel, each safer and otherwise invisible:

* a delay above SQS's 900-second limit raises `SqsQueueError` before sending (Laravel
  sends it and AWS rejects it); a release delay beyond SQS's 12-hour visibility limit
  is capped to what is left of it (Laravel's call would fail and leave the job hidden
  for the queue's default visibility timeout);
* FIFO is also recognised from the resolved URL (a `.fifo` suffix in config), where
  Laravel only looks at the queue name and then sends what AWS rejects.

Beside it: `sqs_job` (the job handle), `sqs_messages` (queue URLs and message groups, no
AWS call), `aws` (boto3 client and error translation, shared with the DynamoDB failed store).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from laravel_queue.config import ConfigError
from laravel_queue.drivers.aws import aws_client, aws_errors
from laravel_queue.drivers.base import Queue
from laravel_queue.drivers.sqs_job import MAX_VISIBILITY_TIMEOUT, VISIBILITY_MARGIN, SqsJob
from laravel_queue.drivers.sqs_messages import build_queue_url, is_url, message_group_from_payload
from laravel_queue.errors import ServiceConnectionError
from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.config import QueueConnectionConfig
    from laravel_queue.resources import Resources

__all__ = [
    "DELETE_BATCH_SIZE",
    "MAX_DELAY_SECONDS",
    "MAX_VISIBILITY_TIMEOUT",
    "VISIBILITY_MARGIN",
    "SqsJob",
    "SqsQueue",
    "SqsQueueError",
    "aws_client",
    "aws_errors",
    "build_queue_url",
    "is_url",
    "message_group_from_payload",
]

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 900
"""SQS's per-message `DelaySeconds` limit (15 minutes)."""
DELETE_BATCH_SIZE = 10
"""Entries per `DeleteMessageBatch` call (the SQS maximum)."""
_SIZE_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
)
_DEAD_RECEIPT_CODES = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
        "AWS.SimpleQueueService.MessageNotInflight",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }
)
"""DeleteMessage errors that no retry can fix: the receipt expired or the queue is gone."""


class SqsQueueError(ServiceConnectionError, RuntimeError):
    """An SQS call that failed; names the operation, the queue URL and AWS's error code."""

    def __init__(self, operation: str, queue_url: str, code: str, message: str) -> None:
        self.operation = operation
        self.queue_url = queue_url
        self.code = code
        super().__init__(f"SQS {operation} on {queue_url} failed: [{code}] {message}".rstrip())


class SqsQueue(Queue):
    """Laravel's SqsQueue: one SQS client, queue names resolved to URLs with prefix/suffix."""

    def __init__(
        self,
        client: Any,
        *,
        connection_name: str = "sqs",
        default_queue: str = "default",
        prefix: str = "",
        suffix: str = "",
        wait_time: int | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        super().__init__(connection_name=connection_name, default_queue=default_queue)
        self.client = client
        self.prefix = prefix
        self.suffix = suffix
        self.wait_time = wait_time
        self._secrets = tuple(s for s in secrets if s)

    @classmethod
    def from_config(cls, connections: Resources | None, cfg: QueueConnectionConfig) -> SqsQueue:
        """Build from `queue.connections.<name>` (prefix, queue, suffix, region, credentials)."""
        if cfg.wait_time is not None and not 0 <= cfg.wait_time <= 20:
            raise ConfigError(f"SQS_WAIT_TIME: SQS long polling waits 0 to 20 seconds, got {cfg.wait_time}")
        client = aws_client(
            "sqs", region=cfg.region, key=cfg.key, secret=cfg.secret, token=cfg.token, endpoint=cfg.endpoint
        )
        secrets = [s.get_secret_value() for s in (cfg.key, cfg.secret, cfg.token) if s is not None]
        return cls(
            client,
            connection_name=cfg.name,
            default_queue=cfg.queue,
            prefix=cfg.prefix,
            suffix=cfg.suffix,
            wait_time=cfg.wait_time,
            secrets=secrets,
        )

    # -- names -------------------------------------------------------------------------------
    def queue_url(self, queue: str | None = None) -> str:
        """The full URL for a queue name (or the default queue); a URL is returned unchanged."""
        return build_queue_url(self.get_queue(queue), self.prefix, self.suffix)

    def is_fifo(self, queue: str | None = None) -> bool:
        return self.get_queue(queue).endswith(".fifo") or self.queue_url(queue).endswith(".fifo")

    @contextmanager
    def _call(self, operation: str, queue_url: str) -> Iterator[None]:
        with aws_errors(operation, queue_url, self._secrets, SqsQueueError):
            yield

    # -- sending -----------------------------------------------------------------------------
    def push_raw(
        self,
        payload: str,
        queue: str | None = None,
        *,
        delay: int = 0,
        message_group: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """SendMessage with Laravel's options; returns the MessageId (the job id).

        `message_group` overrides the command's `messageGroup` property;
        `deduplication_id` replaces the fresh UUID FIFO queues otherwise get.
        """
        url = self.queue_url(queue)
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": payload}
        params.update(self.send_options(payload, queue, delay, message_group, deduplication_id))
        with self._call("SendMessage", url):
            response = self.client.send_message(**params)
        return str(response["MessageId"])

    def send_options(
        self,
        payload: str,
        queue: str | None,
        delay: int,
        message_group: str | None = None,
        deduplication_id: str | None = None,
    ) -> dict[str, Any]:
        """Laravel's `getQueueableOptions`: DelaySeconds, MessageGroupId, MessageDeduplicationId."""
        name = self.get_queue(queue)
        fifo = self.is_fifo(queue)
        options: dict[str, Any] = {}
        delay = max(0, int(delay))
        if delay and fifo:
            log.warning("FIFO queue %s ignores per-message delays (as Laravel does); sent now", name)
        elif delay:
            if delay > MAX_DELAY_SECONDS:
                raise SqsQueueError(
                    "SendMessage",
                    self.queue_url(queue),
                    "InvalidParameterValue",
                    f"a delay of {delay}s exceeds SQS's DelaySeconds limit of {MAX_DELAY_SECONDS}s "
                    "(15 minutes); nothing was sent",
                )
            options["DelaySeconds"] = delay
        is_object, group = message_group_from_payload(payload)
        if message_group is not None:
            group = message_group
        elif not is_object and fifo:
            group = name
        if group:
            options["MessageGroupId"] = group
        if fifo:
            dedup = str(uuid.uuid4()) if deduplication_id is None else deduplication_id
            if dedup:
                options["MessageDeduplicationId"] = dedup
        return options

    # -- receiving ---------------------------------------------------------------------------
    def pop(self, queue: str | None = None, index: int = 0, *, ack: Job | None = None) -> SqsJob | None:
        """ReceiveMessage (one message, ApproximateReceiveCount), after deleting `ack` if given.

        SQS has no call that deletes and receives at once, so the ack's DeleteMessage
        comes first; if it fails nothing has been received yet, so nothing is lost.
        """
        if ack is not None:
            if not isinstance(ack, SqsJob):
                raise TypeError(f"ack must be an SqsJob of this connection, got {type(ack).__name__}")
            self._ack(ack)
        url = self.queue_url(queue)
        params: dict[str, Any] = {"QueueUrl": url, "AttributeNames": ["ApproximateReceiveCount"]}
        if self.wait_time is not None:
            params["WaitTimeSeconds"] = self.wait_time
        with self._call("ReceiveMessage", url):
            response = self.client.receive_message(**params)
        messages = response.get("Messages") or []
        if not messages:
            return None
        return SqsJob(self, messages[0], queue_url=url, connection_name=self.connection_name)

    def _ack(self, job: SqsJob) -> None:
        """Delete a finished job once; a receipt SQS no longer accepts is logged, not raised.

        Raising for a dead receipt would make every later pop fail while the worker
        keeps offering the same ack; SQS redelivers that message instead (at least once).
        A transient failure still raises, so the worker offers the ack again.
        """
        if job.acked:
            return
        try:
            job._delete_from_backend()
        except SqsQueueError as exc:
            if exc.code not in _DEAD_RECEIPT_CODES:
                raise
            log.warning("finished job %s could not be deleted (%s); SQS will redeliver it", job.job_id, exc)
        job.acked = True

    def delete_message(self, queue_url: str, receipt_handle: str) -> None:
        with self._call("DeleteMessage", queue_url):
            self.client.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)

    def change_visibility(self, queue_url: str, receipt_handle: str, delay: int) -> None:
        """Laravel's SqsJob::release: the message becomes visible again after `delay` seconds."""
        timeout = min(max(0, int(delay)), MAX_VISIBILITY_TIMEOUT)
        with self._call("ChangeMessageVisibility", queue_url):
            self.client.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout
            )

    def flush_acks(self, jobs: list[Job]) -> None:
        """DeleteMessageBatch per queue URL, ten at a time; raises if any entry failed."""
        by_url: dict[str, list[SqsJob]] = {}
        for job in jobs:
            if not isinstance(job, SqsJob):
                raise TypeError(f"flush_acks takes SqsJob handles, got {type(job).__name__}")
            if job.acked:
                continue
            by_url.setdefault(job.queue, []).append(job)
        failures: list[tuple[str, str]] = []
        for url, url_jobs in by_url.items():
            for start in range(0, len(url_jobs), DELETE_BATCH_SIZE):
                chunk = url_jobs[start : start + DELETE_BATCH_SIZE]
                entries = [{"Id": str(i), "ReceiptHandle": job.receipt_handle} for i, job in enumerate(chunk)]
                with self._call("DeleteMessageBatch", url):
                    response = self.client.delete_message_batch(QueueUrl=url, Entries=entries)
                failures.extend((url, str(failed.get("Code", "Unknown"))) for failed in response.get("Failed", []))
        if failures:
            url, code = failures[0]
            raise SqsQueueError(
                "DeleteMessageBatch",
                url,
                code,
                f"{len(failures)} message(s) not deleted; they will be redelivered",
            )

    # -- sizes -------------------------------------------------------------------------------
    def _attributes(self, queue: str | None, names: tuple[str, ...]) -> dict[str, int]:
        url = self.queue_url(queue)
        with self._call("GetQueueAttributes", url):
            response = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))
        attributes = response.get("Attributes", {})
        return {name: int(attributes.get(name, 0)) for name in names}

    @property
    def pop_may_wait(self) -> bool:
        return True  # an HTTPS call, and long polling with SQS_WAIT_TIME

    def size(self, queue: str | None = None) -> int:
        return sum(self._attributes(queue, _SIZE_ATTRIBUTES).values())

    def pending_size(self, queue: str | None = None) -> int:
        return self._attributes(queue, ("ApproximateNumberOfMessages",))["ApproximateNumberOfMessages"]

    def delayed_size(self, queue: str | None = None) -> int:
        name = "ApproximateNumberOfMessagesDelayed"
        return self._attributes(queue, (name,))[name]

    def reserved_size(self, queue: str | None = None) -> int:
        name = "ApproximateNumberOfMessagesNotVisible"
        return self._attributes(queue, (name,))[name]

    def clear(self, queue: str | None = None) -> int:
        """PurgeQueue; returns the size measured just before (as Laravel)."""
        count = self.size(queue)
        url = self.queue_url(queue)
        with self._call("PurgeQueue", url):
            self.client.purge_queue(QueueUrl=url)
        return count

    def close(self) -> None:
        self.client.close()
