"""`laravel-queue queue:work`: artisan's queue:work options, names and defaults."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from laravel_queue.cli.common import argument, command, option, resolve_settings, settings_options

if TYPE_CHECKING:
    from laravel_queue.config import Settings

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


@command("queue:work")
@argument("connection", required=False, help="Queue connection name (default: QUEUE_CONNECTION).")
@option("--queue", help="Queues to work, in priority order (high,default).")
@option("--name", default="default", help="Worker name.")
@option("--once", is_flag=True, help="Process one job (or sleep once) and exit.")
@option("--stop-when-empty", is_flag=True, help="Exit when the queue is empty.")
@option("--backoff", default="0", metavar="SECONDS", help="Seconds before retrying after an exception; list: 1,5,10.")
@option("--tries", type=int, default=1, metavar="N", help="Attempts when the job sets none; 0 = unlimited.")
@option("--timeout", type=int, default=60, metavar="SECONDS", help="Seconds a job may run; 0 disables.")
@option("--sleep", type=float, default=3.0, metavar="SECONDS", help="Seconds to sleep when no job is available.")
@option("--rest", type=float, default=0.0, metavar="SECONDS", help="Seconds to rest after each job.")
@option("--max-jobs", type=int, default=0, metavar="N", help="Exit after N jobs (0 = no limit).")
@option("--max-time", type=int, default=0, metavar="SECONDS", help="Exit after N seconds (0 = no limit).")
@option("--memory", type=int, default=128, metavar="MB", help="Memory limit in MB; exit 12 when exceeded.")
@option("--force", is_flag=True, help="Work even in maintenance mode.")
@option("--json", "json_output", is_flag=True, help="One JSON object per event.")
@option("--jobs", metavar="MODULES",
        help="Comma-separated Python modules that register handlers (imported before working).")
@option("--unknown", default="fail", metavar="fail|release",
        help="A job with no Python handler: fail (Laravel's behaviour) or release (for PHP workers).")
@option("--concurrency", type=int, default=1, metavar="N", help="Worker processes run by this command.")
@option("--busy-poll", type=click.IntRange(min=0), default=0, metavar="MICROSECONDS",
        help="Microseconds a pop may spin on the Redis reply before sleeping (0 = off). "
        "Faster on a worker with a core to itself, at the cost of CPU.")
@option("--in-flight", type=click.IntRange(min=1), default=1, metavar="N",
        help="Jobs each process keeps reserved and running at once on an asyncio loop "
        "(async handlers on the loop, sync ones in a thread pool of this size). 1 = one at a time, as Laravel.")
@option("-v", "--verbose", is_flag=True, help="Show job id, connection and queue.")
@option("--metrics-port", type=int, metavar="PORT",
        help="Serve Prometheus metrics (/metrics) and liveness (/healthz) here.")
@option("--horizon/--no-horizon", default=None, show_default=False,
        help="Write Laravel Horizon's job records (default: detect).")
@option("--log-format", default="text", metavar="text|json",
        help="Log records on stderr: text, or json (one object per line).")
@settings_options
def work(
    connection: str | None,
    queue: str | None,
    name: str,
    once: bool,
    stop_when_empty: bool,
    backoff: str,
    tries: int,
    timeout: int,
    sleep: float,
    rest: float,
    max_jobs: int,
    max_time: int,
    memory: int,
    force: bool,
    json_output: bool,
    jobs: str | None,
    unknown: str,
    concurrency: int,
    busy_poll: int,
    in_flight: int,
    verbose: bool,
    metrics_port: int | None,
    horizon: bool | None,
    log_format: str,
    env_file: Path | None,
    app: Path | None,
) -> None:
    """Start processing jobs on the queue as a daemon (artisan queue:work)."""
    from laravel_queue.ops.hooks import Operations
    from laravel_queue.ops.joblog import LOG_FORMATS, configure_console_logging
    from laravel_queue.worker import Worker, WorkerOptions
    from laravel_queue.worker.output import WorkerOutput

    if unknown not in ("fail", "release"):
        raise click.BadParameter("must be fail or release", param_hint="'--unknown'")
    if log_format not in LOG_FORMATS:
        raise click.BadParameter("must be text or json", param_hint="'--log-format'")
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

            raise click.exceptions.Exit(run_children(concurrency, run_one_worker))
        raise click.exceptions.Exit(run_one_worker())

