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
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from laravel_queue.config import ConfigError
from laravel_queue.drivers.base import Queue
from laravel_queue.errors import ServiceConnectionError
from laravel_queue.job import InvalidPayloadError, Job

if TYPE_CHECKING:
    from laravel_queue.config import QueueConnectionConfig, SecretStr
    from laravel_queue.resources import Resources

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 900
"""SQS's per-message `DelaySeconds` limit (15 minutes)."""
MAX_VISIBILITY_TIMEOUT = 43_200
"""SQS's `VisibilityTimeout` limit (12 hours after the receive): the longest release delay."""
VISIBILITY_MARGIN = 5
"""Seconds kept off that limit for the time between SQS's receive and ours."""
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
_MESSAGE_GROUP_MARKER = 's:12:"messageGroup";'
"""How the Queueable trait's public `messageGroup` property appears in a serialized command."""


class SqsQueueError(ServiceConnectionError, RuntimeError):
    """An SQS call that failed; names the operation, the queue URL and AWS's error code."""

    def __init__(self, operation: str, queue_url: str, code: str, message: str) -> None:
        self.operation = operation
        self.queue_url = queue_url
        self.code = code
        super().__init__(f"SQS {operation} on {queue_url} failed: [{code}] {message}".rstrip())


def aws_client(
    service: str,
    *,
    region: str,
    key: SecretStr | None = None,
    secret: SecretStr | None = None,
    token: SecretStr | None = None,
    endpoint: str | None = None,
) -> Any:
    """A boto3 client configured as Laravel's AWS connectors do.

    Explicit credentials are used only when both key and secret are set (Laravel's
    rule); otherwise boto3's standard chain applies (env, profile, instance role).
    Retries use botocore's "standard" mode, which retries throttling and transient
    network errors with backoff.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError(f"the {service} connection needs boto3: pip install 'laravel-queue-worker[sqs]'") from None
    credentials: dict[str, str] = {}
    if key is not None and secret is not None and key.get_secret_value() and secret.get_secret_value():
        credentials = {
            "aws_access_key_id": key.get_secret_value(),
            "aws_secret_access_key": secret.get_secret_value(),
        }
        if token is not None and token.get_secret_value():
            credentials["aws_session_token"] = token.get_secret_value()
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)
    session = boto3.session.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint or None, config=config, **credentials)


@contextmanager
def aws_errors(operation: str, resource: str, secrets: Iterable[str], error: type[Exception]) -> Iterator[None]:
    """Turn botocore failures into `error(operation, resource, code, message)`, secrets redacted."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        details = exc.response.get("Error", {})
        code = str(details.get("Code") or "Unknown")
        message = str(details.get("Message") or "")
        raise error(operation, resource, code, _redact(message, secrets)) from None
    except BotoCoreError as exc:
        raise error(operation, resource, type(exc).__name__, _redact(str(exc), secrets)) from None


def _redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "********")
    return text


def is_url(value: str) -> bool:
    """PHP's `FILTER_VALIDATE_URL` as far as queue names go: a scheme and a host, no spaces."""
    if any(ch.isspace() for ch in value):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc) and value.startswith(f"{parts.scheme}://")


def build_queue_url(queue: str, prefix: str, suffix: str) -> str:
    """Laravel's `SqsQueue::getQueue` for a resolved name: a URL as is, else prefix/name+suffix."""
    if is_url(queue):
        return queue
    base = prefix.rstrip("/")
    if queue.endswith(".fifo"):
        name = queue[: -len(".fifo")]
        return f"{base}/{_finish(name, suffix)}.fifo"
    return f"{base}/{_finish(queue, suffix)}"


def _finish(value: str, cap: str) -> str:
    """Laravel's `Str::finish`: append `cap` unless the value already ends with it."""
    return value if not cap or value.endswith(cap) else value + cap


def message_group_from_payload(payload: str) -> tuple[bool, str | None]:
    """(is it an object job, its `messageGroup` property) read from an encoded payload.

    Laravel reads the group from the job object before serializing it; here the same
    property is read back from `data.command`. Only plain serialized commands that
    contain the property are decoded (encrypted commands keep their group hidden).
    """
    try:
        decoded = json.loads(payload)
    except ValueError as exc:
        raise InvalidPayloadError(f"job payload is not valid JSON: {exc}") from None
    data = decoded.get("data") if isinstance(decoded, dict) else None
    command = data.get("command") if isinstance(data, dict) else None
    if command is None:
        return False, None
    if not isinstance(command, str) or not command.startswith("O:") or _MESSAGE_GROUP_MARKER not in command:
        return True, None
    from laravel_queue.php import PhpUnserializeError, loads

    try:
        job = loads(command)
    except PhpUnserializeError as exc:
        raise InvalidPayloadError(f"data.command is not a readable PHP-serialized object: {exc}") from None
    group = getattr(job, "messageGroup", None)
    if isinstance(group, bool) or not isinstance(group, (str, int)):
        return True, None
    return True, str(group) or None


class SqsJob(Job):
    """One received SQS message; `queue` is the full queue URL, as Laravel's `getQueue()`."""

    def __init__(self, sqs: SqsQueue, message: dict[str, Any], *, queue_url: str, connection_name: str) -> None:
        super().__init__(raw_body=message["Body"], queue=queue_url, connection_name=connection_name)
        self.sqs = sqs
        self.message = message
        self.receipt_handle: str = message["ReceiptHandle"]
        self._message_id: str = message["MessageId"]
        self.received_at = time.monotonic()
        self.acked = False
        """Set once a pop carried this job's deferred delete, so it is never sent twice."""

    @property
    def job_id(self) -> str:
        return self._message_id

    def attempts(self) -> int:
        return int(self.message.get("Attributes", {}).get("ApproximateReceiveCount", 1))

    def _delete_from_backend(self) -> None:
        self.sqs.delete_message(self.queue, self.receipt_handle)

    def _release_to_backend(self, delay: int) -> None:
        # SQS counts the 12-hour visibility limit from the receive, not from this call.
        held = math.ceil(time.monotonic() - self.received_at) + VISIBILITY_MARGIN
        limit = max(0, MAX_VISIBILITY_TIMEOUT - held)
        if delay > limit:
            log.warning("release delay %ss capped to SQS's 12-hour visibility limit (%ss left)", delay, limit)
            delay = limit
        self.sqs.change_visibility(self.queue, self.receipt_handle, delay)


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
