"""`laravel-queue config:show`: the resolved configuration, secrets masked."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings
from laravel_queue.config import masked
from laravel_queue.horizon.config import describe as horizon_describe


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for index, inner in enumerate(value):
            _flatten(f"{prefix}.{index}", inner, rows)
    else:
        rows.append((prefix, "null" if value is None else json.dumps(value) if not isinstance(value, str) else value))


def config_show(
    env_file: EnvFileOption = None,
    app: AppOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the resolved configuration (CLI > environment > .env > Laravel defaults)."""
    settings = resolve_settings(env_file, app)
    data = masked(settings)
    in_force = horizon_describe(settings)
    if as_json:
        typer.echo(json.dumps({**data, "in_force": dict(in_force)}, indent=2))
        return
    rows: list[tuple[str, str]] = []
    _flatten("", data, rows)
    rows.extend(in_force)
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        typer.echo(f"  {key.ljust(width)}  {value}")
