"""Queue jobs from Python that a PHP worker (or ours) runs: Laravel's `dispatch()`.

The envelope is built as Laravel's `Queue::createPayloadArray` builds it (spec §2.1,
§4, §18 items 15-17): same fields in the same order, the command PHP-serialized (or
encrypted for `ShouldBeEncrypted`), knobs read from the command's public properties
and, where PHP would call a method, from what the registry declares for the class.

A command is described by its PHP class and properties, in one of three ways:

* a `PhpObject` (sent as given);
* an instance of a pydantic model or dataclass bound with `@handles("App\\Jobs\\Foo")`
  (field alias = PHP property name; visibility via `Annotated[..., Protected]`,
  `Annotated[..., Private]` or a class attribute `__php_visibility__ = {"field": "private"}`);
* `Command("App\\Jobs\\Foo", {"prop": value})`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from laravel_queue import horizon
from laravel_queue.job import CALL_QUEUED_HANDLER
from laravel_queue.models import restore_model_identifiers
from laravel_queue.payload import CONTEXT_KEY, Payload, new_uuid, php_json_encode, string_job_payload
from laravel_queue.php import PhpObject, dumps, mangle
from laravel_queue.registry import JobOptions, Registry, default_registry

if TYPE_CHECKING:
    from laravel_queue.bus.encryption import Encrypter
    from laravel_queue.cache.base import Lock
    from laravel_queue.connections import Connections

__all__ = [
    "Command",
    "DispatchError",
    "PhpProperty",
    "Private",
    "Protected",
    "Public",
    "command_payload",
    "dispatch",
    "push_raw",
    "set_default_connections",
    "string_job_payload",
]

log = logging.getLogger("laravel_queue.dispatch")

Visibility = Literal["public", "protected", "private"]
Delay = int | float | timedelta | datetime | None


class DispatchError(ValueError):
    """The command cannot be queued as given (unbound class, unencodable value, no APP_KEY...)."""


@dataclass(frozen=True)
class PhpProperty:
    """Field metadata: how a Python field appears on the PHP object (`Annotated[int, Protected]`)."""

    visibility: Visibility = "public"
    declaring_class: str | None = None
    """For a private property inherited from a parent class: that class."""


Public = PhpProperty("public")
Protected = PhpProperty("protected")
Private = PhpProperty("private")


@dataclass
class Command:
    """A PHP job described by class name and properties (bare names, public unless `visibility` says)."""

    php_class: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    serializes_models: bool = True
    should_be_encrypted: bool = False
    visibility: Mapping[str, Visibility] = field(default_factory=dict)
    options: JobOptions | None = None
    """Knobs PHP would compute from methods; default: what the registry declares for the class."""


# Queueable's public properties (12.x declaration order), written by PHP's native
# serialization when the job class does not use SerializesModels (spec §4.2).
_QUEUEABLE_12 = (
    ("connection", None),
    ("queue", None),
    ("messageGroup", None),
    ("deduplicator", None),
    ("delay", None),
    ("afterCommit", None),
    ("middleware", []),
    ("chained", []),
    ("chainConnection", None),
    ("chainQueue", None),
    ("chainCatchCallbacks", None),
)
_QUEUEABLE_10 = (
    ("connection", None),
    ("queue", None),
    ("chainConnection", None),
    ("chainQueue", None),
    ("chainCatchCallbacks", None),
    ("delay", None),
    ("afterCommit", None),
    ("middleware", []),
    ("chained", []),
)


def queueable_defaults(version: tuple[int, int]) -> list[tuple[str, Any]]:
    if version < (11, 0):
        return [(name, list(d) if isinstance(d, list) else d) for name, d in _QUEUEABLE_10]
    props = [(name, list(d) if isinstance(d, list) else d) for name, d in _QUEUEABLE_12]
    if version < (12, 27):
        props = [p for p in props if p[0] not in ("messageGroup", "deduplicator")]
    if version >= (13, 0):
        props += [("debounceOwner", ""), ("uniqueLockOwner", "")]
    return props


@dataclass
class _Resolved:
    obj: PhpObject
    public: dict[str, Any]
    options: JobOptions
    serializes_models: bool
    encrypted: bool


def _resolve(command: Any, registry: Registry) -> _Resolved:
    """Turn any accepted command form into the PHP object plus what the envelope reads from it."""
    if isinstance(command, PhpObject):
        obj = PhpObject(command.class_name, dict(command.properties))
        options = registry.options_for(str(command.class_name))
        public = _public_properties(obj)
        encrypted = options.should_be_encrypted or bool(public.get("shouldBeEncrypted"))
        return _Resolved(obj, public, options, options.serializes_models, encrypted)
    if isinstance(command, Command):
        options = command.options or registry.options_for(command.php_class)
        obj = PhpObject(command.php_class.lstrip("\\"))
        for name, value in command.properties.items():
            _set(obj, name, value, command.visibility.get(name, "public"), None)
        public = {k: v for k, v in command.properties.items() if command.visibility.get(k, "public") == "public"}
        encrypted = command.should_be_encrypted or options.should_be_encrypted
        return _Resolved(obj, public, options, command.serializes_models, encrypted)
    registration = registry.for_type(type(command))
    if registration is None:
        raise DispatchError(
            f"{type(command).__name__} is not bound to a PHP class: decorate it with "
            '@handles("App\\\\Jobs\\\\...") or pass a Command / PhpObject'
        )
    options = registration.options
    obj = PhpObject(registration.php_class)
    public: dict[str, Any] = {}
    for spec in _model_fields(command):
        if options.serializes_models and spec.equals_default:
            public[spec.php_name] = spec.value  # PHP reads it, SerializesModels omits it
            continue
        _set(obj, spec.php_name, spec.value, spec.php.visibility, spec.php.declaring_class)
        if spec.php.visibility == "public":
            public[spec.php_name] = spec.value
    encrypted = options.should_be_encrypted or bool(public.get("shouldBeEncrypted"))
    return _Resolved(obj, public, options, options.serializes_models, encrypted)


def _set(obj: PhpObject, name: str, value: Any, visibility: Visibility, declaring: str | None) -> None:
    if visibility == "private":
        declaring = declaring or str(obj.class_name)
    obj.properties[mangle(name, visibility, declaring)] = value


def _public_properties(obj: PhpObject) -> dict[str, Any]:
    return {k: v for k, v in obj.properties.items() if isinstance(k, str) and not k.startswith("\0")}


@dataclass
class _FieldSpec:
    php_name: str
    value: Any
    php: PhpProperty
    equals_default: bool


def _model_fields(instance: Any) -> list[_FieldSpec]:
    cls = type(instance)
    mapping = getattr(cls, "__php_visibility__", {}) or {}
    specs = []
    if isinstance(instance, BaseModel):
        for name, info in type(instance).model_fields.items():
            value = getattr(instance, name)
            php_name = info.alias or name
            marker = next((m for m in info.metadata if isinstance(m, PhpProperty)), None)
            if info.default_factory is not None:
                default: Any = info.default_factory()  # type: ignore[call-arg]
            else:
                default = info.default
            has_default = default is not PydanticUndefined
            specs.append(_spec(php_name, name, value, marker, mapping, has_default and value == default))
        return specs
    if dataclasses.is_dataclass(instance):
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(instance):
            value = getattr(instance, f.name)
            metadata = getattr(hints.get(f.name), "__metadata__", ())
            marker = next((m for m in metadata if isinstance(m, PhpProperty)), None)
            if f.default is not dataclasses.MISSING:
                equals_default = value == f.default
            elif f.default_factory is not dataclasses.MISSING:
                equals_default = value == f.default_factory()
            else:
                equals_default = False
            specs.append(_spec(f.name, f.name, value, marker, mapping, equals_default))
        return specs
    raise DispatchError(f"cannot read properties of {cls.__name__}: use a pydantic model or a dataclass")


def _spec(
    php_name: str, py_name: str, value: Any, marker: PhpProperty | None, mapping: Mapping[str, Any], equal: bool
) -> _FieldSpec:
    if marker is None:
        declared = mapping.get(py_name, mapping.get(php_name))
        marker = PhpProperty(declared) if isinstance(declared, str) else declared or Public
    return _FieldSpec(php_name, value, marker, equal)


# -- the envelope --------------------------------------------------------------------------------


def delay_seconds(delay: Delay) -> int:
    """Laravel's `secondsUntil`: an int, a timedelta or a moment in time, never negative."""
    if delay is None:
        return 0
    if isinstance(delay, timedelta):
        return max(0, int(delay.total_seconds()))
    if isinstance(delay, datetime):
        return max(0, int(delay.timestamp() - time.time()))
    return max(0, int(delay))


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
    return _envelope(_prepare(command, connection, queue, delay, registry, version), encrypter, version)


def _prepare(
    command: Any,
    connection: str | None,
    queue: str | None,
    delay: Delay,
    registry: Registry,
    version: tuple[int, int],
) -> _Resolved:
    """The PHP object as it will be serialized, with `->onConnection()`/`->onQueue()`/`->delay()` applied."""
    resolved = _resolve(command, registry)
    obj, public = resolved.obj, resolved.public
    for name, value in (("connection", connection), ("queue", queue), ("delay", delay)):
        if value is not None:
            value = delay_seconds(value) if name == "delay" else value
            obj[name] = value
            public[name] = value
    if not resolved.serializes_models:
        for name, default in queueable_defaults(version):
            if name not in obj:
                obj.properties[name] = default
    restore_model_identifiers(obj)
    return resolved


def _envelope(resolved: _Resolved, encrypter: Encrypter | None, version: tuple[int, int]) -> dict[str, Any]:
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
        "maxTries": _first(public.get("tries"), options.tries),
        "maxExceptions": _first(public.get("maxExceptions"), options.max_exceptions),
        "failOnTimeout": bool(_first(public.get("failOnTimeout"), options.fail_on_timeout, False)),
        "backoff": _backoff_string(_first(public.get("backoff"), options.backoff)),
        "timeout": _first(public.get("timeout"), options.timeout),
        "retryUntil": retry_until,
    }
    if version >= (13, 0):
        payload["deleteWhenMissingModels"] = bool(
            _first(public.get("deleteWhenMissingModels"), options.delete_when_missing_models, False)
        )
    data: dict[str, Any] = {"commandName": class_name, "command": _serialize(obj, resolved.encrypted, encrypter)}
    if version >= (12, 51):
        data["batchId"] = public.get("batchId")
    payload["data"] = data
    if version >= (12, 11):
        payload["createdAt"] = int(time.time())
        payload["delay"] = delay_seconds(public.get("delay")) or None
    return payload


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _serialize(obj: PhpObject, encrypted: bool, encrypter: Encrypter | None) -> str:
    try:
        serialized = dumps(obj)
        if encrypted:
            if encrypter is None:
                raise DispatchError(f"{obj.class_name} should be encrypted but no APP_KEY is configured to encrypt it")
            return encrypter.encrypt(dumps(serialized))
        return serialized.decode("utf-8")
    except (TypeError, OverflowError) as exc:
        raise DispatchError(f"cannot PHP-serialize {obj.class_name}: {exc}") from None
    except UnicodeDecodeError:
        raise DispatchError(
            f"{obj.class_name} holds non-UTF-8 bytes; PHP's json_encode could not store it either"
        ) from None


# -- pushing ------------------------------------------------------------------------------------

_default_connections: Connections | None = None


def set_default_connections(connections: Connections | None) -> None:
    """Use these connections when `dispatch`/`push_raw` get none (e.g. the worker's own)."""
    global _default_connections
    _default_connections = connections


def _connections(connections: Connections | None) -> Connections:
    global _default_connections
    if connections is not None:
        return connections
    if _default_connections is None:
        from laravel_queue.config import load_settings
        from laravel_queue.connections import Connections

        _default_connections = Connections(load_settings())
    return _default_connections


def dispatch(
    command: Any,
    *,
    connection: str | None = None,
    queue: str | None = None,
    delay: Delay = None,
    connections: Connections | None = None,
    registry: Registry | None = None,
    context: Mapping[str, Any] | None = None,
) -> str | int | None:
    """Queue a PHP job (see the module docstring for command forms); returns the driver's job id.

    Like PHP, a command's own `connection`/`queue`/`delay` properties choose where it
    goes unless overridden here. Like PHP's `dispatch()` helper, a command declared
    unique (`JobOptions(unique=...)`) first takes its `ShouldBeUnique` lock: when another
    dispatch holds it nothing is queued and None is returned (spec §12.1). `context` is a
    Laravel Context (`{"data": ..., "hidden": ...}`) to carry, e.g. the running job's.
    """
    conns = _connections(connections)
    from laravel_queue.bus.encryption import Encrypter

    registry = default_registry if registry is None else registry
    version = conns.settings.laravel_version
    encrypter = Encrypter.from_settings(conns.settings) if _needs_encrypter(command, registry) else None
    resolved = _prepare(command, connection, queue, delay, registry, version)
    public = resolved.public
    unique = _unique_lock(command, resolved, conns)
    if unique is not None and not unique.lock.acquire():
        log.info(
            "unique job already queued: %s not dispatched (lock %s is held)",
            resolved.obj.class_name,
            unique.key,
            extra={"laravel_queue_event": "unique_job_skipped", "job_class": str(resolved.obj.class_name)},
        )
        return None
    try:
        if unique is not None:
            if version >= (13, 0):  # 13.x stamps the owner so the worker releases only its own lock
                resolved.obj["uniqueLockOwner"] = unique.lock.owner
            context = unique.context(context, version)
        payload = _with_context(_envelope(resolved, encrypter, version), context)
        return push_raw(
            payload,
            connection=connection or _str_or_none(public.get("connection")),
            queue=queue or _str_or_none(public.get("queue")),
            delay=delay_seconds(public.get("delay")) or delay,
            connections=conns,
        )
    except BaseException:
        if unique is not None:
            unique.release_after_failed_dispatch()
        raise


# -- ShouldBeUnique at dispatch ---------------------------------------------------------------


@dataclass
class _UniqueLock:
    """The `ShouldBeUnique` lock a dispatch takes, and what the payload's context says about it."""

    store: str
    key: str
    lock: Lock

    def context(self, context: Mapping[str, Any] | None, version: tuple[int, int]) -> Mapping[str, Any] | None:
        """`context` plus the hidden entries PendingDispatch adds (11.39+) so any worker can release the lock."""
        if version < (11, 39):
            return context
        from laravel_queue.bus.unique import CONTEXT_LOCK_KEY, CONTEXT_STORE_KEYS

        base: Mapping[str, Any] = context if isinstance(context, Mapping) else {}
        data, hidden = base.get("data"), base.get("hidden")
        merged = dict(hidden) if isinstance(hidden, Mapping) else {}
        merged[CONTEXT_STORE_KEYS[0]] = _php_string(self.store)
        merged[CONTEXT_LOCK_KEY] = _php_string(self.key)
        if version >= (13, 0):
            merged["laravel_unique_job_lock_owner"] = _php_string(self.lock.owner)
        return {"data": data or [], "hidden": merged}  # PHP writes an empty map as []

    def release_after_failed_dispatch(self) -> None:
        """Never leave a lock without a job (owner-checked: a lock taken since is not ours)."""
        try:
            self.lock.release()
        except Exception:  # the dispatch error is what the caller must see
            log.warning("could not release unique lock %s after a failed dispatch", self.key, exc_info=True)


def _unique_lock(command: Any, resolved: _Resolved, conns: Connections) -> _UniqueLock | None:
    """The lock `UniqueLock::acquire` would take for this command, or None when it is not unique."""
    from laravel_queue.bus.unique import declared_mode, unique_lock_key

    options = resolved.options
    if declared_mode(options) is None:
        return None
    settings = conns.settings
    unique_id = _unique_id(options, command, resolved)
    key = unique_lock_key(
        str(resolved.obj.class_name), unique_id, display_name=options.display_name, version=settings.laravel_version
    )
    store = settings.cache_store(options.unique_via).name
    seconds = _unique_for(options, resolved)
    return _UniqueLock(store, key, conns.cache(store).lock(key, seconds))


def _unique_id(options: JobOptions, command: Any, resolved: _Resolved) -> Any:
    """`uniqueId()` (the declaration), else the public `uniqueId` property, else ""."""
    declared = options.unique_id
    if callable(declared):
        return declared(resolved.obj if isinstance(command, Command) else command)
    if declared is not None:
        return declared
    return resolved.public.get("uniqueId", "")


def _unique_for(options: JobOptions, resolved: _Resolved) -> int:
    """`uniqueFor()` (the declaration), else the public `uniqueFor` property, else 0 (no expiry)."""
    value = _first(options.unique_for, resolved.public.get("uniqueFor"), 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DispatchError(f"{resolved.obj.class_name}: uniqueFor must be a number of seconds, not {value!r}")
    return max(0, int(value))


def _php_string(value: str) -> str:
    """A string as PHP's `serialize()` writes it (Context values are stored serialized)."""
    return dumps(value).decode("utf-8")


def _with_context(payload: dict[str, Any], context: Mapping[str, Any] | None) -> dict[str, Any]:
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


def _needs_encrypter(command: Any, registry: Registry) -> bool:
    if isinstance(command, Command):
        return command.should_be_encrypted or registry.options_for(command.php_class).should_be_encrypted
    if isinstance(command, PhpObject):
        return (
            bool(command.get("shouldBeEncrypted")) or registry.options_for(str(command.class_name)).should_be_encrypted
        )
    registration = registry.for_type(type(command))
    return registration is not None and registration.options.should_be_encrypted


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def push_raw(
    payload: str | Mapping[str, Any] | Payload,
    *,
    connection: str | None = None,
    queue: str | None = None,
    delay: Delay = None,
    connections: Connections | None = None,
) -> str | int | None:
    """Push an envelope. A string is stored verbatim (Laravel's `pushRaw`); a dict or Payload
    first gets the driver's fields (Redis `id`/`attempts`) unless it already has them."""
    conns = _connections(connections)
    driver = conns.queue(connection)
    seconds = delay_seconds(delay)
    if isinstance(payload, str):
        encoded = payload
    else:
        body = payload.to_dict() if isinstance(payload, Payload) else dict(payload)
        if "id" not in body and "attempts" not in body:
            body = driver.prepare_payload(body)
        if "delay" in body and seconds and body["delay"] is None:
            body["delay"] = seconds
        encoded = horizon.encoded_payload(body, driver, conns.settings) or php_json_encode(body)
    job_id = driver.push_raw(encoded, queue, delay=seconds)
    horizon.record_push(encoded, driver, queue, conns.settings, conns)
    return job_id


class _CallableModule(types.ModuleType):
    """`from laravel_queue import dispatch` may yield this module (Python binds a package's
    submodule under its name once imported); calling it is calling `dispatch()`."""

    def __call__(self, *args: Any, **kwargs: Any) -> str | int | None:
        return dispatch(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
