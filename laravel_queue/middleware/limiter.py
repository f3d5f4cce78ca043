"""Laravel's cache RateLimiter and `Limit`, on the app's cache store, sharing PHP's counters.

For a limiter key K (RateLimited uses `md5(limiterName . limitKey)`), the store holds
`K` (the hit count, a plain integer) and `K:timer` (the Unix time the window ends), both
added with the decay as TTL, exactly as Illuminate\\Cache\\RateLimiter writes them, so a
PHP worker and a Python worker count the same hits.
"""

from __future__ import annotations

import html.entities
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from laravel_queue.cache.base import CacheStore
from laravel_queue.support import php_string

_ENTITY = re.compile(r"&([a-z])[a-z]+;", re.IGNORECASE)


def clean_rate_limiter_key(key: str) -> str:
    """RateLimiter::cleanRateLimiterKey: htmlentities (ENT_QUOTES, HTML 4.01), then `&eacute;` -> `e`."""
    names = html.entities.codepoint2name
    encoded = "".join(
        "&#039;" if char == "'" else f"&{names[ord(char)]};" if ord(char) in names else char for char in key
    )
    return _ENTITY.sub(r"\1", encoded)


class RateLimiter:
    """Illuminate\\Cache\\RateLimiter over one cache store (same calls, same order, same values)."""

    def __init__(self, cache: CacheStore, clock: Callable[[], float] = time.time) -> None:
        self.cache = cache
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    def too_many_attempts(self, key: str, max_attempts: int) -> bool:
        if self.attempts(key) >= max_attempts:
            if self.cache.get(clean_rate_limiter_key(key) + ":timer") is not None:
                return True
            self.reset_attempts(key)
        return False

    def hit(self, key: str, decay_seconds: int = 60, amount: int = 1) -> int:
        """RateLimiter::increment: add the timer, add the counter at 0, increment (repairing a lost add)."""
        key = clean_rate_limiter_key(key)
        added, hits = self.cache.add_timer_add_and_increment(key, self.now() + decay_seconds, decay_seconds, amount)
        if not added and hits == 1:
            self.cache.put(key, 1, decay_seconds)
        return hits

    def attempts(self, key: str) -> int:
        value = self.cache.get(clean_rate_limiter_key(key))
        return int(value) if value is not None else 0

    def remaining(self, key: str, max_attempts: int) -> int:
        return max(0, max_attempts - self.attempts(key))

    def reset_attempts(self, key: str) -> bool:
        return self.cache.forget(clean_rate_limiter_key(key))

    def clear(self, key: str) -> None:
        self.reset_attempts(key)
        self.cache.forget(clean_rate_limiter_key(key) + ":timer")

    def available_in(self, key: str) -> int:
        timer = self.cache.get(clean_rate_limiter_key(key) + ":timer")
        return max(0, int(timer or 0) - self.now())


@dataclass
class Limit:
    """Illuminate\\Cache\\RateLimiting\\Limit: `max_attempts` per `decay_seconds`, counted per `key`."""

    key: Any = ""
    max_attempts: int = 60
    decay_seconds: int = 60

    @classmethod
    def per_second(cls, max_attempts: int, decay_seconds: int = 1) -> Limit:
        return cls("", max_attempts, decay_seconds)

    @classmethod
    def per_minute(cls, max_attempts: int, decay_minutes: int = 1) -> Limit:
        return cls("", max_attempts, 60 * decay_minutes)

    @classmethod
    def per_minutes(cls, decay_minutes: int, max_attempts: int) -> Limit:
        return cls("", max_attempts, 60 * decay_minutes)

    @classmethod
    def per_hour(cls, max_attempts: int, decay_hours: int = 1) -> Limit:
        return cls("", max_attempts, 3600 * decay_hours)

    @classmethod
    def per_day(cls, max_attempts: int, decay_days: int = 1) -> Limit:
        return cls("", max_attempts, 86400 * decay_days)

    @staticmethod
    def none() -> Unlimited:
        return Unlimited()

    def by(self, key: Any) -> Limit:
        """Key the counter (PHP mutates and returns the same limit; so does this)."""
        self.key = key
        return self

    def fallback_key(self) -> str:
        """The key PHP gives limits whose keys collide inside one limiter's result."""
        prefix = f"{php_string(self.key)}:" if self.key else ""
        return f"{prefix}attempts:{self.max_attempts}:decay:{self.decay_seconds}"


class Unlimited(Limit):
    """Limit::none(): the job is not limited."""

    def __init__(self) -> None:
        super().__init__("", 0, 0)


LimiterCallback = Callable[[Any, Any], "Limit | list[Limit] | Unlimited | None"]


class Limiters:
    """Named limiter callbacks, Python's `RateLimiter::for(...)`: `fn(job, command) -> Limit(s)`."""

    def __init__(self) -> None:
        self._callbacks: dict[str, LimiterCallback] = {}

    def register(self, name: str, callback: LimiterCallback) -> None:
        self._callbacks[str(name)] = callback

    def __contains__(self, name: object) -> bool:
        return name in self._callbacks

    def limits(self, name: str, job: Any, command: Any) -> list[Limit] | None:
        """The limits for one job (duplicate keys replaced by their fallback key); None when unlimited."""
        result = self._callbacks[name](job, command)
        if result is None or isinstance(result, Unlimited):
            return None
        limits = list(result) if isinstance(result, (list, tuple)) else [result]
        keys = [php_string(limit.key) for limit in limits]
        duplicated = {key for index, key in enumerate(keys) if key in keys[:index]}
        for limit, key in zip(limits, keys, strict=True):
            if key in duplicated:
                limit.key = limit.fallback_key()
        return limits


default_limiters = Limiters()


def rate_limiter(name: str, *, limiters: Limiters | None = None) -> Callable[[LimiterCallback], LimiterCallback]:
    """Register a named limiter, as PHP's `RateLimiter::for(name, fn ($job) => Limit::...)`."""

    def register(callback: LimiterCallback) -> LimiterCallback:
        (default_limiters if limiters is None else limiters).register(name, callback)
        return callback

    return register
