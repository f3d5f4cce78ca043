"""What is dispatched: the command forms (`Command`, a bound model or dataclass, a `PhpObject`)
resolved into the PHP object and the public properties the envelope reads."""

from __future__ import annotations

import dataclasses
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from laravel_queue import compat
from laravel_queue.errors import PayloadError
from laravel_queue.lazy_pydantic import is_model_instance
from laravel_queue.models import restore_model_identifiers
from laravel_queue.php import PhpObject, mangle
from laravel_queue.registry import JobOptions, Registry

Visibility = Literal["public", "protected", "private"]
Delay = int | float | timedelta | datetime | None


class DispatchError(PayloadError, ValueError):
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
_QUEUEABLE_12: tuple[tuple[str, Any], ...] = (
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
_QUEUEABLE_10: tuple[tuple[str, Any], ...] = (
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
    if not compat.queueable_has_laravel11_properties(version):
        return [(name, list(d) if isinstance(d, list) else d) for name, d in _QUEUEABLE_10]
    props: list[tuple[str, Any]] = [(name, list(d) if isinstance(d, list) else d) for name, d in _QUEUEABLE_12]
    if not compat.queueable_has_message_group(version):
        props = [p for p in props if p[0] not in ("messageGroup", "deduplicator")]
    if compat.queueable_has_lock_owners(version):
        props += [("debounceOwner", ""), ("uniqueLockOwner", "")]
    return props


@dataclass
class Resolved:
    obj: PhpObject
    public: dict[str, Any]
    options: JobOptions
    serializes_models: bool
    encrypted: bool


def _resolve(command: Any, registry: Registry) -> Resolved:
    """Turn any accepted command form into the PHP object plus what the envelope reads from it."""
    if isinstance(command, PhpObject):
        obj = PhpObject(command.class_name, dict(command.properties))
        options = registry.options_for(str(command.class_name))
        found = _public_properties(obj)
        encrypted = options.should_be_encrypted or bool(found.get("shouldBeEncrypted"))
        return Resolved(obj, found, options, options.serializes_models, encrypted)
    if isinstance(command, Command):
        options = command.options or registry.options_for(command.php_class)
        obj = PhpObject(command.php_class.lstrip("\\"))
        for name, value in command.properties.items():
            _set(obj, name, value, command.visibility.get(name, "public"), None)
        given = {k: v for k, v in command.properties.items() if command.visibility.get(k, "public") == "public"}
        encrypted = command.should_be_encrypted or options.should_be_encrypted
        return Resolved(obj, given, options, command.serializes_models, encrypted)
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
    return Resolved(obj, public, options, options.serializes_models, encrypted)


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
    if is_model_instance(instance):
        from pydantic_core import PydanticUndefined

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
        marker = PhpProperty(typing.cast(Visibility, declared)) if isinstance(declared, str) else declared or Public
    return _FieldSpec(php_name, value, marker, equal)


def prepare(
    command: Any,
    connection: str | None,
    queue: str | None,
    delay: Delay,
    registry: Registry,
    version: tuple[int, int],
) -> Resolved:
    """The PHP object as it will be serialized, with `->onConnection()`/`->onQueue()`/`->delay()` applied."""
    resolved = _resolve(command, registry)
    obj, public = resolved.obj, resolved.public
    overrides: dict[str, Any] = {"connection": connection, "queue": queue}
    if delay is not None:
        overrides["delay"] = delay_seconds(delay)
    for name, value in overrides.items():
        if value is not None:
            obj[name] = value
            public[name] = value
    if not resolved.serializes_models:
        for name, default in queueable_defaults(version):
            if name not in obj:
                obj.properties[name] = default
    restore_model_identifiers(obj)
    return resolved


def needs_encrypter(command: Any, registry: Registry) -> bool:
    if isinstance(command, Command):
        return command.should_be_encrypted or registry.options_for(command.php_class).should_be_encrypted
    if isinstance(command, PhpObject):
        return (
            bool(command.get("shouldBeEncrypted")) or registry.options_for(str(command.class_name)).should_be_encrypted
        )
    registration = registry.for_type(type(command))
    return registration is not None and registration.options.should_be_encrypted


def delay_seconds(delay: Delay) -> int:
    """Laravel's `secondsUntil`: an int, a timedelta or a moment in time, never negative."""
    if delay is None:
        return 0
    if isinstance(delay, timedelta):
        return max(0, int(delay.total_seconds()))
    if isinstance(delay, datetime):
        return max(0, int(delay.timestamp() - time.time()))
    return max(0, int(delay))


def class_text(obj: PhpObject) -> str:
    """The object's class name for a message (a PHP class name may be non-UTF-8 bytes)."""
    name = obj.class_name
    return name if isinstance(name, str) else name.decode("utf-8", "replace")
