"""Laravel's `array` cache driver: values and locks that live in this process only.

Used for the `array`/`null` cache config and for scheduler tests. Expiry follows
Laravel's ArrayStore (whole seconds, `expiresAt <= now` is expired) and reads the
store's clock, so a test can move time without sleeping.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from laravel_queue.cache.base import CacheStore, Lock
from laravel_queue.support import str_random


@dataclass
class _Entry:
    value: Any
    expires_at: float | None  # None = forever


@dataclass
class _LockEntry:
    owner: str
    expires_at: float | None


class ArrayStore(CacheStore):
    """In-memory store; thread-safe because background events run in threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, _Entry] = {}
        self._locks: dict[str, _LockEntry] = {}
        self._mutex = threading.RLock()

    # -- values -----------------------------------------------------------------------

    def _now(self) -> float:
        return float(self._clock())

    def _live(self, key: str) -> _Entry | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._now():
            del self._values[key]
            return None
        return entry

    def get(self, key: str) -> Any:
        with self._mutex:
            entry = self._live(key)
            # A copy, so a caller mutating the result cannot change the stored value (PHP copies arrays).
            return None if entry is None else copy.deepcopy(entry.value)

    def put(self, key: str, value: Any, seconds: int) -> None:
        with self._mutex:
            if seconds <= 0:
                self._values.pop(key, None)
                return
            self._values[key] = _Entry(copy.deepcopy(value), self._now() + seconds)

    def forever(self, key: str, value: Any) -> None:
        with self._mutex:
            self._values[key] = _Entry(copy.deepcopy(value), None)

    def add(self, key: str, value: Any, seconds: int) -> bool:
        with self._mutex:
            if self._live(key) is not None:
                return False
            self.put(key, value, seconds)
            return seconds > 0

    def increment(self, key: str, by: int = 1) -> int | None:
        """Laravel's ArrayStore: a missing key starts at `by` (stored forever); expiry is kept."""
        with self._mutex:
            entry = self._live(key)
            if entry is None:
                self._values[key] = _Entry(by, None)
                return by
            try:
                current = int(entry.value)
            except (TypeError, ValueError):
                return None
            entry.value = current + by
            return int(entry.value)

    def forget(self, key: str) -> bool:
        with self._mutex:
            return self._values.pop(key, None) is not None

    def flush(self) -> None:
        with self._mutex:
            self._values.clear()
            self._locks.clear()

    # -- locks ------------------------------------------------------------------------

    def lock(self, name: str, seconds: int = 0, owner: str | None = None) -> Lock:
        return ArrayLock(self, name, seconds, owner or str_random(16))

    def _acquire_lock(self, name: str, seconds: int, owner: str) -> bool:
        with self._mutex:
            held = self._locks.get(name)
            now = self._now()
            if held is not None and (held.expires_at is None or held.expires_at > now):
                return False
            self._locks[name] = _LockEntry(owner, now + seconds if seconds > 0 else None)
            return True

    def _lock_owner(self, name: str) -> str | None:
        with self._mutex:
            held = self._locks.get(name)
            if held is None:
                return None
            if held.expires_at is not None and held.expires_at <= self._now():
                del self._locks[name]
                return None
            return held.owner

    def _release_lock(self, name: str, owner: str) -> bool:
        with self._mutex:
            if self._lock_owner(name) != owner:
                return False
            del self._locks[name]
            return True

    def _force_release_lock(self, name: str) -> None:
        with self._mutex:
            self._locks.pop(name, None)


class ArrayLock(Lock):
    """Laravel's ArrayLock: owner and expiry kept in the store's lock table."""

    def __init__(self, store: ArrayStore, name: str, seconds: int, owner: str) -> None:
        super().__init__(name, seconds, owner)
        self._store = store

    def acquire(self) -> bool:
        return self._store._acquire_lock(self.name, self.seconds, self.owner)

    def release(self) -> bool:
        return self._store._release_lock(self.name, self.owner)

    def force_release(self) -> None:
        self._store._force_release_lock(self.name)

    def get_current_owner(self) -> str | None:
        return self._store._lock_owner(self.name)
