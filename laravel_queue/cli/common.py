"""Options every command shares (`--env-file`, `--app`) and how they become Settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from laravel_queue.config import Settings

EnvFileOption = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        exists=True,
        dir_okay=False,
        help="A Laravel .env file to read (process environment wins over it).",
    ),
]
AppOption = Annotated[
    Path | None,
    typer.Option(
        "--app",
        exists=True,
        file_okay=False,
        help="A Laravel project root: reads its .env and resolves relative paths from it.",
    ),
]


def resolve_settings(
    env_file: Path | None, app: Path | None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Load settings; a bad variable ends the command with one line naming it."""
    from laravel_queue.config import ConfigError, load_settings
    from laravel_queue.errors import ConfigurationError

    try:
        return load_settings(env_file=env_file, app_path=app, overrides=overrides)
    except ConfigError as exc:
        raise ConfigurationError(str(exc)) from exc
