"""OpenTelemetry spans around each job, when `opentelemetry-api` is installed (extra `otel`).

One CONSUMER span per job attempt, current while the handler runs (so spans the
handler opens nest under it), carrying the job's uuid, class, attempt, connection
and queue. Without an SDK configured by the application the API hands out no-op
spans; the worker then installs no hooks at all (`tracing_configured`). A tracing
problem never touches the job.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from laravel_queue.job import Job
from laravel_queue.worker.lifecycle import WorkerEvents

log = logging.getLogger("laravel_queue.tracing")

TRACER_NAME = "laravel_queue"


def tracing_configured() -> bool:
    """True when opentelemetry is installed and an SDK tracer provider has been set.

    Checked when the worker starts (after `--jobs` modules are imported and after
    `opentelemetry-instrument` has run), so an unconfigured API adds no per-job cost.
    """
    try:
        from opentelemetry import trace
    except ImportError:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def job_attributes(job: Job) -> dict[str, Any]:
    """Span attributes: OpenTelemetry messaging conventions plus the Laravel job identity."""
    attributes: dict[str, Any] = {
        "messaging.system": "laravel",
        "messaging.operation.type": "process",
        "messaging.destination.name": job.queue,
        "laravel.queue.connection": job.connection_name,
    }
    if job.job_id is not None:
        attributes["messaging.message.id"] = str(job.job_id)
    try:
        attributes["laravel.job.class"] = job.display_name
        attributes["laravel.job.attempt"] = job.attempts()
        if job.uuid:
            attributes["laravel.job.uuid"] = str(job.uuid)
    except Exception:  # an unreadable payload still gets its span
        attributes["laravel.job.class"] = "Unknown"
    return attributes


class JobTracer:
    """Worker hooks that open a span at `before` and end it at `after` / `exception_occurred`."""

    def __init__(self, tracer: Any = None) -> None:
        from opentelemetry import context, trace

        self._trace = trace
        self._context = context
        self.tracer = tracer or trace.get_tracer(TRACER_NAME)
        self._open: dict[int, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def attach(self, events: WorkerEvents) -> WorkerEvents:
        events.before.append(self.on_before)
        events.after.append(self.on_after)
        events.exception_occurred.append(self.on_exception)
        events.failing.append(self.on_failing)
        return events

    def on_before(self, job: Job) -> None:
        try:
            attributes = job_attributes(job)
            span = self.tracer.start_span(
                f"process {attributes['laravel.job.class']}",
                kind=self._trace.SpanKind.CONSUMER,
                attributes=attributes,
            )
            token = self._context.attach(self._trace.set_span_in_context(span))
            with self._lock:
                self._open[id(job)] = (span, token)
        except Exception as exc:
            log.debug("could not start a span for %r: %s", job, exc)

    def _finish(self, job: Job, exc: BaseException | None) -> None:
        with self._lock:
            entry = self._open.pop(id(job), None)
        if entry is None:
            return
        span, token = entry
        try:
            status = self._trace.Status
            code = self._trace.StatusCode
            span.set_attribute("laravel.job.released", job.is_released())
            span.set_attribute("laravel.job.failed", job.has_failed())
            if exc is not None:
                span.record_exception(exc)
                span.set_status(status(code.ERROR, f"{type(exc).__name__}: {exc}"))
            elif job.has_failed():
                span.set_status(status(code.ERROR, "job failed"))
            span.end()
        finally:
            try:
                self._context.detach(token)
            except Exception as detach_exc:
                log.debug("could not detach the span context: %s", detach_exc)

    def on_after(self, job: Job) -> None:
        self._finish(job, None)

    def on_exception(self, job: Job, exc: BaseException) -> None:
        self._finish(job, exc)

    def on_failing(self, job: Job, exc: BaseException) -> None:
        """Mark the open span; `exception_occurred` (or `after`) ends it."""
        with self._lock:
            entry = self._open.get(id(job))
        if entry is not None:
            try:
                entry[0].add_event("job.failed", {"exception.type": type(exc).__name__})
            except Exception as event_exc:
                log.debug("could not record the failure on the span: %s", event_exc)
