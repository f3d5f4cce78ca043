"""The worker's Prometheus metrics, on prometheus_client.

Counters and a duration histogram per job class and queue are fed by the worker's
`finished` and `failing` events; queue depth gauges are read when Prometheus scrapes
(`QueueDepthCollector`), on one thread of their own with their own connections, so a
long job never makes them stale and the worker's connections are never shared between
threads. Under `--concurrency` each worker process writes its samples to files in
prometheus_client's multiprocess directory and the command's endpoint adds them up
(see `laravel_queue.ops.endpoint`).

What the counters mean (Laravel's event names in brackets); the names and labels are
those of the earlier hand-written exporter, so dashboards keep working:

* processed: the handler returned [JobProcessed], whatever it did to the job;
* released: the job went back to the queue, by the handler or after an exception;
* failed: the job failed for good [JobFailed];
* timed_out: it failed because it ran past its timeout. The worker ends its process on
  a timeout (as Laravel does); under `--concurrency` the count survives in the
  multiprocess files, with one process it survives only if a longer-lived scrape saw it.
  The failure itself is also in failed_jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from laravel_queue.job import Job
from laravel_queue.ops.monitor import QueueStatus
from laravel_queue.worker.exceptions import TimeoutExceededError
from laravel_queue.worker.lifecycle import WorkerEvents

log = logging.getLogger("laravel_queue.metrics")

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
JOB_LABELS = ("connection", "queue", "job")
HANDLER_RETURNED = frozenset({"processed", "released", "given_back", "deleted"})
"""`finished` outcomes that count as processed (a failure without an exception does too)."""
RELEASED = frozenset({"released", "released_after_exception"})

LabelValues = tuple[str, str, str]


def _job_labels(job: Job) -> LabelValues:
    try:
        name = job.display_name
    except Exception:  # an unreadable payload still counts
        name = "Unknown"
    return (job.connection_name, job.queue, name)


class _Series:
    """The labelled children of one metric, cached: `labels()` takes a lock and builds a key."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.children: dict[LabelValues, Any] = {}

    def __call__(self, labels: LabelValues) -> Any:
        child = self.children.get(labels)
        if child is None:
            child = self.children[labels] = self.metric.labels(*labels)
        return child


class WorkerMetrics:
    """The job counters and the duration histogram of one worker process."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.processed = _Series(
            Counter("laravel_queue_jobs_processed", "Jobs whose handler returned.", JOB_LABELS, registry=r)
        )
        self.released = _Series(
            Counter("laravel_queue_jobs_released", "Jobs released back onto the queue.", JOB_LABELS, registry=r)
        )
        self.failed = _Series(
            Counter("laravel_queue_jobs_failed", "Jobs that failed for good.", JOB_LABELS, registry=r)
        )
        self.timed_out = _Series(
            Counter(
                "laravel_queue_jobs_timed_out",
                "Jobs that failed by running past their timeout.",
                JOB_LABELS,
                registry=r,
            )
        )
        self.duration = _Series(
            Histogram(
                "laravel_queue_job_duration_seconds",
                "Time spent running a job, in seconds.",
                JOB_LABELS,
                buckets=buckets,
                registry=r,
            )
        )

    def attach(self, events: WorkerEvents) -> WorkerEvents:
        """Add this object's hooks to `events` (and return it)."""
        events.finished.append(self.on_finished)
        events.failing.append(self.on_failing)
        return events

    def on_finished(self, job: Job, outcome: str, runtime_ms: float, exc: BaseException | None) -> None:
        labels = _job_labels(job)
        self.duration(labels).observe(runtime_ms / 1000)
        if outcome in HANDLER_RETURNED or (outcome == "failed" and exc is None):
            self.processed(labels).inc()
        if outcome in RELEASED:
            self.released(labels).inc()

    def on_failing(self, job: Job, exc: BaseException) -> None:
        """Every failure, also those that never reach `finished` (a timeout, an unreservable row)."""
        labels = _job_labels(job)
        self.failed(labels).inc()
        if isinstance(exc, TimeoutExceededError):
            self.timed_out(labels).inc()


class QueueDepthCollector(Collector):
    """Queue depth gauges read at scrape time, at most once per `ttl` seconds.

    The reads run on one dedicated thread (the HTTP server answers each scrape on a new
    one), so the reader's connections, SQLite's included, always stay on the thread that
    opened them; a failed read is counted in `laravel_queue_depth_errors_total`.
    """

    def __init__(self, source: Callable[[], list[QueueStatus]], ttl: float = 5.0, timeout: float = 10.0) -> None:
        self.source = source
        self.ttl = ttl
        self.timeout = timeout
        self.errors = 0
        self._statuses: list[QueueStatus] = []
        self._read_at = -float("inf")
        self._lock = threading.Lock()
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="laravel-queue-depth")

    def _refresh(self) -> None:
        if time.monotonic() - self._read_at < self.ttl:
            return
        try:
            self._statuses = self._reader.submit(self.source).result(self.timeout)
            self._read_at = time.monotonic()
        except Exception as exc:
            log.warning("could not read queue depth for metrics: %s", exc)
            self.errors += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._refresh()
            statuses, errors = self._statuses, self.errors
        size = GaugeMetricFamily(
            "laravel_queue_size", "Jobs on the queue (Laravel's size()).", labels=["connection", "queue"]
        )
        jobs = GaugeMetricFamily(
            "laravel_queue_jobs", "Jobs on the queue by state.", labels=["connection", "queue", "state"]
        )
        oldest = GaugeMetricFamily(
            "laravel_queue_oldest_pending_job_age_seconds",
            "Age of the oldest pending job, where the driver knows it.",
            labels=["connection", "queue"],
        )
        now = time.time()
        for status in statuses:
            where = [status.connection, status.queue]
            size.add_metric(where, status.size)
            for state in ("pending", "delayed", "reserved"):
                value = getattr(status, state)
                if value is not None:
                    jobs.add_metric([*where, state], value)
            if status.oldest_pending is not None:
                oldest.add_metric(where, max(0.0, now - status.oldest_pending))
        yield from (size, jobs, oldest)
        yield CounterMetricFamily(
            "laravel_queue_depth_errors", "Failed attempts to read the queue depth.", value=errors
        )

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)
