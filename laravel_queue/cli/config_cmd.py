"""`laravel-queue config:show [section]`: the resolved configuration, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from laravel_queue.cli.common import argument, command, option, resolve_settings, settings_options


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for index, inner in enumerate(value):
            _flatten(f"{prefix}.{index}", inner, rows)
    else:
        rows.append((prefix, "null" if value is None else json.dumps(value) if not isinstance(value, str) else value))


def _section(data: dict[str, Any], path: str) -> Any:
    """`queue.connections.redis` -> that part of the configuration, or a one-line error."""
    from laravel_queue.errors import ConfigurationError

    value: Any = data
    for depth, key in enumerate(path.split(".")):
        if not isinstance(value, dict) or key not in value:
            known = ", ".join(sorted(value)) if isinstance(value, dict) else "none: it is a single value"
            where = ".".join(path.split(".")[:depth]) or "the configuration"
            raise ConfigurationError(f"config:show: no section [{path}] (keys of {where}: {known})")
        value = value[key]
    return value


@command("config:show")
@argument("section", required=False,
          help="Show only this part, as dotted keys: queue, database.redis, queue.connections.sqs.")
@settings_options
@option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def config_show(section: str | None, env_file: Path | None, app: Path | None, as_json: bool) -> None:
    """Show the resolved configuration (CLI > environment > .env > Laravel defaults)."""
    from laravel_queue.config import masked
    from laravel_queue.horizon.config import describe as horizon_describe

    settings = resolve_settings(env_file, app)
    data: Any = masked(settings)
    in_force = [] if section else list(horizon_describe(settings))
    if section:
        data = _section(data, section)
    if as_json:
        click.echo(json.dumps({**data, "in_force": dict(in_force)} if in_force else data, indent=2))
        return
    rows: list[tuple[str, str]] = []
    _flatten(section or "", data, rows)
    rows.extend(in_force)
    width = max((len(key) for key, _ in rows), default=0)
    major, minor = settings.laravel_version
    if not section:
        click.echo(f"  Laravel {major}.{'x' if minor == 99 else minor} rules, from {settings.laravel_version_source}")
    for key, value in rows:
        click.echo(f"  {key.ljust(width)}  {value}")
