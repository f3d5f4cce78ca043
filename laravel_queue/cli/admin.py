"""Queue administration with artisan's names: clear, monitor, restart, pause, resume, prune-batches.

Restart and pause write the same cache keys and values PHP writes (spec §8.9, §8.11,
§13.4), in the default cache store, so they reach PHP and Python workers alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption
from laravel_queue.cli.failed import connected

if TYPE_CHECKING:
    from laravel_queue.ops.console import Console


def _confirm_in_production(environment: str, force: bool, console: Console) -> bool:
    """Laravel's ConfirmableTrait: in production ask first, unless --force."""
    if environment != "production" or force:
        return True
    console.warn("Application In Production")
    try:
        confirmed = typer.confirm("Do you really wish to run this command?", default=False)
    except typer.Abort:  # no terminal to answer on
        confirmed = False
    if not confirmed:
        console.warn("Command cancelled.")
    return confirmed


def clear(
    connection: Annotated[str | None, typer.Argument(help="The name of the queue connection to clear.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="The name of the queue to clear.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Force the operation to run when in production.")] = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Delete all of the jobs from the specified queue."""
    from laravel_queue.ops.console import Console, Progress

    console = Console()
    with connected(env_file, app) as connections:
        settings = connections.settings
        if not _confirm_in_production(settings.app.env, force, console):
            raise typer.Exit(1)
        config = settings.queue_connection(connection)
        name = queue or config.queue or "default"
        progress = Progress(f"Clearing the [{config.name}:{name}] queue")
        count = connections.queue(config.name).clear(name)
        progress.finish(f"Cleared the [{config.name}:{name}] queue")
    console.info(f"Cleared {count} {'job' if count == 1 else 'jobs'} from the [{name}] queue")


def monitor(
    queues: Annotated[str, typer.Argument(help="The names of the queues to monitor (queue or connection:queue, ...).")],
    max_jobs: Annotated[
        int, typer.Option("--max", help="The maximum number of jobs that can be on the queue before an alert.")
    ] = 1000,
    json_output: Annotated[bool, typer.Option("--json", help="Output the queue size as JSON.")] = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Monitor the size of the specified queues."""
    from laravel_queue.ops.console import Console
    from laravel_queue.ops.monitor import collect, diff_for_humans, parse_targets, statuses_json

    console = Console()
    with connected(env_file, app) as connections:
        targets = parse_targets(queues, connections.settings.queue.default)
        statuses = collect(connections, targets, max_jobs)
    if json_output:
        console.line(statuses_json(statuses))
        return
    console.line()
    console.two_column_detail("Queue name", "Size / Status")
    for status in statuses:
        console.two_column_detail(f"[{status.connection}] {status.queue}", f"[{status.size}] {status.status}")
        console.two_column_detail("Pending jobs", _or_na(status.pending))
        console.two_column_detail("Delayed jobs", _or_na(status.delayed))
        console.two_column_detail("Reserved jobs", _or_na(status.reserved))
        oldest = diff_for_humans(status.oldest_pending) if status.oldest_pending else "N/A"
        console.two_column_detail("Oldest pending job", oldest)
        console.line()
    console.line()


def _or_na(value: int | None) -> str:
    return "N/A" if value is None else str(value)


def restart(env_file: EnvFileOption = None, app: AppOption = None) -> None:
    """Restart queue worker daemons after their current job."""
    from laravel_queue.ops.console import Console
    from laravel_queue.worker.worker import RESTART_KEY

    with connected(env_file, app) as connections:
        connections.cache().forever(RESTART_KEY, int(time.time()))
    Console().info("Broadcasting queue restart signal.")


OptionalQueueArgument = Annotated[
    str | None, typer.Argument(metavar="[CONNECTION:]QUEUE", help="The queue, as connection:queue.")
]
AllOption = Annotated[bool, typer.Option("--all", help="Every queue on every connection (Laravel 13).")]


def pause(
    queue: OptionalQueueArgument = None,
    all_queues: AllOption = False,
    ttl: Annotated[
        int | None, typer.Option("--ttl", help="Seconds until the pause ends by itself (default: until resumed).")
    ] = None,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Pause job processing for a specific queue."""
    from laravel_queue.ops.console import Console
    from laravel_queue.ops.monitor import parse_queue_argument
    from laravel_queue.ops.pause_all import pause_all
    from laravel_queue.worker.worker import paused_key

    if all_queues:
        _on_all_queues(pause_all, env_file, app, "paused")
        return
    queue = _required_queue(queue)
    with connected(env_file, app) as connections:
        connection, name = parse_queue_argument(queue, connections.settings.queue.default)
        cache = connections.cache()
        if ttl is None:
            cache.forever(paused_key(connection, name), True)
        else:
            cache.put(paused_key(connection, name), True, ttl)
    Console().info(f"Job processing on queue [{connection}:{name}] has been paused.")


def resume(
    queue: OptionalQueueArgument = None,
    all_queues: AllOption = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Resume job processing for a paused queue."""
    from laravel_queue.ops.console import Console
    from laravel_queue.ops.monitor import parse_queue_argument
    from laravel_queue.ops.pause_all import resume_all
    from laravel_queue.worker.worker import paused_key

    if all_queues:
        _on_all_queues(resume_all, env_file, app, "resumed")
        return
    queue = _required_queue(queue)
    with connected(env_file, app) as connections:
        connection, name = parse_queue_argument(queue, connections.settings.queue.default)
        connections.cache().forget(paused_key(connection, name))
    Console().info(f"Job processing on queue [{connection}:{name}] has been resumed.")


def _on_all_queues(action: Callable[[Any], None], env_file: Any, app: Any, done: str) -> None:
    """`--all`: write or forget the global pause key; refused (exit 1) before Laravel 13."""
    from laravel_queue.errors import ConfigurationError
    from laravel_queue.ops.console import Console

    try:
        with connected(env_file, app) as connections:
            action(connections)
    except ConfigurationError as exc:
        Console().error(str(exc))
        raise typer.Exit(1) from None
    Console().info(f"Job processing on all queues has been {done}.")


def _required_queue(queue: str | None) -> str:
    from laravel_queue.ops.console import Console

    if not queue:
        Console().error("A queue name is required unless the --all option is used.")
        raise typer.Exit(1)
    return queue


def prune_batches(
    hours: Annotated[int, typer.Option("--hours", help="The number of hours to retain batch data.")] = 24,
    unfinished: Annotated[
        int | None, typer.Option("--unfinished", help="The number of hours to retain unfinished batch data.")
    ] = None,
    cancelled: Annotated[
        int | None, typer.Option("--cancelled", help="The number of hours to retain cancelled batch data.")
    ] = None,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Prune stale entries from the batches database."""
    from laravel_queue.bus.batches import BatchRepository
    from laravel_queue.ops.batches import prune_cancelled, prune_finished, prune_unfinished
    from laravel_queue.ops.console import Console

    console = Console()
    now = datetime.now(timezone.utc)
    with connected(env_file, app) as connections:
        repository = BatchRepository.from_connections(connections)
        console.info(f"{prune_finished(repository, now - timedelta(hours=hours))} entries deleted.")
        if unfinished:
            count = prune_unfinished(repository, now - timedelta(hours=unfinished))
            console.info(f"{count} unfinished entries deleted.")
        if cancelled:
            count = prune_cancelled(repository, now - timedelta(hours=cancelled))
            console.info(f"{count} cancelled entries deleted.")


def register(app: typer.Typer) -> None:
    app.command("queue:clear")(clear)
    app.command("queue:monitor")(monitor)
    app.command("queue:restart")(restart)
    app.command("queue:pause")(pause)
    app.command("queue:resume")(resume)
    app.command("queue:continue", hidden=True)(resume)
    app.command("queue:prune-batches")(prune_batches)
