"""Debounced jobs (Laravel 13's `#[DebounceFor]`): only the newest of a burst runs.

Every dispatch writes a fresh 40-character owner token to the cache key
`laravel_debounced_job:<class or xxh128(displayName)>:<debounceId>` (last writer wins),
puts it in the command as `debounceOwner` and delays the job by the debounce time. When
a worker handles a command with a non-empty `debounceOwner` and the key holds a
*different* token, a newer dispatch superseded it: the job is deleted without running
(Laravel's `JobDebounced` event) and counts as processed. A missing key (evicted,
expired) lets the job run. The token is not released after a run.

`maxWait` bounds the wait of a steady stream: the first dispatch of a burst is recorded
under `<key>:first_dispatched_at`, and once that is `maxWait` seconds old a dispatch
goes out without delay (and a new burst starts).

A Python registration declares the PHP side's attribute and methods:
`@handles(..., debounce_for=3, debounce_max_wait=30, debounce_id=fn | "id", debounce_via="redis")`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from laravel_queue import compat
from laravel_queue.bus.unique import declared_id, declared_mode, xxh128_hex
from laravel_queue.cache.base import CacheStore
from laravel_queue.errors import ConfigurationError
from laravel_queue.job import Job
from laravel_queue.php import PhpObject
from laravel_queue.support import php_string, str_random

log = logging.getLogger("laravel_queue.bus.debounce")

KEY_PREFIX = "laravel_debounced_job:"
OWNER_PROPERTY = "debounceOwner"
FIRST_DISPATCHED_SUFFIX = ":first_dispatched_at"
MIN_TOKEN_TTL = 300


class DebounceConfigError(ConfigurationError, ValueError):
    """A debounce declaration Laravel would refuse (e.g. together with ShouldBeUnique)."""


def debounce_key(php_class: str, debounce_id: Any = "", *, display_name: str | None = None) -> str:
    """`DebounceLock::getKey`: the class, or xxh128 of `displayName()` when the job has one."""
    name = xxh128_hex(display_name) if display_name is not None else php_class
    return f"{KEY_PREFIX}{name}:{php_string(debounce_id)}"


def token_ttl(debounce_for: int) -> int:
    """How long the token lives: `max(10 * debounceFor, 300)` (garbage collection only)."""
    return max(int(debounce_for) * 10, MIN_TOKEN_TTL)


def command_owner(command: Any) -> str:
    """The command's `debounceOwner` ("" when absent: a job that is not debounced)."""
    if isinstance(command, PhpObject):
        owner = command.get(OWNER_PROPERTY, "")
        return owner if isinstance(owner, str) else ""
    return ""


def declared_debounce_id(options: Any, command: Any) -> Any:
    """`debounceId()`: the registration's `debounce_id`, else the public `debounceId` property, else ""."""
    return declared_id(options, command, "debounce_id", "debounceId")


def key_for_job(job: Job, command: Any, options: Any) -> str:
    """The debounce key of a popped job: a `displayName` other than the class means a `displayName()` method."""
    payload = job.payload
    data = payload.get("data")
    php_class = str(data.get("commandName") or "") if isinstance(data, dict) else ""
    display_name = getattr(options, "display_name", None)
    if display_name is None and payload.get("displayName") not in (None, php_class):
        display_name = str(payload["displayName"])
    return debounce_key(php_class, declared_debounce_id(options, command), display_name=display_name)


def superseded(job: Job, command: Any, cache: CacheStore, version: tuple[int, int], options: Any = None) -> bool:
    """CallQueuedHandler::commandShouldBeDebounced: a token is stored and it is not this command's."""
    if not compat.supports_debounce(version):
        return False
    owner = command_owner(command)
    if not owner:
        return False
    current = cache.get(key_for_job(job, command, options))
    return current is not None and current != owner


class DebounceCheck:
    """The worker's step before the handler: is this job superseded by a newer dispatch?"""

    def __init__(self, connections: Any) -> None:
        self.connections = connections
        self._warned: set[str] = set()

    def superseded(self, job: Job, prepared: Any) -> bool:
        version = self.connections.settings.laravel_version
        command = getattr(prepared, "command", None)
        if not compat.supports_debounce(version) or not command_owner(command):
            return False
        handler = getattr(prepared, "handler", None)
        options = getattr(handler, "options", None)
        cache = self.connections.cache(getattr(options, "debounce_via", None))
        if not superseded(job, command, cache, version, options):
            self._warn_if_undeclared(job, command, options)
            return False
        log.info(
            "%s debounced: a newer dispatch superseded it; deleted without running",
            job.display_name,
            extra={"laravel_queue_event": "job_debounced", "job_uuid": job.uuid},
        )
        return True


    def _warn_if_undeclared(self, job: Job, command: Any, options: Any) -> None:
        """Once per class: a debounced job whose id we cannot know (PHP's `debounceId()` method)."""
        if getattr(options, "debounce_id", None) is not None or "debounceId" in command.properties:
            return
        name = job.display_name
        if name not in self._warned:
            self._warned.add(name)
            log.warning(
                "%s is debounced but its debounceId() is not declared here (@handles(..., debounce_id=...)); "
                "without it the token is looked up under the id \"\" and superseded jobs run",
                name,
            )


@dataclass(frozen=True)
class DebounceToken:
    """What a dispatch writes into the command: the owner token and the delay to queue with."""

    owner: str
    delay: int
    max_wait_exceeded: bool


def acquire(
    cache: CacheStore,
    key: str,
    debounce_for: int,
    *,
    max_wait: int | None = None,
    clock: Callable[[], float] = time.time,
) -> DebounceToken:
    """DebounceLock::acquire: store a fresh owner (last writer wins) and say how long to delay."""
    if debounce_for < 0:
        raise DebounceConfigError(f"debounce_for must be >= 0 seconds, got {debounce_for}")
    owner = str_random(40)
    ttl = token_ttl(debounce_for)
    exceeded = False
    if max_wait:
        first_key = key + FIRST_DISPATCHED_SUFFIX
        now = int(clock())
        first = cache.get(first_key)
        if isinstance(first, (int, float)) and not isinstance(first, bool) and now - int(first) >= max_wait:
            exceeded = True
            cache.forget(first_key)
        elif first is None:
            cache.put(first_key, now, max(ttl, int(max_wait)))
    cache.put(key, owner, ttl)
    return DebounceToken(owner, 0 if exceeded else int(debounce_for), exceeded)


def check_not_unique(php_class: str, options: Any) -> None:
    """Laravel's LogicException, raised here before any lock or token is taken."""
    if getattr(options, "debounce_for", None) is not None and declared_mode(options) is not None:
        raise DebounceConfigError(f"{php_class}: a debounced job cannot also implement ShouldBeUnique")


def stamp_dispatch(obj: PhpObject, public: dict[str, Any], options: Any, connections: Any) -> DebounceToken | None:
    """PendingDispatch::acquireDebounceLock for a Python dispatch: store a token, put it in the
    command as `debounceOwner` and, unless a delay was set, delay by the debounce time.
    None when the job is not debounced (or the version has no debounce)."""
    debounce_for = getattr(options, "debounce_for", None)
    if debounce_for is None or not compat.supports_debounce(connections.settings.laravel_version):
        return None
    display_name = getattr(options, "display_name", None)
    key = debounce_key(str(obj.class_name), declared_debounce_id(options, obj), display_name=display_name)
    cache = connections.cache(getattr(options, "debounce_via", None))
    token = acquire(cache, key, int(debounce_for), max_wait=getattr(options, "debounce_max_wait", None))
    obj[OWNER_PROPERTY] = token.owner
    if public.get("delay") is None:
        obj["delay"] = token.delay
        public["delay"] = token.delay
    return token
