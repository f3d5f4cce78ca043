"""The `laravel-queue` command: artisan's queue and schedule commands, in Python.

Start-up cost matters (`schedule:run` runs every minute from cron, `dispatch` from
scripts), so this package imports only click at load time, a command's module is
imported when that command runs (or when `--help` lists them all), and each command
imports what it uses inside its function. tests/test_startup.py guards the budget.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from laravel_queue import __version__

# name -> "module:function" under laravel_queue.cli, in the order `--help` lists them.
COMMANDS = {
    "config:show": "config_cmd:config_show",
    "queue:work": "work:work",
    "dispatch": "dispatch:dispatch_command",
    "migrate": "migrate:migrate_command",
    "queue:failed": "failed:list_failed",
    "queue:retry": "failed:retry",
    "queue:retry-batch": "failed:retry_batch",
    "queue:forget": "failed:forget",
    "queue:flush": "failed:flush",
    "queue:prune-failed": "failed:prune_failed",
    "queue:clear": "admin:clear",
    "queue:monitor": "admin:monitor",
    "queue:restart": "admin:restart",
    "queue:pause": "admin:pause",
    "queue:resume": "admin:resume",
    "queue:continue": "admin:continue_",
    "queue:prune-batches": "admin:prune_batches",
    "schedule:run": "schedule:schedule_run",
    "schedule:work": "schedule:schedule_work",
    "schedule:list": "schedule:schedule_list",
    "schedule:test": "schedule:schedule_test",
    "schedule:interrupt": "schedule:schedule_interrupt",
    "schedule:clear-cache": "schedule:schedule_clear_cache",
    "schedule:finish": "schedule:schedule_finish",
}


class _Application(click.Group):
    """The root group: commands load on demand; every run goes through `boundary.run`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"laravel_queue.cli.{module}"), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's first sentence in full, wrapped (as `php artisan list` shows them), not
        cut at the width left beside the longest name as click does."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        from laravel_queue.cli.boundary import run

        argv = list(sys.argv[1:] if args is None else args)
        name = prog_name or "laravel-queue"
        code = run(lambda: super(_Application, self).main(argv, name, standalone_mode=False, **extra), argv)
        if standalone_mode:
            sys.exit(code)
        return code


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"laravel-queue {__version__}")
        ctx.exit()


@click.group("laravel-queue", cls=_Application, no_args_is_help=True)
@click.option("--version", is_flag=True, is_eager=True, expose_value=False, callback=_version,
              help="Show the version and exit.")
@click.option("--verbose", "-v", is_flag=True, expose_value=False,
              help="Show the traceback behind an error (also after the command).")
def app() -> None:
    """Work Laravel queues and run Laravel-style schedules from Python."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: a wrong input ends with one line on stderr and a non-zero status."""
    app.main(args=argv)
