"""`queue:retry` and `queue:failed` semantics: which records, what gets re-pushed, and where.

Laravel's RetryCommand decodes the stored payload into a PHP array, sets `attempts` to
0 when it is set, and pushes `json_encode($payload)` (default flags: `\\uXXXX`, `\\/`)
to the recorded connection and queue. `retry_payload` produces the same bytes,
including what a trip through a PHP array does to JSON (`{}` becomes `[]`, objects
keyed 0..n-1 become lists, integers beyond 64 bits become floats), so a PHP worker
takes a job retried from Python exactly as one retried by artisan.

One difference, by necessity: when the command's class has a `retryUntil()` method
PHP calls it to refresh `retryUntil`; Python cannot run PHP methods, so the stored
value is kept (a job whose deadline has passed fails again on its first attempt).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from laravel_queue.connections import Connections
from laravel_queue.errors import PayloadError
from laravel_queue.failed.base import FailedJob, FailedJobProvider

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_CANONICAL_INT = re.compile(r"(0|-?[1-9][0-9]*)")
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
_QUOTED = re.compile(r'"([^"]+)"')


class RetryError(PayloadError, ValueError):
    """A failed job that cannot be re-pushed; its record is kept."""


# -- the payload ------------------------------------------------------------------------------


def php_array_key(key: str) -> str | int:
    """PHP's array-key cast: canonical decimal strings within 64 bits become integers."""
    if _CANONICAL_INT.fullmatch(key):
        number = int(key)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    return key


def as_php_array(value: Any) -> Any:
    """A JSON value as `json_decode($json, true)` leaves it for `json_encode` to write back."""
    if isinstance(value, dict):
        items = [(php_array_key(key), as_php_array(item)) for key, item in value.items()]
        if [key for key, _ in items] == list(range(len(items))):
            return [item for _, item in items]
        return {str(key): item for key, item in items}
    if isinstance(value, list):
        return [as_php_array(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
        return float(value)
    return value


def decode_payload(raw: str) -> dict[str, Any]:
    """The stored payload as a JSON object, or RetryError (PHP would push `null`)."""
    try:
        decoded = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise RetryError(f"the stored payload is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise RetryError(f"the stored payload is not a JSON object (got {type(decoded).__name__})")
    return decoded


def retry_payload(raw: str) -> str:
    """What `queue:retry` pushes for a stored payload: attempts reset, PHP default JSON encoding."""
    payload = as_php_array(decode_payload(raw))
    if not isinstance(payload, dict):  # a JSON object keyed 0..n-1 is a list to PHP; nothing to reset
        return _encode(payload)
    if payload.get("attempts") is not None:  # PHP isset(): present and not null
        payload["attempts"] = 0
    return _encode(payload)


def _encode(value: Any) -> str:
    from laravel_queue.payload_codec import php_json_encode_escaped  # not on queue:failed's start-up path

    try:
        return php_json_encode_escaped(value)
    except (TypeError, ValueError) as exc:
        raise RetryError(f"the payload cannot be re-encoded for PHP: {exc}") from None


def job_name(raw: str) -> str:
    """The class `queue:failed` shows: `job` for string jobs, else displayName or the command's class."""
    try:
        payload = json.loads(raw)
    except (TypeError, ValueError):
        return ""
    if not isinstance(payload, dict) or not payload:
        return ""
    data = payload.get("data")
    command = data.get("command") if isinstance(data, dict) else None
    if command is None:
        return _text(payload.get("job"))
    display = payload.get("displayName")
    if isinstance(display, str) and display:
        return display
    match = _QUOTED.search(command) if isinstance(command, str) else None
    return match.group(1) if match else _text(payload.get("job"))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- choosing records -------------------------------------------------------------------------


def ids_in_ranges(ranges: Iterable[str]) -> list[int]:
    """`--range=1-5` (PHP `range()`, so `5-1` counts down); malformed ranges are ignored, as in PHP."""
    ids: list[int] = []
    for text in ranges:
        match = _RANGE.fullmatch(text)
        if match:
            start, end = int(match.group(1)), int(match.group(2))
            step = 1 if end >= start else -1
            ids.extend(range(start, end + step, step))
    return ids


def unique_ids(ids: Iterable[str | int]) -> list[str | int]:
    """PHP `array_values(array_filter(array_unique($ids)))`: first occurrence wins, "" and "0" dropped."""
    seen: set[str] = set()
    result: list[str | int] = []
    for job_id in ids:
        text = str(job_id)
        if text in seen or text in ("", "0"):
            continue
        seen.add(text)
        result.append(job_id)
    return result


@dataclass
class Selection:
    """The ids `queue:retry` will work through, and an error to show when a filter found none."""

    ids: list[str | int]
    error: str | None = None


def select_ids(
    provider: FailedJobProvider, ids: Sequence[str], *, queue: str | None = None, ranges: Sequence[str] = ()
) -> Selection:
    """Laravel's getJobIds: `all`, else `--queue` (explicit ids are then ignored), else ids plus ranges."""
    if list(ids) == ["all"]:
        return Selection(list(provider.ids()))
    if queue:
        found = list(provider.ids(queue))
        return Selection(found, None if found else f"Unable to find failed jobs for queue [{queue}].")
    return Selection(unique_ids([*ids, *(str(job_id) for job_id in ids_in_ranges(ranges))]))


# -- pushing ----------------------------------------------------------------------------------


def push_back(connections: Connections, record: FailedJob) -> str | int | None:
    """Push a failed record's payload to its recorded connection and queue (SQS: the queue URL)."""
    from laravel_queue import horizon  # not on queue:failed's start-up path

    payload = retry_payload(record.payload)
    driver = connections.queue(record.connection)
    job_id = driver.push_raw(payload, record.queue)
    horizon.record_push(payload, driver, record.queue, connections.settings, connections)
    return job_id


@dataclass
class RetryOutcome:
    retried: list[str | int] = field(default_factory=list)
    missing: list[str | int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.errors


def retry_one(
    connections: Connections,
    job_id: str | int,
    outcome: RetryOutcome,
    *,
    run: Callable[[str, Callable[[], Any]], Any] | None = None,
) -> str:
    """Find, re-push and forget one record: "retried", "missing" or "error" (the record is kept).

    `run(description, action)` wraps the push (the CLI prints Laravel's task line with it).
    """
    provider = connections.failed()
    record = provider.find(job_id)
    if record is None:
        outcome.missing.append(job_id)
        return "missing"
    try:
        if run is None:
            push_back(connections, record)
        else:
            run(str(job_id), lambda: push_back(connections, record))
    except Exception as exc:
        outcome.errors[str(job_id)] = str(exc) or type(exc).__name__
        return "error"
    provider.forget(record.id)
    outcome.retried.append(job_id)
    return "retried"
