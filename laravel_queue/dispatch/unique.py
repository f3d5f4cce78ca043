"""`ShouldBeUnique` at dispatch: the lock PendingDispatch takes and what the context says about it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.dispatch.command import Command, DispatchError, Resolved, class_text
from laravel_queue.dispatch.envelope import first, php_string
from laravel_queue.registry import JobOptions

if TYPE_CHECKING:
    from laravel_queue.cache.base import Lock
    from laravel_queue.resources import Resources

log = logging.getLogger("laravel_queue.dispatch")


@dataclass
class UniqueLock:
    """The `ShouldBeUnique` lock a dispatch takes, and what the payload's context says about it."""

    store: str
    key: str
    lock: Lock

    def context(self, context: Mapping[str, Any] | None, version: tuple[int, int]) -> Mapping[str, Any] | None:
        """`context` plus the hidden entries PendingDispatch adds (11.39+) so any worker can release the lock."""
        if not compat.context_carries_unique_lock(version):
            return context
        from laravel_queue.bus.unique import CONTEXT_LOCK_KEY, CONTEXT_STORE_KEYS

        base: Mapping[str, Any] = context if isinstance(context, Mapping) else {}
        data, hidden = base.get("data"), base.get("hidden")
        merged = dict(hidden) if isinstance(hidden, Mapping) else {}
        merged[CONTEXT_STORE_KEYS[0]] = php_string(self.store)
        merged[CONTEXT_LOCK_KEY] = php_string(self.key)
        if compat.unique_lock_has_owner(version):
            merged["laravel_unique_job_lock_owner"] = php_string(self.lock.owner)
        return {"data": data or [], "hidden": merged}  # PHP writes an empty map as []

    def release_after_failed_dispatch(self) -> None:
        """Never leave a lock without a job (owner-checked: a lock taken since is not ours)."""
        try:
            self.lock.release()
        except Exception:  # the dispatch error is what the caller must see
            log.warning("could not release unique lock %s after a failed dispatch", self.key, exc_info=True)


def unique_lock_for(command: Any, resolved: Resolved, conns: Resources) -> UniqueLock | None:
    """The lock `UniqueLock::acquire` would take for this command, or None when it is not unique."""
    options = resolved.options
    if getattr(options, "unique", None) in (None, False):  # as declared_mode: skip importing bus.unique
        return None
    from laravel_queue.bus.unique import declared_mode, unique_lock_key

    if declared_mode(options) is None:
        return None
    settings = conns.settings
    unique_id = _unique_id(options, command, resolved)
    key = unique_lock_key(
        str(resolved.obj.class_name), unique_id, display_name=options.display_name, version=settings.laravel_version
    )
    store = settings.cache_store(options.unique_via).name
    seconds = _unique_for(options, resolved)
    return UniqueLock(store, key, conns.cache(store).lock(key, seconds))


def _unique_id(options: JobOptions, command: Any, resolved: Resolved) -> Any:
    """`uniqueId()` (the declaration), else the public `uniqueId` property, else ""."""
    declared = options.unique_id
    if callable(declared):
        return declared(resolved.obj if isinstance(command, Command) else command)
    if declared is not None:
        return declared
    return resolved.public.get("uniqueId", "")


def _unique_for(options: JobOptions, resolved: Resolved) -> int:
    """`uniqueFor()` (the declaration), else the public `uniqueFor` property, else 0 (no expiry)."""
    value = first(options.unique_for, resolved.public.get("uniqueFor"), 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DispatchError(f"{class_text(resolved.obj)}: uniqueFor must be a number of seconds, not {value!r}")
    return max(0, int(value))
