"""What a driver, cache store or failed-job provider needs from its surroundings.

They are built from `Connections`, but typed against this small Protocol so none of them
depends on the service locator (which imports every driver): settings plus the shared
Redis clients, database connections and cache stores. A test or another host can pass
anything with these four members.

This module is a leaf at run time: its imports are for annotations only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.config.models import Settings
    from laravel_queue.db.connection import Database


class Resources(Protocol):
    """Settings and the named, shared connections (Laravel's managers, reduced to four calls)."""

    @property
    def settings(self) -> Settings: ...

    def redis(self, name: str = "default") -> Any:
        """A redis-py client for `database.redis.<name>` (redis-py is untyped: Any)."""
        ...

    def db(self, name: str | None = None) -> Database: ...

    def cache(self, name: str | None = None) -> CacheStore: ...
