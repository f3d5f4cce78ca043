"""The `laravel-queue` command: artisan's queue and schedule commands, in Python."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from laravel_queue import __version__
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
_COMMAND_MODULES = ("work", "dispatch", "migrate", "failed", "admin", "schedule")
for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"laravel_queue.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"laravel_queue.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    app()
