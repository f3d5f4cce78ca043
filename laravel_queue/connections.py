"""One place that turns Settings into live connections, and shares them.

Laravel's QueueManager, RedisManager, DatabaseManager and CacheManager in one
small class: each named connection is opened once per process and reused by the
queue driver, the cache store, the failed-job provider and the scheduler.
Drivers are imported lazily so a worker on Redis never imports boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laravel_queue.config import ConfigError, Settings

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.db import Database
    from laravel_queue.drivers.base import Queue
    from laravel_queue.failed.base import FailedJobProvider


class Connections:
    """Named queue, Redis, database and cache connections built from one Settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queues: dict[str, Queue] = {}
        self._redis: dict[str, Any] = {}
        self._dbs: dict[str, Database] = {}
        self._caches: dict[str, CacheStore] = {}
        self._failed: FailedJobProvider | None = None

    def queue(self, name: str | None = None) -> Queue:
        """The queue connection `name` (default: `queue.default`)."""
        cfg = self.settings.queue_connection(name)
        if cfg.name not in self._queues:
            self._queues[cfg.name] = self._make_queue(cfg.driver)(self, cfg)
        return self._queues[cfg.name]

    def _make_queue(self, driver: str) -> Any:
        if driver == "redis":
            from laravel_queue.drivers.redis import RedisQueue

            return RedisQueue.from_config
        if driver == "database":
            from laravel_queue.drivers.database import DatabaseQueue

            return DatabaseQueue.from_config
        if driver == "sqs":
            from laravel_queue.drivers.sqs import SqsQueue

            return SqsQueue.from_config
        if driver == "sync":
            from laravel_queue.drivers.sync import SyncQueue

            return SyncQueue.from_config
        raise ConfigError(f"queue driver [{driver}] is not supported")

    def redis(self, name: str = "default") -> Any:
        """A redis-py client for `database.redis.<name>` (keys are prefixed by the callers)."""
        if name not in self._redis:
            from laravel_queue.redis_client import make_redis_client

            self._redis[name] = make_redis_client(self.settings, name)
        return self._redis[name]

    def db(self, name: str | None = None) -> Database:
        """A database connection for `database.connections.<name>` (default: DB_CONNECTION)."""
        cfg = self.settings.db_connection(name)
        if cfg.name not in self._dbs:
            from laravel_queue.db import connect

            self._dbs[cfg.name] = connect(cfg)
        return self._dbs[cfg.name]

    def cache(self, name: str | None = None) -> CacheStore:
        """The cache store `name` (default: CACHE_STORE)."""
        cfg = self.settings.cache_store(name)
        if cfg.name not in self._caches:
            if cfg.driver == "redis":
                from laravel_queue.cache.redis import RedisStore

                self._caches[cfg.name] = RedisStore.from_config(self, cfg)
            elif cfg.driver == "database":
                from laravel_queue.cache.database import DatabaseStore

                self._caches[cfg.name] = DatabaseStore.from_config(self, cfg)
            elif cfg.driver in ("array", "null"):
                from laravel_queue.cache.array import ArrayStore

                self._caches[cfg.name] = ArrayStore()
            else:
                raise ConfigError(f"cache driver [{cfg.driver}] is not supported")
        return self._caches[cfg.name]

    def failed(self) -> FailedJobProvider:
        """The failed-job provider chosen by `queue.failed.driver`."""
        if self._failed is None:
            from laravel_queue.failed.providers import provider_from_config

            self._failed = provider_from_config(self)
        return self._failed

    def close(self) -> None:
        for queue in self._queues.values():
            queue.close()
        for cache in self._caches.values():
            cache.close()
        for client in self._redis.values():
            client.close()
        for db in self._dbs.values():
            db.close()
        self._queues.clear()
        self._caches.clear()
        self._redis.clear()
        self._dbs.clear()
        self._failed = None
