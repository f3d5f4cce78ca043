"""Unique jobs: release Laravel's `ShouldBeUnique` lock at the moments PHP does (spec §12.1).

PHP takes the lock at dispatch; whichever worker runs the job must release it: after a
successful run (`ShouldBeUnique`), just before the handler runs
(`ShouldBeUniqueUntilProcessing`), or when the job fails for good. A Python worker
cannot see PHP interfaces, so it works from:

* the payload's hidden context (`laravel_unique_job_key` / `laravel_unique_job_cache_store`,
  Laravel 11.39+): the exact key and store, no class knowledge needed;
* else the registration's declaration (`@handles(..., unique=True | "until_processing",
  unique_id=...)`), from which the key is computed with the formula of
  `LARAVEL_VERSION` (`unique_lock_key`).

A job whose context carries a key is treated as `ShouldBeUnique` unless its registration
says `unique="until_processing"`.

Laravel 13 records the lock's owner (`uniqueLockOwner` in the command, and
`laravel_unique_job_lock_owner` in the hidden context): the lock is then released only
if that owner still holds it, and a `ShouldBeUniqueUntilProcessing` lock only on the first
attempt or when an owner is known, so a retried job never drops a lock someone else took.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from laravel_queue import compat
from laravel_queue.errors import ConfigurationError
from laravel_queue.job import Job
from laravel_queue.middleware.base import Around, AroundMiddleware
from laravel_queue.payload_codec import CONTEXT_KEY
from laravel_queue.php import PhpObject, PhpUnserializeError, loads
from laravel_queue.support import php_string
from laravel_queue.worker.lifecycle import JobLifecycle

log = logging.getLogger("laravel_queue.bus.unique")

UniqueMode = Literal["unique", "until_processing"]

KEY_PREFIX = "laravel_unique_job:"
CONTEXT_LOCK_KEY = "laravel_unique_job_key"
CONTEXT_STORE_KEYS = ("laravel_unique_job_cache_store", "laravel_unique_job_cache_driver")
CONTEXT_OWNER_KEY = "laravel_unique_job_lock_owner"
OWNER_PROPERTY = "uniqueLockOwner"
_HASHED_NAME = re.compile(r"[0-9a-f]{32}:")


class UniqueConfigError(ConfigurationError, ValueError):
    """A registration declares `unique=` with a value Laravel has no equivalent for."""


def xxh128_hex(text: str) -> str:
    """PHP's `hash('xxh128', $text)`; Laravel 12.54+ hashes `displayName()` with it."""
    try:
        import xxhash
    except ImportError:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "the unique-lock key of a job with a displayName() on Laravel 12.54+ needs the "
            "'xxhash' package (pip install xxhash)"
        ) from None
    return str(xxhash.xxh3_128_hexdigest(text.encode("utf-8")))


def unique_lock_key(
    php_class: str,
    unique_id: Any = "",
    *,
    display_name: str | None = None,
    version: tuple[int, int] = (12, 99),
) -> str:
    """`UniqueLock::getKey` for a Laravel version (spec §12.1).

    `display_name` is what the job's `displayName()` method returns, when it has one
    (Laravel 12.41+ uses it instead of the class; 12.54+ hashes it with xxh128).
    """
    uid = php_string(unique_id)
    if not compat.unique_key_has_separator(version):
        return f"{KEY_PREFIX}{php_class}{uid}"
    name = php_class
    if display_name is not None and compat.lock_key_uses_display_name(version):
        name = xxh128_hex(display_name) if compat.unique_key_uses_xxh128(version) else display_name
    return f"{KEY_PREFIX}{name}:{uid}"


@dataclass(frozen=True)
class UniqueLockRef:
    """Where a job's unique lock lives: the cache store name (None = default) and the key."""

    store: str | None
    key: str
    mode: UniqueMode
    owner: str | None = None
    """Laravel 13: the dispatch's lock owner; release then deletes only a lock it still holds."""


def declared_mode(options: Any) -> UniqueMode | None:
    """The registration's `unique=` knob: True/"unique" -> unique, "until_processing", else None."""
    value = getattr(options, "unique", None)
    if value in (None, False):
        return None
    if value is True or value == "unique":
        return "unique"
    if value in ("until_processing", "until-processing", "untilProcessing"):
        return "until_processing"
    raise UniqueConfigError(f"unique={value!r}: use True, 'unique' or 'until_processing'")


def _hidden_context_string(payload: Mapping[str, Any], name: str) -> str | None:
    """One PHP-serialized string of the payload's hidden context; None when absent or unreadable."""
    context = payload.get(CONTEXT_KEY)
    hidden = context.get("hidden") if isinstance(context, dict) else None
    raw = hidden.get(name) if isinstance(hidden, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        value = loads(raw)
    except PhpUnserializeError:
        log.warning("hidden context %s is not PHP-serialized; ignored", name)
        return None
    return value if isinstance(value, str) and value else None


def context_lock(payload: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """(store, key) from the payload's hidden context, or None when it has none."""
    key = _hidden_context_string(payload, CONTEXT_LOCK_KEY)
    if key is None:
        return None
    store = next((s for s in (_hidden_context_string(payload, name) for name in CONTEXT_STORE_KEYS) if s), None)
    return store, key


def lock_owner(payload: Mapping[str, Any], command: Any) -> str | None:
    """Laravel 13's lock owner: the command's `uniqueLockOwner`, else the hidden context's."""
    if isinstance(command, PhpObject):
        owner = command.get(OWNER_PROPERTY, "")
        if isinstance(owner, str) and owner:
            return owner
    return _hidden_context_string(payload, CONTEXT_OWNER_KEY)


def _key_names_other_class(key: str, command_name: str | None) -> bool:
    """True when a context key clearly belongs to another class (context inherited along a chain)."""
    if not command_name or not key.startswith(KEY_PREFIX):
        return False
    rest = key[len(KEY_PREFIX) :]
    if rest.startswith(command_name) or _HASHED_NAME.match(rest):
        return False
    return "\\" in rest.split(":", 1)[0]  # a class name, and not ours


def declared_id(options: Any, command: Any, option: str, php_property: str) -> Any:
    """A PHP `xxxId()` method's value: the registration's `option` (a value, or a function of
    the command), else the command's public `php_property`, else ""."""
    declared = getattr(options, option, None)
    if callable(declared):
        return declared(command)
    if declared is not None:
        return declared
    if isinstance(command, PhpObject):
        return command.get(php_property, "")
    return ""


def _declared_unique_id(options: Any, command: Any) -> Any:
    return declared_id(options, command, "unique_id", "uniqueId")


def resolve_unique_lock(
    payload: Mapping[str, Any],
    command: Any,
    options: Any,
    *,
    version: tuple[int, int],
) -> UniqueLockRef | None:
    """The unique lock this job holds, or None when it is not (known to be) unique."""
    mode = declared_mode(options)
    data = payload.get("data")
    command_name = data.get("commandName") if isinstance(data, dict) else None
    owner = lock_owner(payload, command) if compat.unique_lock_has_owner(version) else None
    from_context = context_lock(payload)
    if from_context is not None and (mode is not None or not _key_names_other_class(from_context[1], command_name)):
        store, key = from_context
        return UniqueLockRef(store, key, mode or "unique", owner)
    if mode is None or not isinstance(command_name, str):
        return None
    key = unique_lock_key(
        command_name,
        _declared_unique_id(options, command),
        display_name=getattr(options, "display_name", None),
        version=version,
    )
    return UniqueLockRef(getattr(options, "unique_via", None), key, mode, owner)


class UniqueLocks(JobLifecycle):
    """Releases unique locks before/after handling and on failure, as CallQueuedHandler does."""

    def __init__(self, connections: Any, registry: Any = None) -> None:
        self.connections = connections
        self.registry = registry

    def lock_for(self, job: Job, prepared: Any) -> UniqueLockRef | None:
        options = _options_of(prepared, job, self.registry)
        command = prepared.command if prepared is not None else None
        return resolve_unique_lock(job.payload, command, options, version=self.connections.settings.laravel_version)

    def release(self, ref: UniqueLockRef) -> None:
        """In the store the lock was taken in: only if its owner still holds it (Laravel 13,
        owner known), else force release (delete regardless of owner)."""
        store = self._store(ref.store)
        if ref.owner:
            released = store.restore_lock(ref.key, ref.owner).release()
            log.debug("released unique lock %s owned by %s: %s", ref.key, ref.owner, released)
            return
        store.lock(ref.key).force_release()
        log.debug("released unique lock %s", ref.key)

    def _store(self, name: str | None) -> Any:
        settings = self.connections.settings
        if name is not None and name not in settings.cache.stores:
            by_driver = [s for s, cfg in settings.cache.stores.items() if cfg.driver == name]
            if not by_driver:
                raise UniqueConfigError(f"unique lock store [{name}] is not configured here")
            name = by_driver[0]
        return self.connections.cache(name)

    def before_handle(self, job: Job, prepared: Any) -> None:
        ref = self.lock_for(job, prepared)
        if ref is None or ref.mode != "until_processing":
            return
        version = self.connections.settings.laravel_version
        if compat.unique_lock_has_owner(version) and ref.owner is None and job.attempts() > 1:
            return  # 13.x: a retry without an owner must not drop a lock another dispatch took since
        middleware = getattr(prepared, "middleware", None)
        if not middleware:
            self.release(ref)
            return
        # With middleware, CallQueuedHandler releases it as the pipeline's innermost step, and
        # in the pipeline's `finally` when a middleware ended it without releasing the job.
        release = _UntilProcessingRelease(self, ref)
        prepared.middleware = [release.finally_step, *middleware, release.innermost_step]

    def after_handle(self, job: Job, prepared: Any) -> None:
        if job.is_released():
            return
        ref = self.lock_for(job, prepared)
        if ref is not None and ref.mode == "unique":
            self.release(ref)

    def after_failure(self, job: Job, prepared: Any | None, exc: BaseException | None) -> None:
        ref = self.lock_for(job, prepared)
        if ref is not None and ref.mode == "unique":
            self.release(ref)


class _UntilProcessingRelease:
    """The two pipeline steps that release a `ShouldBeUniqueUntilProcessing` lock, as PHP does."""

    def __init__(self, locks: UniqueLocks, ref: UniqueLockRef) -> None:
        self.locks = locks
        self.ref = ref
        self.released = False
        self.innermost_step = _Around(self._before_handler)
        self.finally_step = _Around(None, self._after_pipeline)

    def _before_handler(self, job: Any) -> None:
        self.locks.release(self.ref)
        self.released = True

    def _after_pipeline(self, job: Any) -> None:
        if not self.released and not job.is_released():
            self.locks.release(self.ref)


class _Around(AroundMiddleware):
    """A step that runs `before(job)` before the rest of the pipeline and `after(job)` after it, always."""

    def __init__(self, before: Any = None, after: Any = None) -> None:
        self.before, self.after = before, after

    def around(self, job: Any, command: Any) -> Around:
        if self.before is not None:
            self.before(job)
        try:
            return (yield)
        finally:
            if self.after is not None:
                self.after(job)


def _options_of(prepared: Any, job: Job, registry: Any) -> Any:
    """The registration's knobs: from the prepared job, else looked up by class (failures before prepare)."""
    handler = getattr(prepared, "handler", None)
    if handler is not None:
        return handler.options
    if registry is None:
        return None
    try:
        return registry.options_for(registry.resolve_name(job))
    except Exception:  # an unreadable payload has no options
        return None
