"""One job's run: everything the pipeline knows about a job between its pop and its fate.

Per-job state lives here, not on the worker or in module globals, so one process
can hold several runs at once (the asyncio worker's in-flight jobs) and a bus
feature reaches the job's context (its batch) through the job itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from laravel_queue.job import Job


@dataclass(eq=False, slots=True)
class JobRun:
    """A reserved job on its way through the pipeline; `job.run` points back here."""

    job: Job
    defer_delete: bool = False
    """A finished job's delete may ride on the next pop (the daemon loop); else it is deleted at once."""
    started: float = field(default_factory=time.perf_counter)
    prepared: Any = None
    """The registry's PreparedJob (command, handler, failed hook) once the job was prepared."""
    handled: bool = False
    """The handler was called (False: failed, given back or deleted before it ran)."""
    skipped: str | None = None
    """Why a bus feature skipped the handler (e.g. its batch was cancelled); the job is then deleted unrun."""
    deferred: bool = False
    """The job finished and its delete is deferred: the worker must carry or flush it."""
    gave_back: bool = False
    """`--unknown=release` returned it unrun, for a PHP worker."""
    batch: Callable[[], Any] | None = None
    """Reads the job's batch (Laravel's `$this->batch()`), set by the batches feature."""
    context: dict[str, Any] = field(default_factory=dict)
    """Room for other pipeline features' per-job state."""

    def __post_init__(self) -> None:
        self.job.run = self

    def milliseconds(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def outcome(self) -> str:
        """The `finished` outcome of a run whose handler did not raise (see lifecycle.OUTCOMES)."""
        job = self.job
        if job.has_failed():
            return "failed"
        if self.gave_back:
            return "given_back"
        if job.is_released():
            return "released"
        if self.skipped is not None or not self.handled:
            return "deleted"
        return "processed"
