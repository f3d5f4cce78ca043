"""What `queue:work` runs beside the worker loop: the metrics and health endpoint, job log
records, giving a huge job's memory back, and tracing (when an SDK is configured).

`Operations` is entered once by the command (it owns the endpoint and, under
`--concurrency`, the multiprocess directory); `worker_events()` is called in each worker
process (the forked children, or the command's own process) for that process's hooks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from laravel_queue.config import Settings
from laravel_queue.errors import ConfigurationError
from laravel_queue.ops.monitor import QueueStatus, collect
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.options import WorkerOptions

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


class Operations:
    """The command-wide part (endpoint, multiprocess directory) and each worker process's hooks."""

    def __init__(
        self,
        settings: Settings,
        connection: str | None,
        queues: list[str],
        options: WorkerOptions,
        *,
        metrics_port: int | None = None,
        processes: int = 1,
    ) -> None:
        self.settings = settings
        self.connection = connection
        self.queues = queues
        self.options = options
        self.metrics_port = metrics_port
        self.processes = processes
        self.endpoint: Any = None
        self.multiprocess_dir: str | None = None
        self.registry: Any = None
        self._owner_pid = os.getpid()
        self._stack = ExitStack()

    # -- the command ------------------------------------------------------------------------
    def __enter__(self) -> Operations:
        if self.metrics_port is None:
            return self
        from prometheus_client import CollectorRegistry

        from laravel_queue.ops.endpoint import Endpoint, multiprocess_directory, multiprocess_registry
        from laravel_queue.ops.health import LoopHealth
        from laravel_queue.ops.metrics import QueueDepthCollector

        with ExitStack() as stack:
            if self.processes > 1:
                self.multiprocess_dir = stack.enter_context(multiprocess_directory())
                self.registry = multiprocess_registry(self.multiprocess_dir)
            else:
                self.registry = CollectorRegistry()
            depth = QueueDepthCollector(depth_reader(self.settings, self.connection, self.queues))
            stack.callback(depth.close)
            self.registry.register(depth)
            health = LoopHealth(
                self.registry, startup_seconds=30.0 + self.options.sleep, multiprocess_dir=self.multiprocess_dir
            )
            try:
                self.endpoint = Endpoint(self.registry, health.check, self.metrics_port)
            except OSError as exc:
                raise ConfigurationError(f"--metrics-port {self.metrics_port}: {exc}") from None
            stack.callback(self.endpoint.close)
            self._stack = stack.pop_all()
        log.info("metrics on http://0.0.0.0:%d/metrics, liveness on /healthz", self.endpoint.port)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if os.getpid() == self._owner_pid:
            self._stack.close()

    # -- each worker process ------------------------------------------------------------------
    def worker_events(self, events: WorkerEvents | None = None) -> WorkerEvents:
        """This worker process's hooks: job log records, metrics and heartbeat (with a port),
        tracing (with an SDK), and the heap reclaimer (joins `finished` last, see ops/memory.py)."""
        from laravel_queue.ops.joblog import JobLog
        from laravel_queue.ops.memory import HeapReclaimer
        from laravel_queue.ops.tracing import JobTracer, tracing_configured

        events = events or WorkerEvents()
        JobLog().attach(events)
        if self.metrics_port is not None:
            from prometheus_client import CollectorRegistry

            from laravel_queue.ops.health import LoopHeartbeat
            from laravel_queue.ops.metrics import WorkerMetrics

            in_child = os.getpid() != self._owner_pid
            if in_child and self.endpoint is not None:
                self.endpoint.forget_in_child()
            registry = CollectorRegistry() if in_child else self.registry
            WorkerMetrics(registry).attach(events)
            block_for = getattr(self.settings.queue_connection(self.connection), "block_for", None)
            LoopHeartbeat(self.options, registry, block_for=block_for).attach(events)
        if tracing_configured():
            JobTracer().attach(events)
        HeapReclaimer().attach(events)
        return events

    def worker_exited(self) -> None:
        """In a child that is about to exit: drop its live gauges (its heartbeat) from the directory."""
        if self.multiprocess_dir is not None and os.getpid() != self._owner_pid:
            from laravel_queue.ops.prometheus_typed import mark_process_dead

            mark_process_dead(os.getpid(), self.multiprocess_dir)
