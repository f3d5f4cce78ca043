"""Failed-job commands with artisan's names, arguments and messages.

`queue:failed`, `queue:retry`, `queue:forget`, `queue:flush`, `queue:prune-failed` and
`queue:retry-batch` read and write the same failed-job store PHP uses, so a job
retried here is taken by PHP and Python workers alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from laravel_queue.cli.common import argument, command, option, resolve_settings, settings_options

if TYPE_CHECKING:
    from laravel_queue.connections import Connections
    from laravel_queue.ops.console import Console


@contextmanager
def connected(env_file: Path | None, app: Path | None) -> Iterator[Connections]:
    """Connections for one command, closed when it ends (errors reach `cli.boundary`)."""
    from laravel_queue.connections import Connections

    connections = Connections(resolve_settings(env_file, app))
    try:
        from laravel_queue.service_errors import service_errors

        with service_errors():  # Redis down: RedisUnavailableError, a UserError with a hint
            yield connections
    finally:
        connections.close()


def _failed_at(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


@command("queue:failed")
@option("--json", "json_output", is_flag=True, help="Output the failed jobs as JSON.")
@settings_options
def list_failed(json_output: bool, env_file: Path | None, app: Path | None) -> None:
    """List all of the failed queue jobs."""
    from laravel_queue.ops.console import Console
    from laravel_queue.ops.retry import job_name

    console = Console()
    with connected(env_file, app) as connections:
        records = connections.failed().all()
    rows = [
        {
            "id": record.id,
            "connection": record.connection,
            "queue": record.queue,
            "class": job_name(record.payload),
            "failed_at": _failed_at(record.failed_at),
        }
        for record in records
    ]
    if json_output:
        from laravel_queue.payload_codec import php_json_encode_escaped

        console.line(php_json_encode_escaped(rows))
        return
    if not rows:
        console.info("No failed jobs found.")
        return
    console.line()
    for row in rows:
        where = f"{row['connection']}@{row['queue']}"
        console.two_column_detail(f"{row['failed_at']} {row['id']}", f"{where} {row['class']}")
    console.line()


@command("queue:retry")
@argument("ids", nargs=-1, metavar="ID", help='Failed job IDs, or "all" to retry all jobs.')
@option("--queue", help="Retry all of the failed jobs of this queue.")
@option("--range", "ranges", multiple=True, metavar="FROM-TO",
        help="Range of job IDs (numeric) to be retried (e.g. 1-5).")
@settings_options
def retry(
    ids: tuple[str, ...], queue: str | None, ranges: tuple[str, ...], env_file: Path | None, app: Path | None
) -> None:
    """Retry a failed queue job."""
    from laravel_queue.ops.console import Console
    from laravel_queue.ops.retry import select_ids

    console = Console()
    with connected(env_file, app) as connections:
        selection = select_ids(connections.failed(), list(ids), queue=queue, ranges=list(ranges))
        if selection.error:
            console.error(selection.error)
        ok = retry_ids(connections, selection.ids, console)
    raise click.exceptions.Exit(0 if ok else 1)


def retry_ids(connections: Connections, ids: list[str | int], console: Console, *, announce: bool = True) -> bool:
    """Laravel's retry loop with its output; False when a record could not be pushed (it is kept)."""
    from laravel_queue.ops.console import Progress
    from laravel_queue.ops.retry import RetryOutcome, retry_one

    if not ids:
        console.info("No retryable jobs found.")
        return True
    if announce:
        console.info("Pushing failed queue jobs back onto the queue.")
    outcome = RetryOutcome()
    progress = Progress("Retrying failed jobs", len(ids)) if len(ids) > 1 else None
    for job_id in ids:
        status = retry_one(connections, job_id, outcome, run=console.task)
        if status == "missing":
            console.error(f"Unable to find failed job with ID [{job_id}].")
        elif status == "error":
            console.error(f"Could not retry [{job_id}]: {outcome.errors[str(job_id)]}. The failed job is kept.")
        if progress is not None:
            progress.advance()
    if progress is not None:
        progress.finish(f"Retried {len(outcome.retried)} of {len(ids)} failed jobs")
    console.line()
    return not outcome.errors


@command("queue:retry-batch")
@argument("ids", nargs=-1, required=True, metavar="ID", help="The ID of the batch whose failed jobs should be retried.")
@settings_options
def retry_batch(ids: tuple[str, ...], env_file: Path | None, app: Path | None) -> None:
    """Retry the failed jobs for a batch."""
    from laravel_queue.bus.batches import BatchRepository
    from laravel_queue.ops.console import Console

    console = Console()
    ok = True
    with connected(env_file, app) as connections:
        repository = BatchRepository.from_connections(connections)
        console.info("Pushing failed batch jobs back onto the queue.")
        for batch_id in ids:
            batch = repository.find(batch_id)
            if batch is None:
                console.error(f"Unable to find a batch with ID [{batch_id}].")
                ok = False
                continue
            if not batch.failed_job_ids:
                console.error("The given batch does not contain any failed jobs.")
                ok = False
                continue
            console.info(f"Pushing failed queue jobs of the batch [{batch_id}] back onto the queue.")
            ok = retry_ids(connections, list(batch.failed_job_ids), console, announce=False) and ok
    raise click.exceptions.Exit(0 if ok else 1)


@command("queue:forget")
@argument("job_id", metavar="ID", help="The ID of the failed job.")
@settings_options
def forget(job_id: str, env_file: Path | None, app: Path | None) -> None:
    """Delete a failed queue job."""
    from laravel_queue.ops.console import Console

    console = Console()
    with connected(env_file, app) as connections:
        deleted = connections.failed().forget(job_id)
    if not deleted:
        console.error("No failed job matches the given ID.")
        raise click.exceptions.Exit(1)
    console.info("Failed job deleted successfully.")


@command("queue:flush")
@option("--hours", type=int, help="Only records that failed at least N hours ago.")
@settings_options
def flush(hours: int | None, env_file: Path | None, app: Path | None) -> None:
    """Flush all of the failed queue jobs."""
    from laravel_queue.ops.console import Console, Progress

    console = Console()
    progress = Progress("Deleting failed jobs")
    with connected(env_file, app) as connections:
        deleted = connections.failed().flush(hours)
    progress.finish(f"Deleted {deleted} failed jobs")
    if hours:
        console.info(f"All jobs that failed more than {hours} hours ago have been deleted successfully.")
        return
    console.info("All failed jobs deleted successfully.")


@command("queue:prune-failed")
@option("--hours", type=int, default=24, help="The number of hours to retain failed jobs data.")
@settings_options
def prune_failed(hours: int, env_file: Path | None, app: Path | None) -> None:
    """Prune stale entries from the failed jobs table."""
    from laravel_queue.ops.console import Console

    console = Console()
    with connected(env_file, app) as connections:
        provider = connections.failed()
        try:
            count = provider.prune(datetime.now(timezone.utc) - timedelta(hours=hours))
        except NotImplementedError:
            console.error(f"The [{type(provider).__name__}] failed job storage driver does not support pruning.")
            raise click.exceptions.Exit(1) from None
    console.info(f"{count} entries deleted.")

