"""`laravel-queue queue:work`: artisan's queue:work options, names and defaults."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings
from laravel_queue.config import Settings

JobsOption = Annotated[
    str | None,
    typer.Option("--jobs", help="Comma-separated Python modules that register handlers (imported before working)."),
]


def _import_jobs(jobs: str | None) -> None:
    if not jobs:
        return
    from laravel_queue.registry import import_job_modules

    if "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    import_job_modules(jobs)


def _queue_names(settings: Settings, connection: str | None, queue: str | None) -> list[str]:
    if queue:
        return [q.strip() for q in queue.split(",") if q.strip()]
    return [settings.queue_connection(connection).queue or "default"]


def work(
    connection: Annotated[str | None, typer.Argument(help="Queue connection name (default: QUEUE_CONNECTION).")] = None,
    queue: Annotated[str | None, typer.Option(help="Queues to work, in priority order (high,default).")] = None,
    name: Annotated[str, typer.Option(help="Worker name.")] = "default",
    once: Annotated[bool, typer.Option("--once", help="Process one job (or sleep once) and exit.")] = False,
    stop_when_empty: Annotated[bool, typer.Option("--stop-when-empty", help="Exit when the queue is empty.")] = False,
    backoff: Annotated[str, typer.Option(help="Seconds before retrying after an exception; list: 1,5,10.")] = "0",
    tries: Annotated[int, typer.Option(help="Attempts when the job sets none; 0 = unlimited.")] = 1,
    timeout: Annotated[int, typer.Option(help="Seconds a job may run; 0 disables.")] = 60,
    sleep: Annotated[float, typer.Option(help="Seconds to sleep when no job is available.")] = 3.0,
    rest: Annotated[float, typer.Option(help="Seconds to rest after each job.")] = 0.0,
    max_jobs: Annotated[int, typer.Option("--max-jobs", help="Exit after N jobs (0 = no limit).")] = 0,
    max_time: Annotated[int, typer.Option("--max-time", help="Exit after N seconds (0 = no limit).")] = 0,
    memory: Annotated[int, typer.Option(help="Memory limit in MB; exit 12 when exceeded.")] = 128,
    force: Annotated[bool, typer.Option("--force", help="Work even in maintenance mode.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
    jobs: JobsOption = None,
    unknown: Annotated[
        str, typer.Option(help="A job with no Python handler: fail (Laravel's behaviour) or release (for PHP workers).")
    ] = "fail",
    concurrency: Annotated[int, typer.Option(help="Worker processes run by this command.")] = 1,
    busy_poll: Annotated[
        int,
        typer.Option(
            "--busy-poll",
            min=0,
            help="Microseconds a pop may spin on the Redis reply before sleeping (0 = off). "
            "Faster on a worker with a core to itself, at the cost of CPU.",
        ),
    ] = 0,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show job id, connection and queue.")] = False,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics on this port (/metrics).")
    ] = None,
    horizon: Annotated[
        bool | None,
        typer.Option("--horizon/--no-horizon", help="Write Laravel Horizon's job records (default: detect)."),
    ] = None,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Start processing jobs on the queue as a daemon (artisan queue:work)."""
    from laravel_queue.worker import Worker, WorkerOptions
    from laravel_queue.worker.output import WorkerOutput

    if unknown not in ("fail", "release"):
        raise typer.BadParameter("--unknown must be fail or release")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    settings = resolve_settings(env_file, app)
    _import_jobs(jobs)
    options = WorkerOptions(
        name=name, backoff=backoff, memory=memory, timeout=timeout, sleep=sleep, max_tries=tries, force=force,
        stop_when_empty=stop_when_empty, max_jobs=max_jobs, max_time=max_time, rest=rest, json=json_output,
        unknown=unknown, verbose=verbose, busy_poll=busy_poll,  # type: ignore[arg-type]
    )
    queues = _queue_names(settings, connection, queue)
    output = WorkerOutput(json_mode=json_output, timezone=settings.app.timezone, verbose=verbose)

    def run_one_worker() -> int:
        from laravel_queue.bus.lifecycle import lifecycle_for
        from laravel_queue.connections import Connections
        from laravel_queue.horizon import attach_listener
        from laravel_queue.ops.hooks import worker_events

        connections = Connections(settings)
        events, metrics_server = worker_events(
            settings, connection, queues, metrics_port=metrics_port, processes=concurrency
        )
        attach_listener(events, connections, settings, horizon)
        try:
            worker = Worker(
                connections, options=options, output=output, lifecycle=lifecycle_for(connections), events=events
            )
            if once:
                return worker.run_next_job(connection, queues)
            return worker.daemon(connection, queues)
        finally:
            if metrics_server is not None:
                metrics_server.close()
            connections.close()

    output.banner(queues)
    if concurrency > 1 and not once:
        from laravel_queue.worker.supervisor import run_children

        raise typer.Exit(run_children(concurrency, run_one_worker))
    raise typer.Exit(run_one_worker())


def register(app: typer.Typer) -> None:
    app.command("queue:work")(work)
