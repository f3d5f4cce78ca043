"""ThrottlesExceptions / ThrottlesExceptionsWithRedis: stop calling a failing service, shared with PHP.

Key: `laravel_throttles_exceptions:` + (the `by()` key, or the job's uuid with `by_job()`,
or xxh128 of the job's display name on Laravel 12+, md5 of its class before). Each handled
exception hits the key for `decay_seconds` and releases the job after `backoff` minutes;
once `max_attempts` hits are counted the job is released until the window ends + 3 s
without calling the handler. A success clears the key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from laravel_queue.middleware.base import Around, AroundMiddleware, connections_of
from laravel_queue.middleware.duration import DurationLimiter
from laravel_queue.middleware.limiter import RateLimiter

log = logging.getLogger("laravel_queue.middleware")

THROTTLES_EXCEPTIONS = "Illuminate\\Queue\\Middleware\\ThrottlesExceptions"
THROTTLES_EXCEPTIONS_WITH_REDIS = "Illuminate\\Queue\\Middleware\\ThrottlesExceptionsWithRedis"

ExceptionTest = Callable[[BaseException], Any]


class ThrottlesExceptions(AroundMiddleware):
    """PHP's `new ThrottlesExceptions($maxAttempts = 10, $decaySeconds = 600)` on the default cache store."""

    php_class = THROTTLES_EXCEPTIONS

    def __init__(self, max_attempts: int = 10, decay_seconds: int = 600) -> None:
        self.max_attempts = int(max_attempts)
        self.decay_seconds = int(decay_seconds)
        self.retry_after_minutes = 0
        self.key: str | None = None
        self.by_job_uuid = False
        self.prefix = "laravel_throttles_exceptions:"
        self.when_callback: ExceptionTest | None = None
        self.report_callback: ExceptionTest | None = None
        self.delete_when_callbacks: list[ExceptionTest] = []
        self.fail_when_callbacks: list[ExceptionTest] = []

    # -- Laravel's fluent options --------------------------------------------------------------
    def by(self, key: str) -> ThrottlesExceptions:
        self.key = key
        return self

    def by_job(self) -> ThrottlesExceptions:
        self.by_job_uuid = True
        return self

    def backoff(self, minutes: int) -> ThrottlesExceptions:
        """Minutes to release the job for after an exception (before the limit is reached)."""
        self.retry_after_minutes = int(minutes)
        return self

    def with_prefix(self, prefix: str) -> ThrottlesExceptions:
        self.prefix = prefix
        return self

    def when(self, callback: ExceptionTest) -> ThrottlesExceptions:
        """Throttle only exceptions for which `callback(exc)` is true; others propagate untouched."""
        self.when_callback = callback
        return self

    def delete_when(self, test: ExceptionTest | type[BaseException]) -> ThrottlesExceptions:
        self.delete_when_callbacks.append(_as_test(test))
        return self

    def fail_when(self, test: ExceptionTest | type[BaseException]) -> ThrottlesExceptions:
        self.fail_when_callbacks.append(_as_test(test))
        return self

    def report(self, callback: ExceptionTest | None = None) -> ThrottlesExceptions:
        """Log (Laravel: report()) throttled exceptions for which `callback(exc)` is true (all without one)."""
        self.report_callback = callback or (lambda exc: True)
        return self

    # -- running ---------------------------------------------------------------------------------
    def cache_key(self, job: Any, command: Any) -> str:
        if self.key:
            return self.prefix + self.key
        if self.by_job_uuid:
            return self.prefix + str(job.uuid)
        version = connections_of(job).settings.laravel_version
        name = str(job.display_name)
        if version >= (12, 0):
            from laravel_queue.bus.unique import xxh128_hex

            return self.prefix + xxh128_hex(name)
        return self.prefix + hashlib.md5(name.encode()).hexdigest()

    def window(self, job: Any, command: Any) -> ExceptionWindow:
        """Where exceptions are counted: Laravel's cache RateLimiter on the default store."""
        return CacheWindow(RateLimiter(connections_of(job).cache()), self.cache_key(job, command), self)

    def around(self, job: Any, command: Any) -> Around:
        window = self.window(job, command)
        wait = window.wait_if_throttled()
        if wait is not None:
            job.release(wait)
            return None
        try:
            yield
        except Exception as exc:
            if self.when_callback is not None and not self.when_callback(exc):
                raise
            if window.callbacks_apply and self._ends_job(job, exc):
                return None
            window.hit()
            job.release(self.retry_after_minutes * 60)
            return None
        window.clear()
        return None

    def _ends_job(self, job: Any, exc: Exception) -> bool:
        """report / deleteWhen / failWhen, in PHP's order; True when the job was deleted or failed."""
        if self.report_callback is not None and self.report_callback(exc):
            log.error("throttled exception in %s", job.display_name, exc_info=exc)
        if any(test(exc) for test in self.delete_when_callbacks):
            job.delete()
            return True
        if any(test(exc) for test in self.fail_when_callbacks):
            job.fail(exc)
            return True
        return False


class ExceptionWindow(Protocol):
    callbacks_apply: bool

    def wait_if_throttled(self) -> int | None: ...
    def hit(self) -> None: ...
    def clear(self) -> None: ...


class CacheWindow:
    """ThrottlesExceptions' counting: RateLimiter hits, released until the timer + 3 s."""

    callbacks_apply = True

    def __init__(self, limiter: RateLimiter, key: str, throttle: ThrottlesExceptions) -> None:
        self.limiter, self.key, self.throttle = limiter, key, throttle

    def wait_if_throttled(self) -> int | None:
        if self.limiter.too_many_attempts(self.key, self.throttle.max_attempts):
            return self.limiter.available_in(self.key) + 3
        return None

    def hit(self) -> None:
        self.limiter.hit(self.key, self.throttle.decay_seconds)

    def clear(self) -> None:
        self.limiter.clear(self.key)


class RedisWindow:
    """ThrottlesExceptionsWithRedis' counting: a DurationLimiter, released until its window ends.

    PHP's Redis variant applies `when` but not report / deleteWhen / failWhen.
    """

    callbacks_apply = False

    def __init__(self, limiter: DurationLimiter) -> None:
        self.limiter = limiter

    def wait_if_throttled(self) -> int | None:
        if self.limiter.too_many_attempts():
            return self.limiter.available_in()
        return None

    def hit(self) -> None:
        self.limiter.acquire()

    def clear(self) -> None:
        self.limiter.clear()


class ThrottlesExceptionsWithRedis(ThrottlesExceptions):
    """PHP's ThrottlesExceptionsWithRedis: the same key as a Redis DurationLimiter on the default connection."""

    php_class = THROTTLES_EXCEPTIONS_WITH_REDIS

    def window(self, job: Any, command: Any) -> ExceptionWindow:
        from laravel_queue.redis_client import redis_key_prefix

        connections = connections_of(job)
        key = redis_key_prefix(connections.settings, "default") + self.cache_key(job, command)
        return RedisWindow(DurationLimiter(connections.redis("default"), key, self.max_attempts, self.decay_seconds))


def _as_test(test: ExceptionTest | type[BaseException]) -> ExceptionTest:
    if isinstance(test, type) and issubclass(test, BaseException):
        return lambda exc: isinstance(exc, test)
    return test
