"""`SqsJob`: one received SQS message as a Laravel job handle (delete, release, attempts).

Separate from the driver as `redis_job` is: the handle holds what SQS's receive gave
(receipt handle, receive count, receive time) and maps Laravel's delete and release onto
the driver's calls, capping a release to SQS's visibility limit counted from the receive.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.drivers.sqs import SqsQueue

__all__ = ["MAX_VISIBILITY_TIMEOUT", "VISIBILITY_MARGIN", "SqsJob"]

log = logging.getLogger("laravel_queue.drivers.sqs")

MAX_VISIBILITY_TIMEOUT = 43_200
"""SQS's `VisibilityTimeout` limit (12 hours after the receive): the longest release delay."""
VISIBILITY_MARGIN = 5
"""Seconds kept off that limit for the time between SQS's receive and ours."""


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
