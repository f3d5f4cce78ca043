"""The observability hooks `queue:work` installs: metrics (when asked) and tracing (when installed)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import typer

from laravel_queue.config import Settings
from laravel_queue.ops.metrics import MetricsServer, WorkerMetrics, start_metrics_server
from laravel_queue.ops.monitor import QueueStatus, collect
from laravel_queue.ops.tracing import JobTracer, tracing_configured
from laravel_queue.worker.lifecycle import WorkerEvents

log = logging.getLogger("laravel_queue.worker")


def depth_reader(settings: Settings, connection: str | None, queues: list[str]) -> Callable[[], list[QueueStatus]]:
    """Reads the worked queues' depth with connections of its own (used on the metrics thread)."""
    from laravel_queue.connections import Connections

    name = settings.queue_connection(connection).name
    targets = [(name, queue) for queue in queues]
    holder: dict[str, Connections] = {}

    def read() -> list[QueueStatus]:
        if "connections" not in holder:
            holder["connections"] = Connections(settings)
        try:
            return collect(holder["connections"], targets)
        except Exception:
            holder.pop("connections").close()  # reconnect on the next scrape
            raise

    return read


def worker_events(
    settings: Settings,
    connection: str | None,
    queues: list[str],
    *,
    metrics_port: int | None = None,
    processes: int = 1,
    events: WorkerEvents | None = None,
) -> tuple[WorkerEvents, MetricsServer | None]:
    """Hooks for one worker process, and the metrics server it started (close it when done).

    With several worker processes each listens on the first free port from
    `metrics_port` upward, so every process is scraped on its own port.
    """
    events = events or WorkerEvents()
    server = None
    if metrics_port is not None:
        metrics = WorkerMetrics(depth_source=depth_reader(settings, connection, queues))
        metrics.attach(events)
        try:
            server = start_metrics_server(metrics, metrics_port, tries=max(1, processes))
        except OSError as exc:
            log.error("%s", exc)
            raise typer.BadParameter(str(exc), param_hint="'--metrics-port'") from None
        log.info("metrics on http://0.0.0.0:%d/metrics", server.port)
    from laravel_queue.ops.memory import HeapReclaimer

    HeapReclaimer().attach(events)
    if tracing_configured():
        JobTracer().attach(events)
    return events, server
