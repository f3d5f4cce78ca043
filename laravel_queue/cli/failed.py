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
from typing import TYPE_CHECKING, Annotated

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings

if TYPE_CHECKING:
    from laravel_queue.connections import Connections
    from laravel_queue.ops.console import Console

HoursOption = Annotated[int | None, typer.Option("--hours", help="Only records that failed at least N hours ago.")]


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


def list_failed(
    json_output: Annotated[bool, typer.Option("--json", help="Output the failed jobs as JSON.")] = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """List all of the failed queue jobs."""
    from laravel_queue.ops.console import Console
    from laravel_queue.ops.retry import job_name
    from laravel_queue.payload import php_json_encode_escaped

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


def retry(
    ids: Annotated[list[str] | None, typer.Argument(help='Failed job IDs, or "all" to retry all jobs.')] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Retry all of the failed jobs of this queue.")] = None,
    ranges: Annotated[
        list[str] | None, typer.Option("--range", help="Range of job IDs (numeric) to be retried (e.g. 1-5).")
    ] = None,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Retry a failed queue job."""
    from laravel_queue.ops.console import Console
    from laravel_queue.ops.retry import select_ids

    console = Console()
    with connected(env_file, app) as connections:
        selection = select_ids(connections.failed(), ids or [], queue=queue, ranges=ranges or [])
        if selection.error:
            console.error(selection.error)
        ok = retry_ids(connections, selection.ids, console)
    raise typer.Exit(0 if ok else 1)


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


def retry_batch(
    ids: Annotated[list[str], typer.Argument(help="The ID of the batch whose failed jobs should be retried.")],
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
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
    raise typer.Exit(0 if ok else 1)


def forget(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The ID of the failed job.")],
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Delete a failed queue job."""
    from laravel_queue.ops.console import Console

    console = Console()
    with connected(env_file, app) as connections:
        deleted = connections.failed().forget(job_id)
    if not deleted:
        console.error("No failed job matches the given ID.")
        raise typer.Exit(1)
    console.info("Failed job deleted successfully.")


def flush(hours: HoursOption = None, env_file: EnvFileOption = None, app: AppOption = None) -> None:
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


def prune_failed(
    hours: Annotated[int, typer.Option("--hours", help="The number of hours to retain failed jobs data.")] = 24,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Prune stale entries from the failed jobs table."""
    from laravel_queue.ops.console import Console

    console = Console()
    with connected(env_file, app) as connections:
        provider = connections.failed()
        try:
            count = provider.prune(datetime.now(timezone.utc) - timedelta(hours=hours))
        except NotImplementedError:
            console.error(f"The [{type(provider).__name__}] failed job storage driver does not support pruning.")
            raise typer.Exit(1) from None
    console.info(f"{count} entries deleted.")


def register(app: typer.Typer) -> None:
    app.command("queue:failed")(list_failed)
    app.command("queue:retry")(retry)
    app.command("queue:retry-batch")(retry_batch)
    app.command("queue:forget")(forget)
    app.command("queue:flush")(flush)
    app.command("queue:prune-failed")(prune_failed)
