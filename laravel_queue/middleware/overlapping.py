"""WithoutOverlapping: Laravel's per-key lock around the job, on the default cache store (spec §12.2).

Key: prefix (default `laravel-queue-overlap:`) + the key when `shared()`, else
`<name>:<key>` where name is the class (Laravel ≤ 12.40), the job's display name
(12.41–12.53) or xxh128 of it (12.54+) when the job has a `displayName()`. When another
worker (PHP or Python) holds the lock the job is released after `release_after` seconds,
or with `dont_release()` ends as done.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from laravel_queue.middleware.base import Around, AroundMiddleware, connections_of, job_class_of

WITHOUT_OVERLAPPING = "Illuminate\\Queue\\Middleware\\WithoutOverlapping"
OVERLAP_PREFIX = "laravel-queue-overlap:"


def overlap_key(
    php_class: str,
    key: str,
    *,
    prefix: str = OVERLAP_PREFIX,
    shared: bool = False,
    display_name: str | None = None,
    version: tuple[int, int] = (12, 99),
) -> str:
    """WithoutOverlapping::getLockKey: `prefix + key` when shared, else `prefix + name:key`."""
    if shared:
        return f"{prefix}{key}"
    name = php_class
    if display_name is not None and version >= (12, 41):
        from laravel_queue.bus.unique import xxh128_hex

        name = xxh128_hex(display_name) if version >= (12, 54) else display_name
    return f"{prefix}{name}:{key}"


class WithoutOverlapping(AroundMiddleware):
    """PHP's `new WithoutOverlapping($key, $releaseAfter = 0, $expiresAfter = 0)`.

    `key` may be a value or `fn(command)`; `display_name` names the job's `displayName()`
    when it has one (it changes the key on Laravel 12.41+).
    """

    php_class = WITHOUT_OVERLAPPING

    def __init__(
        self,
        key: Any = "",
        release_after: int | None = 0,
        expire_after: int = 0,
        *,
        display_name: str | None = None,
        php_class: str | None = None,
    ) -> None:
        self.key = key
        self.release_after_seconds = release_after
        self.expires_after = int(expire_after)
        self.prefix = OVERLAP_PREFIX
        self.share_key = False
        self.display_name = display_name
        self.job_class = php_class

    def release_after(self, seconds: int) -> WithoutOverlapping:
        self.release_after_seconds = int(seconds)
        return self

    def dont_release(self) -> WithoutOverlapping:
        self.release_after_seconds = None
        return self

    def expire_after(self, seconds: int) -> WithoutOverlapping:
        self.expires_after = int(seconds)
        return self

    def with_prefix(self, prefix: str) -> WithoutOverlapping:
        self.prefix = prefix
        return self

    def shared(self) -> WithoutOverlapping:
        self.share_key = True
        return self

    def lock_key(self, job: Any, command: Any, version: tuple[int, int] = (12, 99)) -> str:
        from laravel_queue.support import php_string

        value = self.key(command) if callable(self.key) else self.key
        job_class = self.job_class or job_class_of(job, command)
        display_name = self.display_name
        if display_name is None and job.display_name != job_class:
            display_name = job.display_name  # the payload's displayName: the job has a displayName()
        return overlap_key(
            job_class,
            php_string(value),
            prefix=self.prefix,
            shared=self.share_key,
            display_name=display_name,
            version=version,
        )

    def around(self, job: Any, command: Any) -> Around:
        connections = connections_of(job)
        name = self.lock_key(job, command, connections.settings.laravel_version)
        lock = connections.cache().lock(name, self.expires_after)
        if not lock.acquire():
            if self.release_after_seconds is not None:
                job.release(self.release_after_seconds)
            return None
        try:
            yield
        finally:
            lock.release()
        return None


Handler = Callable[[Any, Any], Any]


def without_overlapping(
    key: Any,
    *,
    release_after: int | None = 0,
    expire_after: int = 0,
    prefix: str = OVERLAP_PREFIX,
    shared: bool = False,
    php_class: str | None = None,
    display_name: str | None = None,
) -> Callable[[Handler], Handler]:
    """Decorator form of `WithoutOverlapping` for a handler `fn(job, command)` (kept for older code).

    Prefer `@handles(..., middleware=[WithoutOverlapping(...)])`, which runs in the pipeline.
    """
    middleware = WithoutOverlapping(
        key, release_after, expire_after, display_name=display_name, php_class=php_class
    ).with_prefix(prefix)
    if shared:
        middleware.shared()

    def decorate(handler: Handler) -> Handler:
        if inspect.iscoroutinefunction(handler):  # the lock is held until the coroutine finishes

            @functools.wraps(handler)
            async def run_async(job: Any, command: Any) -> Any:
                from laravel_queue.middleware.pipeline import asend_through

                return await asend_through(job, command, [middleware], handler)

            return run_async

        @functools.wraps(handler)
        def run(job: Any, command: Any) -> Any:
            return middleware(job, command, handler)

        return run

    return decorate
