"""Configuration read from a Laravel app's environment (`.env` names and defaults).

The settings models are built with pydantic's plugin scan switched off: it reads the
entry points of every installed package (10-25 ms of each command's start, issue 26),
and no pydantic plugin has any business with these models. Models defined elsewhere
(the user's own, the payload's) still get the plugins.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def _without_pydantic_plugins() -> Iterator[None]:
    previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = previous


with _without_pydantic_plugins():
    from laravel_queue.config.settings import (
        AppConfig,
        CacheStoreConfig,
        ConfigError,
        DatabaseConnectionConfig,
        QueueConnectionConfig,
        RedisConnectionConfig,
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
    "Settings",
    "load_settings",
    "masked",
    "slug",
]
