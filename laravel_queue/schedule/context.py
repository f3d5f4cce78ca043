"""Everything a scheduler run needs from the outside world, injectable for tests.

One object carries the settings, the clock (tests pass a fake one instead of
sleeping), the cache stores holding mutexes and signals, and the maintenance check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from laravel_queue.schedule.mutex import EventMutex, SchedulingMutex
from laravel_queue.schedule.timing import UTC, zone

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.config import Settings
    from laravel_queue.connections import Connections

MAINTENANCE_KEY = "illuminate:foundation:down"
INTERRUPT_KEY = "illuminate:schedule:interrupt"


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScheduleContext:
    """Settings + connections + clock, shaped like what Laravel's scheduler reads from the app."""

    def __init__(
        self,
        settings: Settings,
        connections: Connections | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        cache_store: CacheStore | None = None,
        finish_command: str | None = None,
    ) -> None:
        """`cache_store` replaces every cache store (tests); `finish_command` is the shell
        prefix a background event calls when done (`... schedule:finish`)."""
        self.settings = settings
        self.connections = connections
        self._clock = clock
        self.sleep = sleep
        self._cache_store = cache_store
        self.finish_command = finish_command
        self.event_mutex = EventMutex(self.schedule_store)
        self.scheduling_mutex = SchedulingMutex(self.schedule_store)

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        moment = self._clock()
        if moment.tzinfo is None:
            raise ValueError("the scheduler clock must return timezone-aware datetimes")
        return moment

    @property
    def app_timezone(self) -> tzinfo:
        return zone(self.settings.app.timezone)

    @property
    def schedule_timezone(self) -> str:
        return self.settings.app.schedule_timezone or self.settings.app.timezone

    # -- app -----------------------------------------------------------------------------------

    @property
    def environment(self) -> str:
        return self.settings.app.env

    @property
    def base_path(self) -> Path:
        return Path(self.settings.app.base_path).resolve()

    def is_down_for_maintenance(self) -> bool:
        """Laravel's maintenance mode: `storage/framework/down`, or the cache key with the cache driver."""
        app = self.settings.app
        if app.maintenance_driver == "cache":
            return self.store(app.maintenance_store).get(MAINTENANCE_KEY) is not None
        return (self.base_path / "storage" / "framework" / "down").exists()

    # -- cache -----------------------------------------------------------------------------------

    def store(self, name: str | None = None) -> CacheStore:
        if self._cache_store is not None:
            return self._cache_store
        if self.connections is None:
            raise RuntimeError("no connections: pass connections= or cache_store= to ScheduleContext")
        return self.connections.cache(name)

    def schedule_store(self) -> CacheStore:
        """`cache.schedule_store` (SCHEDULE_CACHE_STORE), else the default store."""
        return self.store(self.settings.cache.schedule_store)

    def default_store(self) -> CacheStore:
        return self.store(None)
