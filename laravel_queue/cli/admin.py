"""Queue administration with artisan's names: clear, monitor, restart, pause, resume, prune-batches.

Restart and pause write the same cache keys and values PHP writes (spec §8.9, §8.11,
§13.4), in the default cache store, so they reach PHP and Python workers alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from laravel_queue.cli.common import argument, command, option, settings_options
from laravel_queue.cli.failed import connected

if TYPE_CHECKING:
    from laravel_queue.ops.console import Console


def _confirm_in_production(environment: str, force: bool, console: Console) -> bool:
    """Laravel's ConfirmableTrait: in production ask first, unless --force."""
    if environment != "production" or force:
        return True
    console.warn("Application In Production")
    try:
        confirmed = click.confirm("Do you really wish to run this command?", default=False)
    except click.Abort:  # no terminal to answer on
        confirmed = False
    if not confirmed:
        console.warn("Command cancelled.")
    return confirmed


@command("queue:clear")
@argument("connection", required=False, help="The name of the queue connection to clear.")
@option("--queue", help="The name of the queue to clear.")
@option("--force", is_flag=True, help="Force the operation to run when in production.")
@settings_options
def clear(connection: str | None, queue: str | None, force: bool, env_file: Path | None, app: Path | None) -> None:
    """Delete all of the jobs from the specified queue."""
    from laravel_queue.ops.console import Console, Progress

    console = Console()
    with connected(env_file, app) as connections:
        settings = connections.settings
        if not _confirm_in_production(settings.app.env, force, console):
            raise click.exceptions.Exit(1)
        config = settings.queue_connection(connection)
        name = queue or config.queue or "default"
        progress = Progress(f"Clearing the [{config.name}:{name}] queue")
        count = connections.queue(config.name).clear(name)
        progress.finish(f"Cleared the [{config.name}:{name}] queue")
    console.info(f"Cleared {count} {'job' if count == 1 else 'jobs'} from the [{name}] queue")


@command("queue:monitor")
@argument("queues", help="The names of the queues to monitor (queue or connection:queue, ...).")
@option("--max", "max_jobs", type=int, default=1000, metavar="JOBS",
        help="The maximum number of jobs that can be on the queue before an alert.")
@option("--json", "json_output", is_flag=True, help="Output the queue size as JSON.")
@settings_options
def monitor(queues: str, max_jobs: int, json_output: bool, env_file: Path | None, app: Path | None) -> None:
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


@command("queue:restart")
@settings_options
def restart(env_file: Path | None, app: Path | None) -> None:
    """Restart queue worker daemons after their current job."""
    from laravel_queue.ops.console import Console
    from laravel_queue.worker.worker import RESTART_KEY

    with connected(env_file, app) as connections:
        connections.cache().forever(RESTART_KEY, int(time.time()))
    Console().info("Broadcasting queue restart signal.")


queue_argument = argument("queue", required=False, metavar="[CONNECTION:]QUEUE", help="The queue, as connection:queue.")
all_option = option("--all", "all_queues", is_flag=True, help="Every queue on every connection (Laravel 13).")


@command("queue:pause")
@queue_argument
@all_option
@option("--ttl", type=int, metavar="SECONDS", help="Seconds until the pause ends by itself (default: until resumed).")
@settings_options
def pause(queue: str | None, all_queues: bool, ttl: int | None, env_file: Path | None, app: Path | None) -> None:
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


def _resume(queue: str | None, all_queues: bool, env_file: Path | None, app: Path | None) -> None:
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
        raise click.exceptions.Exit(1) from None
    Console().info(f"Job processing on all queues has been {done}.")


def _required_queue(queue: str | None) -> str:
    from laravel_queue.ops.console import Console

    if not queue:
        Console().error("A queue name is required unless the --all option is used.")
        raise click.exceptions.Exit(1)
    return queue


@command("queue:prune-batches")
@option("--hours", type=int, default=24, help="The number of hours to retain batch data.")
@option("--unfinished", type=int, metavar="HOURS", help="The number of hours to retain unfinished batch data.")
@option("--cancelled", type=int, metavar="HOURS", help="The number of hours to retain cancelled batch data.")
@settings_options
def prune_batches(
    hours: int, unfinished: int | None, cancelled: int | None, env_file: Path | None, app: Path | None
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



def _resume_command(name: str, *, hidden: bool = False) -> click.Command:
    """queue:resume, and queue:continue (its hidden Laravel 13 alias)."""
    return command(name, hidden=hidden)(queue_argument(all_option(settings_options(_resume))))


resume = _resume_command("queue:resume")
continue_ = _resume_command("queue:continue", hidden=True)
