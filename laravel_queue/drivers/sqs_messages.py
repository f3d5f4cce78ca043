"""Where an SQS message goes and which group it belongs to, by Laravel's `SqsQueue` rules.

Pure functions of names and payloads (no AWS call): the queue URL from a name with the
connection's prefix and suffix, and the Queueable `messageGroup` read back from a payload.
Separate from the driver so these rules are testable and reusable without a client.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from laravel_queue.job import InvalidPayloadError

__all__ = ["build_queue_url", "is_url", "message_group_from_payload"]

_MESSAGE_GROUP_MARKER = 's:12:"messageGroup";'
"""How the Queueable trait's public `messageGroup` property appears in a serialized command."""


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
