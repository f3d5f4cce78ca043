"""Liveness of the worker loop: `/healthz` is 200 while every worker process's loop keeps turning.

Each worker process writes a deadline (a Unix time) into the gauge
`laravel_queue_worker_loop_deadline_seconds`: the time by which its loop must turn
again. The endpoint compares it with the clock. The deadline is renewed

* at every turn of the loop (`looping`) and before every sleep (`sleeping`: no job,
  paused, maintenance mode, `--rest`): now + the sleep + `--rest` + the pop's
  `block_for` + `GRACE_SECONDS`;
* when a job is reserved: now + its timeout (the job's own, else `--timeout`; a job
  that disables its timeout gets `--timeout`) + the same allowance. With `--timeout 0`
  and a job without a timeout there is no bound: the job may run for ever, as in Laravel,
  and the loop is reported healthy while it runs.

So a handler that blocks past its timeout without the watchdog ending the process, a
pop that hangs, or bookkeeping stuck on a dead database turn `/healthz` into 503. Under
`--concurrency` each child has its own deadline (a `liveall` gauge, one file per
process): the check fails if any live child is late, and a child that died without
cleaning up (SIGKILL after a timeout) is ignored and its file removed.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge

from laravel_queue.job import Job
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.options import WorkerOptions
from laravel_queue.worker.policy import timeout_for

DEADLINE_METRIC = "laravel_queue_worker_loop_deadline_seconds"
GRACE_SECONDS = 5.0
"""Slack for the work around a job or a pop (acks, failed_jobs writes, a reconnect)."""


class LoopHeartbeat:
    """Renews this process's deadline from the worker's events."""

    def __init__(self, options: WorkerOptions, registry: CollectorRegistry, *, block_for: float | None = None) -> None:
        self.options = options
        self.allowance = options.rest + (block_for or 0.0) + GRACE_SECONDS
        self.deadline = Gauge(
            DEADLINE_METRIC,
            "Unix time by which the worker loop must turn again (/healthz fails after it).",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.deadline.set(time.time() + max(options.sleep, 0.0) + self.allowance)

    def attach(self, events: WorkerEvents) -> WorkerEvents:
        events.looping.append(self.on_looping)
        events.sleeping.append(self.on_sleeping)
        events.reserved.append(self.on_reserved)
        return events

    def on_looping(self) -> None:
        self.deadline.set(time.time() + max(self.options.sleep, 0.0) + self.allowance)

    def on_sleeping(self, seconds: float) -> None:
        self.deadline.set(time.time() + seconds + self.allowance)

    def on_reserved(self, job: Job) -> None:
        try:
            seconds = timeout_for(job, self.options) or self.options.timeout
        except Exception:  # an unreadable payload is bounded by --timeout
            seconds = self.options.timeout
        self.deadline.set(time.time() + seconds + self.allowance if seconds > 0 else math.inf)


def deadlines(registry: CollectorRegistry) -> list[tuple[int | None, float]]:
    """(pid or None, deadline) of each worker process the registry reports."""
    found: list[tuple[int | None, float]] = []
    for metric in registry.collect():
        if metric.name != DEADLINE_METRIC:
            continue
        for sample in metric.samples:
            pid = sample.labels.get("pid")
            found.append((int(pid) if pid is not None else None, sample.value))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LoopHealth:
    """The `/healthz` verdict from the deadlines in `registry` (one process's, or the multiprocess files)."""

    def __init__(
        self, registry: CollectorRegistry, *, startup_seconds: float, multiprocess_dir: str | None = None
    ) -> None:
        self.registry = registry
        self.multiprocess_dir = multiprocess_dir
        self.started = time.monotonic()
        self.startup_seconds = startup_seconds

    def check(self) -> tuple[bool, str]:
        now = time.time()
        live = list(self._live(deadlines(self.registry)))
        if not live:
            if time.monotonic() - self.started < self.startup_seconds:
                return True, "starting"
            return False, "no worker loop reports a heartbeat"
        late = [(pid, now - deadline) for pid, deadline in live if deadline < now]
        if late:
            where = ", ".join(
                f"pid {pid}: {seconds:.1f} s late" if pid else f"{seconds:.1f} s late" for pid, seconds in late
            )
            return False, f"worker loop stuck ({where})"
        return True, f"ok ({len(live)} worker loop{'s' if len(live) != 1 else ''})"

    def _live(self, found: Iterable[tuple[int | None, float]]) -> Iterable[tuple[int | None, float]]:
        for pid, deadline in found:
            if pid is None or _alive(pid):
                yield pid, deadline
            elif self.multiprocess_dir is not None:
                from laravel_queue.ops.prometheus_typed import mark_process_dead

                mark_process_dead(pid, self.multiprocess_dir)
