"""A Prometheus endpoint for the worker, with the standard library only.

Counters and a duration histogram per job class and queue are fed by the worker's
user hooks (`WorkerEvents`); queue depth gauges are read when Prometheus scrapes, on
the server's own thread with its own connections, so a long job never makes the
gauges stale and the worker's connections are never shared between threads.
The text is Prometheus exposition format 0.0.4.

What the counters mean (Laravel's event names in brackets):

* processed: the handler returned [JobProcessed], whatever it did to the job;
* released: the job went back to the queue, by the handler or after an exception;
* failed: the job failed for good [JobFailed];
* timed_out: it failed because it ran past its timeout. The worker ends its process on
  a timeout (as Laravel does), so this counter only survives where a supervisor keeps
  scraping a longer-lived process; the failure itself is also in failed_jobs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from itertools import accumulate
from typing import Any

from laravel_queue.job import Job
from laravel_queue.ops.monitor import QueueStatus
from laravel_queue.worker.exceptions import TimeoutExceededError
from laravel_queue.worker.lifecycle import WorkerEvents

log = logging.getLogger("laravel_queue.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
JOB_LABELS = ("connection", "queue", "job")

LabelValues = tuple[str, ...]


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in zip(names, values, strict=True)) + "}"


class Counter:
    def __init__(self, name: str, help: str, labelnames: Sequence[str]) -> None:
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self.values: dict[LabelValues, float] = {}

    def inc(self, labels: LabelValues, by: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + by

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {format_value(value)}"


class Gauge(Counter):
    def set(self, labels: LabelValues, value: float) -> None:
        self.values[labels] = float(value)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {format_value(value)}"


class Histogram:
    def __init__(self, name: str, help: str, labelnames: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self.buckets = tuple(sorted(buckets))
        self.counts: dict[LabelValues, list[int]] = {}
        self.sums: dict[LabelValues, float] = {}

    def observe(self, labels: LabelValues, value: float) -> None:
        """Count the value in its own bucket (the last slot is +Inf); render() accumulates."""
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.buckets) + 1)
        counts[bisect_left(self.buckets, value)] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        names = (*self.labelnames, "le")
        for labels, counts in sorted(self.counts.items()):
            for bound, cumulative in zip((*self.buckets, math.inf), accumulate(counts), strict=True):
                yield f"{self.name}_bucket{_labels(names, (*labels, format_value(bound)))} {format_value(cumulative)}"
            yield f"{self.name}_sum{_labels(self.labelnames, labels)} {format_value(self.sums[labels])}"
            yield f"{self.name}_count{_labels(self.labelnames, labels)} {format_value(sum(counts))}"


def _job_labels(job: Job) -> LabelValues:
    try:
        name = job.display_name
    except Exception:  # an unreadable payload still counts
        name = "Unknown"
    return (job.connection_name, job.queue, name)


class WorkerMetrics:
    """The worker's counters, duration histogram and queue depth gauges, behind one lock."""

    def __init__(
        self,
        *,
        depth_source: Callable[[], list[QueueStatus]] | None = None,
        depth_ttl: float = 5.0,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.lock = threading.Lock()
        self.processed = Counter("laravel_queue_jobs_processed_total", "Jobs whose handler returned.", JOB_LABELS)
        self.released = Counter("laravel_queue_jobs_released_total", "Jobs released back onto the queue.", JOB_LABELS)
        self.failed = Counter("laravel_queue_jobs_failed_total", "Jobs that failed for good.", JOB_LABELS)
        self.timed_out = Counter(
            "laravel_queue_jobs_timed_out_total", "Jobs that failed by running past their timeout.", JOB_LABELS
        )
        self.duration = Histogram(
            "laravel_queue_job_duration_seconds", "Time spent running a job, in seconds.", JOB_LABELS, buckets
        )
        self.size = Gauge("laravel_queue_size", "Jobs on the queue (Laravel's size()).", ("connection", "queue"))
        self.jobs = Gauge("laravel_queue_jobs", "Jobs on the queue by state.", ("connection", "queue", "state"))
        self.oldest = Gauge(
            "laravel_queue_oldest_pending_job_age_seconds",
            "Age of the oldest pending job, where the driver knows it.",
            ("connection", "queue"),
        )
        self.depth_errors = Counter("laravel_queue_depth_errors_total", "Failed attempts to read the queue depth.", ())
        self.depth_source = depth_source
        self.depth_ttl = depth_ttl
        self._depth_read_at = -math.inf
        self._started: dict[int, float] = {}

    # -- hooks ------------------------------------------------------------------------------
    def attach(self, events: WorkerEvents) -> WorkerEvents:
        """Add this object's hooks to `events` (and return it)."""
        events.before.append(self.on_before)
        events.after.append(self.on_after)
        events.exception_occurred.append(self.on_exception)
        events.failing.append(self.on_failing)
        return events

    def on_before(self, job: Job) -> None:
        with self.lock:
            self._started[id(job)] = time.perf_counter()

    def _observe_duration(self, job: Job, labels: LabelValues) -> None:
        started = self._started.pop(id(job), None)
        if started is not None:
            self.duration.observe(labels, time.perf_counter() - started)

    def on_after(self, job: Job) -> None:
        labels = _job_labels(job)
        with self.lock:
            self._observe_duration(job, labels)
            self.processed.inc(labels)
            if job.is_released():
                self.released.inc(labels)

    def on_exception(self, job: Job, exc: BaseException) -> None:
        """After an exception the worker releases the job unless it failed or was deleted."""
        labels = _job_labels(job)
        with self.lock:
            self._observe_duration(job, labels)
            if not job.has_failed() and (job.is_released() or not job.is_deleted()):
                self.released.inc(labels)

    def on_failing(self, job: Job, exc: BaseException) -> None:
        labels = _job_labels(job)
        with self.lock:
            self.failed.inc(labels)
            if isinstance(exc, TimeoutExceededError):
                self.timed_out.inc(labels)

    # -- depth ------------------------------------------------------------------------------
    def refresh_depth(self) -> None:
        """Re-read the gauges when the last reading is older than `depth_ttl` seconds."""
        if self.depth_source is None or time.monotonic() - self._depth_read_at < self.depth_ttl:
            return
        try:
            statuses = self.depth_source()
        except Exception as exc:
            log.warning("could not read queue depth for metrics: %s", exc)
            with self.lock:
                self.depth_errors.inc(())
            return
        now = time.time()
        with self.lock:
            self._depth_read_at = time.monotonic()
            for status in statuses:
                where = (status.connection, status.queue)
                self.size.set(where, status.size)
                for state in ("pending", "delayed", "reserved"):
                    value = getattr(status, state)
                    if value is not None:
                        self.jobs.set((*where, state), value)
                if status.oldest_pending is not None:
                    self.oldest.set(where, max(0.0, now - status.oldest_pending))

    def render(self) -> str:
        self.refresh_depth()
        with self.lock:
            families: list[Any] = [
                self.processed,
                self.released,
                self.failed,
                self.timed_out,
                self.duration,
                self.size,
                self.jobs,
                self.oldest,
                self.depth_errors,
            ]
            return "\n".join(line for family in families for line in family.render()) + "\n"


# -- the HTTP endpoint ----------------------------------------------------------------------------


class MetricsServer:
    """`GET /metrics` on a daemon thread; one request at a time, so depth reads stay on one thread."""

    def __init__(self, metrics: WorkerMetrics, host: str = "", port: int = 0) -> None:
        self.metrics = metrics
        handler = _handler_for(metrics)
        self.httpd = HTTPServer((host, port), handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="laravel-queue-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def _handler_for(metrics: WorkerMetrics) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        timeout = 10

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                self.send_error(404, "only /metrics is served here")
                return
            body = metrics.render().encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics %s", format % args)

    return MetricsHandler


def start_metrics_server(metrics: WorkerMetrics, port: int, *, host: str = "", tries: int = 1) -> MetricsServer:
    """Listen on `port`, or the first free one of the next `tries` ports (one per worker process)."""
    last_error: OSError | None = None
    for candidate in range(port, port + max(1, tries)):
        try:
            return MetricsServer(metrics, host, candidate).start()
        except OSError as exc:
            last_error = exc
            if port == 0:
                break
    raise OSError(f"cannot listen for metrics on port {port} (tried {max(1, tries)}): {last_error}")
