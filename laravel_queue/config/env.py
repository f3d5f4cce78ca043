"""The environment a configuration is read from, and typed reads of its variables."""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from pathlib import Path

from laravel_queue.config.dotenv import env_value, read_dotenv
from laravel_queue.config.errors import ConfigError
from laravel_queue.config.models import SecretStr


class Env:
    """Typed access to the merged environment; errors name the variable."""

    def __init__(self, values: Mapping[builtins.str, builtins.str]) -> None:
        self.values = values

    def raw(self, name: builtins.str) -> builtins.str | builtins.bool | None:
        return env_value(self.values.get(name))

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return "1" if value else ""
        return value

    def is_null(self, name: builtins.str) -> builtins.bool:
        """Set to Laravel's `null` literal (env() then returns null, not the default)."""
        return name in self.values and self.raw(name) is None

    def req(self, name: builtins.str, default: builtins.str) -> builtins.str:
        value = self.str(name, default)
        return default if value is None else value

    def int(self, name: builtins.str, default: builtins.int | None) -> builtins.int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None

    def float(self, name: builtins.str, default: builtins.float | None) -> builtins.float | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if value in ("1", "on", "yes"):
            return True
        if value in ("0", "off", "no"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")

    def secret(self, name: builtins.str) -> SecretStr | None:
        value = self.str(name)
        return SecretStr(value) if value else None


def merged_environment(
    *,
    env_file: Path | None = None,
    app_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """CLI overrides > process environment > `.env` (from --env-file or --app/.env)."""
    process = dict(os.environ if environ is None else environ)
    path = env_file or (app_path / ".env" if app_path else None)
    merged = read_dotenv(path, process) if path else {}
    merged.update(process)
    merged.update(overrides or {})
    return merged
