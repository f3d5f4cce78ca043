"""The cache-store contract: what the worker, bus features and scheduler read and write.

Keys given to a store are Laravel's logical keys (`illuminate:queue:restart`); the store
adds the cache prefix (and a Redis store its connection prefix) exactly as PHP does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any


class Lock(ABC):
    """Laravel's `Cache::lock(name, seconds, owner)`."""

    def __init__(self, name: str, seconds: int, owner: str) -> None:
        self.name = name
        self.seconds = seconds
        self.owner = owner

    @abstractmethod
    def acquire(self) -> bool: ...

    @abstractmethod
    def release(self) -> bool:
        """Release only if we still own it."""

    @abstractmethod
    def force_release(self) -> None: ...

    @abstractmethod
    def get_current_owner(self) -> str | None: ...


class CacheStore(ABC):
    """Laravel's cache `Repository` over one store, reduced to what queues and schedules use."""

    @abstractmethod
    def get(self, key: str) -> Any:
        """The value, PHP-decoded as Laravel would return it; None when missing or expired."""

    def many(self, keys: Sequence[str]) -> list[Any]:
        """Several values in one round trip where the store can."""
        return [self.get(key) for key in keys]

    @abstractmethod
    def put(self, key: str, value: Any, seconds: int) -> None: ...

    @abstractmethod
    def forever(self, key: str, value: Any) -> None: ...

    @abstractmethod
    def add(self, key: str, value: Any, seconds: int) -> bool:
        """Store only if absent; True when stored."""

    @abstractmethod
    def increment(self, key: str, by: int = 1) -> int | None:
        """Add to a stored integer; None (Laravel's false) when the store cannot."""

    @abstractmethod
    def forget(self, key: str) -> bool: ...

    def add_timer_add_and_increment(self, key: str, timer_value: int, seconds: int, by: int = 1) -> tuple[bool, int]:
        """RateLimiter::increment's three calls, in PHP's order: add `key:timer`, add `key` at 0,
        increment `key`. Returns (whether `key` was added, the new count). A store that can
        send them in one round trip (Redis: a pipeline, same commands) overrides this."""
        self.add(key + ":timer", timer_value, seconds)
        added = self.add(key, 0, seconds)
        return added, int(self.increment(key, by) or 0)

    @abstractmethod
    def lock(self, name: str, seconds: int = 0, owner: str | None = None) -> Lock: ...

    def restore_lock(self, name: str, owner: str) -> Lock:
        return self.lock(name, 0, owner)

    def close(self) -> None:
        """Release network resources."""
