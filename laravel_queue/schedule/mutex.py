"""Laravel's CacheEventMutex and CacheSchedulingMutex over a CacheStore's locks.

Same lock names, TTLs and operations as PHP (spec §14.6), so a Python and a PHP
scheduler on one cache store exclude each other: `withoutOverlapping` takes
`framework/schedule-<sha1>` for `minutes * 60` s and force-releases it when done;
`onOneServer` takes that name plus the run's start `HHMM` for 3600 s and lets it expire.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.schedule.event import Event

SCHEDULING_MUTEX_SECONDS = 3600

StoreResolver = Callable[[], "CacheStore"]


class EventMutex:
    """The overlap mutex of one event (`withoutOverlapping`)."""

    def __init__(self, store: StoreResolver) -> None:
        self._store = store

    def create(self, event: Event) -> bool:
        return self._store().lock(event.mutex_name(), event.expires_at * 60).acquire()

    def exists(self, event: Event) -> bool:
        """Laravel's `lock->get()`: exists when we cannot take (and give back) the lock."""
        lock = self._store().lock(event.mutex_name(), event.expires_at * 60)
        if lock.acquire():
            lock.release()
            return False
        return True

    def forget(self, event: Event) -> None:
        self._store().lock(event.mutex_name(), event.expires_at * 60).force_release()


class SchedulingMutex:
    """The once-per-minute-across-servers mutex (`onOneServer`)."""

    def __init__(self, store: StoreResolver) -> None:
        self._store = store

    @staticmethod
    def name(event: Event, started_at: datetime) -> str:
        return event.mutex_name() + started_at.strftime("%H%M")

    def create(self, event: Event, started_at: datetime) -> bool:
        """`started_at` is the schedule:run start time in the app time zone."""
        return self._store().lock(self.name(event, started_at), SCHEDULING_MUTEX_SECONDS).acquire()

    def exists(self, event: Event, started_at: datetime) -> bool:
        lock = self._store().lock(self.name(event, started_at), SCHEDULING_MUTEX_SECONDS)
        return lock.get_current_owner() is not None
