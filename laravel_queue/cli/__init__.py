"""The `laravel-queue` command: artisan's queue and schedule commands, in Python."""

from __future__ import annotations

from typing import Annotated

import typer

from laravel_queue import __version__
from laravel_queue.cli import admin, dispatch, failed, migrate, schedule, work
from laravel_queue.cli.config_cmd import config_show

app = typer.Typer(
    name="laravel-queue",
    help="Work Laravel queues and run Laravel-style schedules from Python.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"laravel-queue {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Work Laravel queues and run Laravel-style schedules from Python."""


app.command("config:show")(config_show)

# Each command group lives in its own module with a `register(app)` function.
for _module in (work, dispatch, migrate, failed, admin, schedule):
    _module.register(app)


def main() -> None:
    app()
