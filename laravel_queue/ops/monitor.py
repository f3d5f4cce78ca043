"""`queue:monitor`: queue sizes per `connection:queue`, with Laravel's ALERT threshold.

Also the source of the metrics endpoint's depth gauges, so both report the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from laravel_queue.connections import Connections
from laravel_queue.payload_codec import php_json_encode_escaped


@dataclass(frozen=True)
class QueueStatus:
    """One row of `queue:monitor`; None where the driver cannot tell (Laravel's `N/A`)."""

    connection: str
    queue: str
    size: int
    pending: int | None
    delayed: int | None
    reserved: int | None
    oldest_pending: int | None
    alert: bool

    @property
    def status(self) -> str:
        return "ALERT" if self.alert else "OK"

    def as_dict(self) -> dict[str, object]:
        """Laravel's JSON row, keys in its order."""
        return {
            "connection": self.connection,
            "queue": self.queue,
            "size": self.size,
            "pending": self.pending,
            "delayed": self.delayed,
            "reserved": self.reserved,
            "oldest_pending": self.oldest_pending,
            "status": self.status,
        }


def parse_targets(spec: str, default_connection: str) -> list[tuple[str, str]]:
    """`high,redis:default` -> [(default_connection, "high"), ("redis", "default")]."""
    targets: list[tuple[str, str]] = []
    for item in spec.split(","):
        connection, separator, queue = item.partition(":")
        targets.append((connection, queue) if separator else (default_connection, item))
    return targets


def parse_queue_argument(argument: str, default_connection: str) -> tuple[str, str]:
    """`[connection:]queue` as queue:pause/queue:resume read it."""
    connection, separator, queue = argument.partition(":")
    return (connection, queue) if separator else (default_connection, argument)


def queue_status(connections: Connections, connection: str, queue: str, max_jobs: int) -> QueueStatus:
    driver = connections.queue(connection)
    size = driver.size(queue)
    return QueueStatus(
        connection=connection,
        queue=queue,
        size=size,
        pending=driver.pending_size(queue),
        delayed=driver.delayed_size(queue),
        reserved=driver.reserved_size(queue),
        oldest_pending=driver.creation_time_of_oldest_pending_job(queue),
        alert=size >= max_jobs,
    )


def collect(connections: Connections, targets: list[tuple[str, str]], max_jobs: int = 1000) -> list[QueueStatus]:
    return [queue_status(connections, connection, queue, max_jobs) for connection, queue in targets]


def statuses_json(statuses: list[QueueStatus]) -> str:
    """Laravel's `Collection::toJson()` of the rows (default json_encode flags)."""
    return php_json_encode_escaped([status.as_dict() for status in statuses])


_UNITS = (
    ("year", 31_536_000),
    ("month", 2_592_000),
    ("week", 604_800),
    ("day", 86_400),
    ("hour", 3_600),
    ("minute", 60),
    ("second", 1),
)


def diff_for_humans(timestamp: int, now: float | None = None) -> str:
    """Carbon's `diffForHumans()` against now: `5 minutes ago`, `1 hour from now`."""
    delta = int((time.time() if now is None else now) - timestamp)
    suffix = "ago" if delta >= 0 else "from now"
    seconds = abs(delta)
    for unit, size in _UNITS:
        if seconds >= size or unit == "second":
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} {suffix}"
    raise AssertionError("unreachable")
