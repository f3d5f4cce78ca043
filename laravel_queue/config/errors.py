"""The configuration error, in a leaf module so the `.env` reader and the loaders share it."""

from __future__ import annotations

from laravel_queue.errors import ConfigurationError


class ConfigError(ConfigurationError, ValueError):
    """A configuration value that cannot be used; the message names the variable."""
