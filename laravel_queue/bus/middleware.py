"""Python declarations for Laravel job middleware a Python worker can honour (decision 3).

PHP middleware comes from a job's `middleware()` method (invisible to Python) or its
serialized `middleware` property (visible). Declare what a PHP class uses on its
registration so both stacks agree::

    @handles("App\\Jobs\\Import", middleware=(SkipIfBatchCancelled(),))

`SkipIfBatchCancelled` is honoured by `laravel_queue.bus.batches.Batches`; the
serialized `Illuminate\\Queue\\Middleware\\SkipIfBatchCancelled` is recognised too.
`without_overlapping(...)` wraps a Python handler with Laravel's WithoutOverlapping
lock (same key, same store), so PHP and Python never run the same key at once.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from laravel_queue import compat
from laravel_queue.awaitables import is_async_callable, run_sync
from laravel_queue.php import PhpObject

SKIP_IF_BATCH_CANCELLED = "Illuminate\\Queue\\Middleware\\SkipIfBatchCancelled"


@dataclass(frozen=True)
class SkipIfBatchCancelled:
    """Laravel's SkipIfBatchCancelled: a job of a cancelled batch is skipped and counts as done."""

    php_class = SKIP_IF_BATCH_CANCELLED


def declares(middleware: Iterable[Any], php_class: str) -> bool:
    """True when a middleware list (serialized PhpObjects, Python declarations or class names) names `php_class`."""
    for item in middleware:
        if isinstance(item, PhpObject) and item.class_name == php_class:
            return True
        if isinstance(item, str) and item.lstrip("\\") == php_class:
            return True
        if getattr(item, "php_class", None) == php_class:
            return True
    return False


def middleware_of(command: Any, options: Any) -> list[Any]:
    """The command's serialized `middleware` property followed by the registration's declaration."""
    found: list[Any] = list(getattr(options, "middleware", ()) or ())
    if isinstance(command, PhpObject):
        serialized = command.get("middleware")
        if isinstance(serialized, dict):
            serialized = list(serialized.values())
        if isinstance(serialized, list):
            found.extend(serialized)
    return found


# -- WithoutOverlapping -------------------------------------------------------------------------

OVERLAP_PREFIX = "laravel-queue-overlap:"

_job_connections: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def bind_job(job: Any, connections: Any) -> None:
    """Remember which connections run `job`, so handler-side helpers reach the shared cache."""
    _job_connections[job] = connections


def overlap_key(
    php_class: str,
    key: str,
    *,
    prefix: str = OVERLAP_PREFIX,
    shared: bool = False,
    display_name: str | None = None,
    version: tuple[int, int] = (12, 99),
) -> str:
    """WithoutOverlapping::getLockKey (spec §12.2): `prefix + key` when shared, else `prefix + name:key`."""
    if shared:
        return f"{prefix}{key}"
    name = php_class
    if display_name is not None and compat.lock_key_uses_display_name(version):
        from laravel_queue.bus.unique import xxh128_hex

        name = xxh128_hex(display_name) if compat.unique_key_uses_xxh128(version) else display_name
    return f"{prefix}{name}:{key}"


Handler = Callable[[Any, Any], Any]


def without_overlapping(
    key: str | Callable[[Any], Any],
    *,
    release_after: int | None = 0,
    expire_after: int = 0,
    prefix: str = OVERLAP_PREFIX,
    shared: bool = False,
    php_class: str | None = None,
    display_name: str | None = None,
) -> Callable[[Handler], Handler]:
    """Laravel's WithoutOverlapping for a Python handler `fn(job, command)`, sharing PHP's lock.

    The lock lives in the default cache store under Laravel's key; when another worker
    (PHP or Python) holds it the job is released after `release_after` seconds, or with
    `release_after=None` (PHP's `dontRelease()`) dropped as if it succeeded.
    """

    def lock_for(job: Any, command: Any) -> Any:
        connections = _job_connections.get(job)
        if connections is None:
            raise RuntimeError("without_overlapping needs the bus lifecycle (laravel_queue.bus.lifecycle)")
        cls = php_class or _class_of(job, command)
        value = key(command) if callable(key) else key
        name = overlap_key(
            cls,
            str(value),
            prefix=prefix,
            shared=shared,
            display_name=display_name,
            version=connections.settings.laravel_version,
        )
        return connections.cache().lock(name, expire_after)

    def held_elsewhere(job: Any) -> None:
        if release_after is not None:
            job.release(release_after)

    def decorate(handler: Handler) -> Handler:
        if is_async_callable(handler):  # the lock must be held until the coroutine finishes

            @functools.wraps(handler)
            async def run_async(job: Any, command: Any) -> Any:
                lock = lock_for(job, command)
                if not lock.acquire():
                    return held_elsewhere(job)
                try:
                    return await handler(job, command)
                finally:
                    lock.release()

            return run_async

        @functools.wraps(handler)
        def run(job: Any, command: Any) -> Any:
            lock = lock_for(job, command)
            if not lock.acquire():
                return held_elsewhere(job)
            try:
                return run_sync(handler(job, command))
            finally:
                lock.release()

        return run

    return decorate


def _class_of(job: Any, command: Any) -> str:
    if isinstance(command, PhpObject):
        return str(command.class_name)
    return str(job.command_name or job.display_name)
