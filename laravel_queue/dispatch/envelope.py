"""The envelope `Queue::createPayloadArray` writes for a prepared command (spec §2.1, §4)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.dispatch.command import Delay, DispatchError, Resolved, class_text, delay_seconds, prepare
from laravel_queue.job import CALL_QUEUED_HANDLER
from laravel_queue.payload_codec import CONTEXT_KEY, new_uuid
from laravel_queue.php import PhpObject, dumps
from laravel_queue.registry import Registry, default_registry

if TYPE_CHECKING:
    from laravel_queue.bus.encryption import Encrypter

def _backoff_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(delay_seconds(v)) for v in value)
    if isinstance(value, (timedelta, datetime)):
        return str(delay_seconds(value))
    return str(value)


def command_payload(
    command: Any,
    *,
    connection: str | None = None,
    queue: str | None = None,
    delay: Delay = None,
    registry: Registry | None = None,
    encrypter: Encrypter | None = None,
    version: tuple[int, int] = (12, 99),
) -> dict[str, Any]:
    """The envelope (before driver fields) PHP writes for `dispatch($command)`.

    `connection`/`queue`/`delay` given here are set on the command first, as
    `->onConnection()`, `->onQueue()` and `->delay()` do in PHP.
    """
    registry = default_registry if registry is None else registry
    return envelope(prepare(command, connection, queue, delay, registry, version), encrypter, version)


def envelope(resolved: Resolved, encrypter: Encrypter | None, version: tuple[int, int]) -> dict[str, Any]:
    """The envelope (before hook keys and driver fields) for a prepared command."""
    obj, options, public = resolved.obj, resolved.options, resolved.public
    class_name = str(obj.class_name)
    retry_until = public.get("retryUntil")
    if retry_until is None and options.retry_until is not None:
        retry_until = int(time.time()) + int(options.retry_until)
    elif isinstance(retry_until, datetime):
        retry_until = int(retry_until.timestamp())
    payload: dict[str, Any] = {
        "uuid": new_uuid(),
        "displayName": options.display_name or class_name,
        "job": CALL_QUEUED_HANDLER,
        "maxTries": first(public.get("tries"), options.tries),
        "maxExceptions": first(public.get("maxExceptions"), options.max_exceptions),
        "failOnTimeout": bool(first(public.get("failOnTimeout"), options.fail_on_timeout, False)),
        "backoff": _backoff_string(first(public.get("backoff"), options.backoff)),
        "timeout": first(public.get("timeout"), options.timeout),
        "retryUntil": retry_until,
    }
    if compat.payload_has_delete_when_missing_models(version):
        payload["deleteWhenMissingModels"] = bool(
            first(public.get("deleteWhenMissingModels"), options.delete_when_missing_models, False)
        )
    data: dict[str, Any] = {"commandName": class_name, "command": _serialize(obj, resolved.encrypted, encrypter)}
    if compat.payload_has_batch_id(version):
        data["batchId"] = public.get("batchId")
    payload["data"] = data
    if compat.payload_has_created_at_and_delay(version):
        payload["createdAt"] = int(time.time())
        payload["delay"] = delay_seconds(public.get("delay")) or None
    return payload


def first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _serialize(obj: PhpObject, encrypted: bool, encrypter: Encrypter | None) -> str:
    try:
        serialized = dumps(obj)
        if encrypted:
            if encrypter is None:
                raise DispatchError(f"{class_text(obj)} should be encrypted but no APP_KEY is configured to encrypt it")
            return encrypter.encrypt(dumps(serialized))
        return serialized.decode("utf-8")
    except (TypeError, OverflowError) as exc:
        raise DispatchError(f"cannot PHP-serialize {class_text(obj)}: {exc}") from None
    except UnicodeDecodeError:
        raise DispatchError(
            f"{class_text(obj)} holds non-UTF-8 bytes; PHP's json_encode could not store it either"
        ) from None


def php_string(value: str) -> str:
    """A string as PHP's `serialize()` writes it (Context values are stored serialized)."""
    return dumps(value).decode("utf-8")


def with_context(payload: dict[str, Any], context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Insert the context where Laravel's payload hook adds it: after createdAt, before delay."""
    if not context:
        return payload
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key == "delay":
            out[CONTEXT_KEY] = context
        out[key] = value
    out.setdefault(CONTEXT_KEY, context)
    return out
