"""The configuration API in one import (kept for `from laravel_queue.config.settings import ...`).

The code lives by concept: `models` (the settings tree), `env` (reading variables),
`loaders` (each config file's defaults), `db_url` (DB_URL parsing), `errors`.
"""

from __future__ import annotations

from laravel_queue.config.db_url import apply_db_url
from laravel_queue.config.env import Env, merged_environment
from laravel_queue.config.errors import ConfigError
from laravel_queue.config.loaders import load_settings, parse_laravel_version, slug
from laravel_queue.config.models import (
    AppConfig,
    BatchingConfig,
    CacheConfig,
    CacheStoreConfig,
    DatabaseConfig,
    DatabaseConnectionConfig,
    FailedConfig,
    QueueConfig,
    QueueConnectionConfig,
    RedisConfig,
    RedisConnectionConfig,
    SecretStr,
    Settings,
    masked,
)

__all__ = [
    "AppConfig",
    "BatchingConfig",
    "CacheConfig",
    "CacheStoreConfig",
    "ConfigError",
    "DatabaseConfig",
    "DatabaseConnectionConfig",
    "Env",
    "FailedConfig",
    "QueueConfig",
    "QueueConnectionConfig",
    "RedisConfig",
    "RedisConnectionConfig",
    "SecretStr",
    "Settings",
    "apply_db_url",
    "load_settings",
    "masked",
    "merged_environment",
    "parse_laravel_version",
    "slug",
]
