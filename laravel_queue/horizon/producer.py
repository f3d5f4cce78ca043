"""The producer side: Python-dispatched Redis jobs get what Horizon's RedisQueue gives PHP ones.

Two calls around a push (spec horizon.md §2.1, §5.1):

* `encoded_payload(body, driver, settings)` instead of the plain encoding: `id` = `uuid`
  (Horizon's `createPayloadArray`), then `type`, `tags`, `silenced` and `pushedAt` appended
  in `JobPayload::prepare()`'s order, re-encoded with plain `json_encode` as Horizon does.
  Tags are explicit ones already in the payload (PHP's `tags()` method), else `Class:key`
  of every queued model Horizon's `Tags::for` finds, read back from the serialized
  command (never executed, see laravel_queue.php).
* `record_push(encoded, driver, queue, settings, connections)` after the push: the pending record,
  `recent_jobs`/`pending_jobs` and monitored tag lists, in one round trip.

The package's entry points (laravel_queue.horizon) call these only when bookkeeping is
"on" (config.py); both do nothing for a connection that is not Redis.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from laravel_queue.config import Settings
from laravel_queue.horizon.listener import job_record
from laravel_queue.horizon.store import HorizonStore
from laravel_queue.models import MODEL_IDENTIFIER_CLASS, ModelIdentifier
from laravel_queue.payload_codec import php_json_encode_escaped
from laravel_queue.php import PhpObject, PhpUnserializeError, loads
from laravel_queue.support import php_float_to_string as php_float

log = logging.getLogger("laravel_queue.horizon")

# Horizon's JobPayload::determineType, keyed by the queued wrapper class.
WRAPPER_TYPES = {
    "Illuminate\\Broadcasting\\BroadcastEvent": ("broadcast", "event"),
    "Illuminate\\Events\\CallQueuedListener": ("event", "class"),
    "Illuminate\\Mail\\SendQueuedMailable": ("mail", "mailable"),
    "Illuminate\\Notifications\\SendQueuedNotifications": ("notification", "notification"),
}

_stores: weakref.WeakKeyDictionary[Any, HorizonStore] = weakref.WeakKeyDictionary()


def _is_redis(driver: Any) -> bool:
    from laravel_queue.drivers.redis import RedisQueue

    return isinstance(driver, RedisQueue)


def encoded_payload(body: dict[str, Any], driver: Any, settings: Settings) -> str | None:
    """The payload as Horizon's RedisQueue would store it, or None for a non-Redis connection."""
    if not _is_redis(driver):
        return None
    return php_json_encode_escaped(horizon_fields(body, settings))


def horizon_fields(body: dict[str, Any], settings: Settings, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """`body` with Horizon's push fields set (a copy)."""
    prepared = dict(body)
    if prepared.get("uuid"):
        prepared["id"] = prepared["uuid"]
    command = _command(prepared)
    job_type, underlying = _type_and_underlying(command)
    explicit = prepared.get("tags")
    tags = list(explicit) if isinstance(explicit, list) and explicit else _model_tags(command, job_type)
    horizon = settings.horizon
    silenced = bool(prepared.get("silenced")) or underlying in horizon.silenced or bool(
        set(tags) & set(horizon.silenced_tags)
    )
    prepared.update(type=job_type, tags=tags, silenced=silenced, pushedAt=php_float(clock()))
    return prepared


def record_push(encoded: str, driver: Any, queue: str | None, settings: Settings, connections: Any) -> None:
    """After the queue push to a Redis connection: Horizon's pending record (best-effort: a failure is logged)."""
    if not _is_redis(driver):
        return
    try:
        payload = json.loads(encoded)
        record = job_record(payload, raw=encoded, connection=driver.connection_name, queue=driver.get_queue(queue))
        if record is not None:
            store_for(connections, settings).pushed(record)
    except Exception as exc:
        log.warning("Horizon push record failed: %s; the job was queued", exc,
                    extra={"laravel_queue_event": "horizon_write_failed", "stage": "pushed"})


def store_for(connections: Any, settings: Settings) -> HorizonStore:
    """One store per Connections, on the Redis connection `horizon.use` names."""
    store = _stores.get(connections)
    if store is None:
        horizon = settings.horizon
        store = _stores[connections] = HorizonStore(connections.redis(horizon.use), horizon.prefix, horizon.trim)
    return store


def _command(payload: dict[str, Any]) -> PhpObject | None:
    data = payload.get("data")
    serialized = data.get("command") if isinstance(data, dict) else None
    if not isinstance(serialized, str) or not serialized.startswith("O:"):
        return None  # a string job, or an encrypted command: no object to read tags from
    try:
        command = loads(serialized)
    except (PhpUnserializeError, RecursionError):
        return None
    return command if isinstance(command, PhpObject) else None


def _type_and_underlying(command: PhpObject | None) -> tuple[str, str | None]:
    """Horizon's type, and the class `horizon.silenced` is matched against."""
    if command is None:
        return "job", None
    job_type, inner_name = WRAPPER_TYPES.get(str(command.class_name), ("job", None))
    if inner_name is None:
        return job_type, str(command.class_name)
    inner = command.get(inner_name)
    return job_type, str(inner.class_name) if isinstance(inner, PhpObject) else str(inner)


def _model_tags(command: PhpObject | None, job_type: str) -> list[str]:
    """`Class:key` for each queued model (or model in a queued collection) on Tags::for's target."""
    if command is None:
        return []
    target: Any = command
    if job_type == "event":
        data = command.get("data")
        first = data.get(0) if isinstance(data, dict) else data[0] if isinstance(data, list) and data else None
        target = first
    elif job_type != "job":
        target = command.get(WRAPPER_TYPES[str(command.class_name)][1])
    if not isinstance(target, PhpObject):
        return []
    tags: list[str] = []
    for value in target.properties.values():
        if isinstance(value, PhpObject) and value.class_name == MODEL_IDENTIFIER_CLASS:
            identifier = ModelIdentifier.from_php(value)
            keys = identifier.id if identifier.is_collection else [identifier.id]
            for key in keys:
                tag = f"{identifier.class_name}:{_php_key(key)}"
                if tag not in tags:
                    tags.append(tag)
    return tags


def _php_key(key: Any) -> str:
    if isinstance(key, bool):
        return "1" if key else ""
    if isinstance(key, float):
        return php_float(key)
    return str(key)
