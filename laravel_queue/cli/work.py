"""`laravel-queue queue:work`: artisan's queue:work options, names and defaults."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings

if TYPE_CHECKING:
    from laravel_queue.config import Settings

JobsOption = Annotated[
    str | None,
    typer.Option("--jobs", help="Comma-separated Python modules that register handlers (imported before working)."),
]


def _import_jobs(jobs: str | None) -> None:
    """Import the `--jobs` modules; one that fails ends the command with its own error line."""
    if not jobs:
        return
    from laravel_queue.cli.boundary import describe
    from laravel_queue.errors import JobImportError
    from laravel_queue.registry import import_job_modules

    if "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    for name in (part.strip() for part in jobs.split(",")):
        if not name:
            continue
        try:
            import_job_modules(name)
        except ImportError as exc:  # the registry's message names the module already
            raise JobImportError(str(exc)) from exc
        except Exception as exc:  # the module itself raised while being imported
            raise JobImportError(f"cannot import job module {name!r} (from --jobs): {describe(exc)}") from exc


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
    in_flight: Annotated[
        int,
        typer.Option(
            "--in-flight",
            min=1,
            help="Jobs each process keeps reserved and running at once on an asyncio loop "
            "(async handlers on the loop, sync ones in a thread pool of this size). 1 = one at a time, as Laravel.",
        ),
    ] = 1,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show job id, connection and queue.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve Prometheus metrics (/metrics) and liveness (/healthz) here."),
    ] = None,
    horizon: Annotated[
        bool | None,
        typer.Option("--horizon/--no-horizon", help="Write Laravel Horizon's job records (default: detect)."),
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log records on stderr: text, or json (one object per line).")
    ] = "text",
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Start processing jobs on the queue as a daemon (artisan queue:work)."""
    from laravel_queue.ops.hooks import Operations
    from laravel_queue.ops.joblog import LOG_FORMATS, configure_console_logging
    from laravel_queue.worker import Worker, WorkerOptions
    from laravel_queue.worker.output import WorkerOutput

    if unknown not in ("fail", "release"):
        raise typer.BadParameter("must be fail or release", param_hint="'--unknown'")
    if log_format not in LOG_FORMATS:
        raise typer.BadParameter("must be text or json", param_hint="'--log-format'")
    configure_console_logging(log_format, verbose=verbose)
    settings = resolve_settings(env_file, app)
    _import_jobs(jobs)
    options = WorkerOptions(
        name=name, backoff=backoff, memory=memory, timeout=timeout, sleep=sleep, max_tries=tries, force=force,
        stop_when_empty=stop_when_empty, max_jobs=max_jobs, max_time=max_time, rest=rest, json=json_output,
        unknown=unknown, verbose=verbose, busy_poll=busy_poll, in_flight=in_flight,  # type: ignore[arg-type]
    )
    queues = _queue_names(settings, connection, queue)
    output = WorkerOutput(json_mode=json_output, timezone=settings.app.timezone, verbose=verbose)

    processes = concurrency if concurrency > 1 and not once else 1
    operations = Operations(settings, connection, queues, options, metrics_port=metrics_port, processes=processes)

    def run_one_worker() -> int:
        from laravel_queue.bus.lifecycle import lifecycle_for
        from laravel_queue.connections import Connections
        from laravel_queue.horizon import attach_listener

        connections = Connections(settings)
        events = operations.worker_events()
        attach_listener(events, connections, settings, horizon)
        try:
            worker = Worker(
                connections, options=options, output=output, lifecycle=lifecycle_for(connections), events=events
            )
            if once:
                return worker.run_next_job(connection, queues)
            if in_flight > 1:
                from laravel_queue.worker.inflight import InFlightWorker

                return InFlightWorker(worker, in_flight).daemon(connection, queues)
            return worker.daemon(connection, queues)
        finally:
            operations.worker_exited()
            connections.close()

    output.banner(queues)
    with operations:
        if processes > 1:
            from laravel_queue.worker.supervisor import run_children

            raise typer.Exit(run_children(concurrency, run_one_worker))
        raise typer.Exit(run_one_worker())


def register(app: typer.Typer) -> None:
    app.command("queue:work")(work)
