"""Configuration read from a Laravel app's environment (`.env` names and defaults)."""

from laravel_queue.config.settings import (
    AppConfig,
    CacheStoreConfig,
    ConfigError,
    DatabaseConnectionConfig,
    QueueConnectionConfig,
    RedisConnectionConfig,
    SecretStr,
    Settings,
    load_settings,
    masked,
    slug,
)

__all__ = [
    "AppConfig",
    "CacheStoreConfig",
    "ConfigError",
    "DatabaseConnectionConfig",
    "QueueConnectionConfig",
    "RedisConnectionConfig",
    "SecretStr",
    "Settings",
    "load_settings",
    "masked",
    "slug",
]
