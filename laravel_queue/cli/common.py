"""Options every command shares (`--env-file`, `--app`) and how they become Settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from laravel_queue.config import ConfigError, Settings, load_settings

EnvFileOption = Annotated[
    Path | None,
    typer.Option("--env-file", help="A Laravel .env file to read (process environment wins over it)."),
]
AppOption = Annotated[
    Path | None,
    typer.Option("--app", help="A Laravel project root: reads its .env and resolves relative paths from it."),
]


def resolve_settings(
    env_file: Path | None, app: Path | None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Load settings or stop with a one-line error naming the bad variable."""
    try:
        return load_settings(env_file=env_file, app_path=app, overrides=overrides)
    except ConfigError as exc:
        typer.secho(f"Configuration error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
