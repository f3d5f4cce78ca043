"""The `laravel-queue` command: artisan's queue and schedule commands, in Python.

Start-up cost matters (`schedule:run` runs every minute from cron, `dispatch` from
scripts), so this package imports only typer at load time: each command imports what it
uses inside its function, and help is plain click formatting (no rich).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from laravel_queue import __version__
from laravel_queue.cli import admin, dispatch, failed, migrate, schedule, work
from laravel_queue.cli.config_cmd import config_show


class _Application(TyperGroup):
    """The root group: every run goes through `boundary.run`, under `main()` and in tests alike."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        from laravel_queue.cli.boundary import run

        argv = list(sys.argv[1:] if args is None else args)
        name = prog_name or "laravel-queue"
        code = run(
            lambda: super(_Application, self).main(
                argv, name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            ),
            argv,
        )
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=_Application,
    name="laravel-queue",
    help="Work Laravel queues and run Laravel-style schedules from Python.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the traceback behind an error (also after the command).")
    ] = False,
) -> None:
    """Work Laravel queues and run Laravel-style schedules from Python."""


app.command("config:show")(config_show)

# Each command group lives in its own module with a `register(app)` function.
for _module in (work, dispatch, migrate, failed, admin, schedule):
    _module.register(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: a wrong input ends with one line on stderr and a non-zero status."""
    app(args=argv)
