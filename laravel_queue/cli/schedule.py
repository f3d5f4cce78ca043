"""`schedule:*` commands: artisan's scheduler commands over a Python Schedule."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings

if TYPE_CHECKING:
    from laravel_queue.schedule.context import ScheduleContext
    from laravel_queue.schedule.schedule import Schedule

ScheduleOption = Annotated[
    str,
    typer.Option(
        "--schedule", help="The Python module holding the Schedule: module[:attribute] (attribute: schedule)."
    ),
]


def _self_command(schedule: str, env_file: Path | None, app: Path | None) -> list[str]:
    """argv that re-invokes this CLI with the same schedule and configuration."""
    argv = [sys.executable, "-m", "laravel_queue"]
    tail = ["--schedule", schedule]
    if env_file:
        tail += ["--env-file", str(env_file.resolve())]
    if app:
        tail += ["--app", str(app.resolve())]
    return [*argv, "{command}", *tail]


def _with_command(argv: list[str], command: str) -> list[str]:
    return [command if part == "{command}" else part for part in argv]


@contextmanager
def _scheduler(schedule: str, env_file: Path | None, app: Path | None) -> Iterator[tuple[Schedule, ScheduleContext]]:
    from laravel_queue.cli.boundary import describe
    from laravel_queue.connections import Connections
    from laravel_queue.errors import ConfigurationError, JobImportError
    from laravel_queue.schedule import ScheduleContext, ScheduleError, ScheduleLoadError, load_schedule
    from laravel_queue.schedule.commands import escape_argument

    settings = resolve_settings(env_file, app)
    try:
        loaded = load_schedule(schedule)
    except ScheduleLoadError as exc:
        raise JobImportError(str(exc)) from exc
    except ScheduleError as exc:
        raise ConfigurationError(f"--schedule {schedule}: {exc}") from exc
    except Exception as exc:  # the schedule module itself raised while being imported
        raise JobImportError(f"--schedule: cannot import {schedule!r}: {describe(exc)}") from exc
    connections = Connections(settings)
    finish_argv = _with_command(_self_command(schedule, env_file, app), "schedule:finish")
    finish = " ".join(escape_argument(part) for part in finish_argv)
    context = ScheduleContext(settings, connections, finish_command=finish)
    loaded.bind(context)
    try:
        yield loaded, context
    finally:
        connections.close()


def schedule_run(
    schedule: ScheduleOption,
    whisper: Annotated[bool, typer.Option("--whisper", help="Do not say that no events were due.")] = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Run the scheduled events that are due now (call it every minute from cron)."""
    from laravel_queue.schedule import ScheduleRunner

    with _scheduler(schedule, env_file, app) as (loaded, context):
        code = ScheduleRunner(loaded, context, whisper=whisper).run()
    raise typer.Exit(code)


def schedule_work(
    schedule: ScheduleOption,
    run_output_file: Annotated[
        Path | None, typer.Option("--run-output-file", help="Append each run's output to this file.")
    ] = None,
    whisper: Annotated[bool, typer.Option("--whisper", help="Pass --whisper to each run.")] = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Run the scheduler in the foreground: one schedule:run at the start of every minute."""
    from laravel_queue.schedule.worker import ScheduleWorker, spawn_command

    resolve_settings(env_file, app)  # fail fast on bad configuration
    argv = _with_command(_self_command(schedule, env_file, app), "schedule:run")
    if whisper:
        argv.append("--whisper")
    worker = ScheduleWorker(spawn_command(argv, str(run_output_file) if run_output_file else None))
    worker.install_signal_handlers()
    typer.echo("\n   INFO  Running scheduled tasks every minute.  \n", nl=True)
    raise typer.Exit(worker.run())


def schedule_list(
    schedule: ScheduleOption,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="The timezone that times should be displayed in.")
    ] = None,
    next_: Annotated[bool, typer.Option("--next", help="Sort the listed tasks by their next due date.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Output the scheduled tasks as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Full commands and exact dates.")] = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """List all scheduled tasks."""
    from laravel_queue.errors import ConfigurationError
    from laravel_queue.schedule.listing import ScheduleLister
    from laravel_queue.schedule.output import Console
    from laravel_queue.schedule.timing import zone

    with _scheduler(schedule, env_file, app) as (loaded, context):
        try:
            display = zone(timezone or context.settings.app.timezone)
        except ValueError as exc:  # an unknown timezone name
            raise ConfigurationError(f"--timezone: {exc}") from exc
        lister = ScheduleLister(loaded, context)
        if as_json:
            typer.echo(json.dumps(lister.as_json(display, next_), ensure_ascii=False))
            return
        console = Console()
        if not loaded.events:
            console.info("No scheduled tasks have been defined.")
            return
        for line in lister.lines(display, console.width, next_, verbose):
            console.line(line)


def schedule_test(
    schedule: ScheduleOption,
    name: Annotated[str | None, typer.Option("--name", help="The name of the scheduled command to run.")] = None,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Run one scheduled command now (mutex rules still apply)."""
    from laravel_queue.schedule.event import CallbackEvent
    from laravel_queue.schedule.output import Console

    with _scheduler(schedule, env_file, app) as (loaded, context):
        console = Console()
        events = loaded.events
        if not events:
            console.info("No scheduled commands have been defined.")
            return
        names = [event.summary() if isinstance(event, CallbackEvent) else event.command_without_binaries()
                 for event in events]
        if name is not None:
            matches = [index for index, candidate in enumerate(names) if candidate == name]
            if len(matches) != 1:
                console.info("No matching scheduled command found.")
                return
            index = matches[0]
        else:
            for position, candidate in enumerate(names):
                typer.echo(f"  [{position}] {candidate}")
            index = typer.prompt("Which command would you like to run?", type=int)
            if not 0 <= index < len(events):
                typer.secho("No such command.", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
        event = events[index]
        suffix = " normally in background" if event.runs_in_background else ""
        event.runs_in_background = False
        console.task(f"Running [{event.display_command()}]{suffix}", lambda: event.run(context))
        if not isinstance(event, CallbackEvent):
            console.bullet(event.summary())
        console.new_line()


def schedule_interrupt(env_file: EnvFileOption = None, app: AppOption = None) -> None:
    """Interrupt the current schedule:run invocations (sub-minute repeats stop this minute)."""
    from laravel_queue.connections import Connections
    from laravel_queue.schedule import ScheduleContext
    from laravel_queue.schedule.output import Console
    from laravel_queue.schedule.runner import interrupt

    settings = resolve_settings(env_file, app)
    connections = Connections(settings)
    try:
        interrupt(ScheduleContext(settings, connections))
    finally:
        connections.close()
    Console().info("Broadcasting schedule interrupt signal.")


def schedule_clear_cache(schedule: ScheduleOption, env_file: EnvFileOption = None, app: AppOption = None) -> None:
    """Delete the overlap mutexes of the scheduled events."""
    from laravel_queue.schedule.output import Console

    with _scheduler(schedule, env_file, app) as (loaded, context):
        console = Console()
        cleared = False
        for event in loaded.events:
            if context.event_mutex.exists(event):
                console.info(f"Deleting mutex for [{event.command or event.summary()}]")
                context.event_mutex.forget(event)
                cleared = True
        if not cleared:
            console.info("No mutex files were found.")


def schedule_finish(
    mutex_name: Annotated[str, typer.Argument(help="The mutex name of the finished background event.")],
    code: Annotated[int, typer.Argument(help="Its exit code.")],
    schedule: ScheduleOption,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Finish a background event: record its exit code, run its after-callbacks, drop its mutex."""
    with _scheduler(schedule, env_file, app) as (loaded, context):
        for event in loaded.find_by_mutex_name(mutex_name):
            event.finish(context, code)


def register(app: typer.Typer) -> None:
    app.command("schedule:run")(schedule_run)
    app.command("schedule:work")(schedule_work)
    app.command("schedule:list")(schedule_list)
    app.command("schedule:test")(schedule_test)
    app.command("schedule:interrupt")(schedule_interrupt)
    app.command("schedule:clear-cache")(schedule_clear_cache)
    app.command("schedule:finish", hidden=True)(schedule_finish)

