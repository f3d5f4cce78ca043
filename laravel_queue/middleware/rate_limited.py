"""RateLimited / RateLimitedWithRedis: Laravel's named-limiter job middleware, one counter with PHP.

Each limit of the named limiter is counted under `md5(limiterName . limitKey)`. Over the
limit the job is released (attempt counted, as PHP's `release`) after `release_after` or
the seconds left in the window + 3; with `dont_release()` it ends as done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from typing import Any

from laravel_queue.middleware.base import Around, AroundMiddleware, connections_of
from laravel_queue.middleware.duration import DurationLimiter
from laravel_queue.middleware.limiter import Limit, Limiters, RateLimiter, default_limiters
from laravel_queue.support import php_string

RATE_LIMITED = "Illuminate\\Queue\\Middleware\\RateLimited"
RATE_LIMITED_WITH_REDIS = "Illuminate\\Queue\\Middleware\\RateLimitedWithRedis"


def limiter_key(limiter_name: str, limit: Limit) -> str:
    """RateLimited's counter key: `md5(limiterName . limit->key)`."""
    return hashlib.md5((limiter_name + php_string(limit.key)).encode()).hexdigest()


class RateLimited(AroundMiddleware):
    """PHP's `new RateLimited('name')`; the limiter is a Python `@rate_limiter('name')`."""

    php_class = RATE_LIMITED

    def __init__(self, limiter_name: str, *, limiters: Limiters | None = None) -> None:
        self.limiter_name = str(limiter_name)
        self.should_release = True
        self.release_after_seconds: int | None = None
        self.limiters = default_limiters if limiters is None else limiters

    def dont_release(self) -> RateLimited:
        self.should_release = False
        return self

    def release_after(self, seconds: int) -> RateLimited:
        self.release_after_seconds = int(seconds)
        return self

    def keyed_limits(self, job: Any, command: Any) -> list[tuple[str, Limit]] | None:
        limits = self.limiters.limits(self.limiter_name, job, command)
        if limits is None:
            return None
        return [(limiter_key(self.limiter_name, limit), limit) for limit in limits]

    def around(self, job: Any, command: Any) -> Around:
        limits = self.keyed_limits(job, command)
        if limits is not None:
            limiter = RateLimiter(connections_of(job).cache())
            for key, limit in limits:
                if limiter.too_many_attempts(key, limit.max_attempts):
                    return self._over_limit(job, partial(limiter.available_in, key))
                limiter.hit(key, limit.decay_seconds)
        return (yield)

    def _over_limit(self, job: Any, seconds_left: Callable[[], int]) -> bool:
        """Release after `release_after`, else the window's seconds left + 3 (read only then, as PHP)."""
        if not self.should_release:
            return False
        job.release(self.release_after_seconds or seconds_left() + 3)
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.limiter_name!r})"


class RateLimitedWithRedis(RateLimited):
    """PHP's RateLimitedWithRedis: each limit is a Redis DurationLimiter on `connection` (default: default)."""

    php_class = RATE_LIMITED_WITH_REDIS

    def __init__(self, limiter_name: str, connection: str | None = None, *, limiters: Limiters | None = None) -> None:
        super().__init__(limiter_name, limiters=limiters)
        self.connection_name = connection

    def connection(self, name: str) -> RateLimitedWithRedis:
        self.connection_name = name
        return self

    def around(self, job: Any, command: Any) -> Around:
        limits = self.keyed_limits(job, command)
        if limits is not None:
            from laravel_queue.redis_client import redis_key_prefix

            connections = connections_of(job)
            name = self.connection_name or "default"
            client, prefix = connections.redis(name), redis_key_prefix(connections.settings, name)
            for key, limit in limits:
                window = DurationLimiter(client, prefix + key, limit.max_attempts, limit.decay_seconds)
                if not window.acquire():
                    return self._over_limit(job, window.available_in)
        return (yield)
