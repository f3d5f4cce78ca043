"""Laravel's `config()` tree, the parts a queue worker and scheduler read (see `records`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from laravel_queue import compat
from laravel_queue.config.errors import ConfigError
from laravel_queue.config.records import Record as _Model
from laravel_queue.config.records import SecretStr as SecretStr  # re-exported: the settings API
from laravel_queue.config.records import field


class AppConfig(_Model):
    name: str = "Laravel"
    env: str = "production"
    key: SecretStr | None = None
    previous_keys: tuple[SecretStr, ...] = ()
    cipher: str = "AES-256-CBC"
    timezone: str = "UTC"
    schedule_timezone: str | None = None
    base_path: Path = Path(".")
    maintenance_driver: str = "file"
    maintenance_store: str = "database"


class RedisConnectionConfig(_Model):
    name: str
    url: SecretStr | None = None
    scheme: Literal["tcp", "tls"] = "tcp"
    host: str = "127.0.0.1"
    port: int = 6379
    username: str | None = None
    password: SecretStr | None = None
    database: int = 0
    prefix: str = ""
    timeout: float | None = None
    read_timeout: float | None = None


class RedisConfig(_Model):
    client: str = "phpredis"
    cluster: str = "redis"
    prefix: str = ""
    serializer: str | None = None
    compression: str | None = None
    connections: dict[str, RedisConnectionConfig]
    clusters: dict[str, tuple[RedisConnectionConfig, ...]] = field(default_factory=dict)


class DatabaseConnectionConfig(_Model):
    name: str
    driver: Literal["sqlite", "mysql", "mariadb", "pgsql"]
    url: SecretStr | None = None
    database: str
    host: str = "127.0.0.1"
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = None
    unix_socket: str | None = None
    charset: str = "utf8mb4"
    prefix: str = ""
    busy_timeout: int | None = None
    journal_mode: str | None = None
    synchronous: str | None = None
    transaction_mode: str | None = None
    sslmode: str | None = None
    ssl_ca: str | None = None
    version: str | None = None


class QueueConnectionConfig(_Model):
    name: str
    driver: Literal["sync", "database", "redis", "sqs", "null"]
    connection: str | None = None
    table: str = "jobs"
    queue: str = "default"
    retry_after: int | None = 60
    block_for: float | None = None
    after_commit: bool = False
    migration_batch_size: int = -1
    prefix: str = ""
    suffix: str = ""
    region: str = "us-east-1"
    key: SecretStr | None = None
    secret: SecretStr | None = None
    token: SecretStr | None = None
    endpoint: str | None = None
    wait_time: int | None = None


class FailedConfig(_Model):
    driver: str = "database-uuids"
    database: str | None = None
    table: str = "failed_jobs"
    path: Path | None = None
    limit: int = 100
    region: str = "us-east-1"
    key: SecretStr | None = None
    secret: SecretStr | None = None
    endpoint: str | None = None


class BatchingConfig(_Model):
    database: str | None = None
    table: str = "job_batches"


class QueueConfig(_Model):
    default: str = "database"
    connections: dict[str, QueueConnectionConfig]
    failed: FailedConfig
    batching: BatchingConfig


class CacheStoreConfig(_Model):
    name: str
    driver: Literal["redis", "database", "array", "file", "null", "memcached", "dynamodb"]
    connection: str | None = None
    lock_connection: str | None = None
    table: str = "cache"
    lock_table: str = "cache_locks"
    path: Path | None = None
    prefix: str | None = None


class CacheConfig(_Model):
    default: str = "database"
    prefix: str = ""
    schedule_store: str | None = None
    stores: dict[str, CacheStoreConfig]


class DatabaseConfig(_Model):
    default: str = "sqlite"
    connections: dict[str, DatabaseConnectionConfig]
    redis: RedisConfig


HORIZON_TRIM_DEFAULTS = {  # minutes, config/horizon.php `trim`
    "recent": 60, "pending": 60, "completed": 60, "recent_failed": 10080, "failed": 10080,
    "monitored": 10080,
}


class HorizonConfig(_Model):
    """`config/horizon.php`, the parts a foreign worker needs (read from env: the file is PHP).

    `enabled` None means "detect" (see laravel_queue.horizon.config); `installed` says
    whether the app's `config/horizon.php` exists; `trim` holds minutes per list.
    """

    enabled: bool | None = None
    prefix: str = "laravel_horizon:"
    prefix_from_env: bool = False
    use: str = "default"
    installed: bool = False
    trim: dict[str, int] = field(default_factory=lambda: dict(HORIZON_TRIM_DEFAULTS))
    silenced: tuple[str, ...] = ()
    silenced_tags: tuple[str, ...] = ()


class Settings(_Model):
    """Laravel's `config()` tree, the parts a queue worker and scheduler read."""

    laravel_version: tuple[int, int] = compat.DEFAULT_VERSION
    laravel_version_source: str = "default"
    app: AppConfig
    queue: QueueConfig
    database: DatabaseConfig
    cache: CacheConfig
    horizon: HorizonConfig = field(default_factory=lambda: HorizonConfig())

    def queue_connection(self, name: str | None = None) -> QueueConnectionConfig:
        name = name or self.queue.default
        try:
            return self.queue.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.queue.connections))
            raise ConfigError(f"queue connection [{name}] is not configured (known: {known})") from None

    def db_connection(self, name: str | None = None) -> DatabaseConnectionConfig:
        name = name or self.database.default
        try:
            return self.database.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.database.connections))
            raise ConfigError(f"database connection [{name}] is not configured (known: {known})") from None

    def redis_connection(self, name: str | None = None) -> RedisConnectionConfig:
        name = name or "default"
        try:
            return self.database.redis.connections[name]
        except KeyError:
            raise ConfigError(f"Redis connection [{name}] is not configured") from None

    def cache_store(self, name: str | None = None) -> CacheStoreConfig:
        name = name or self.cache.default
        try:
            return self.cache.stores[name]
        except KeyError:
            raise ConfigError(f"cache store [{name}] is not configured") from None


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced by `********`."""
    return settings.model_dump(mode="json")
