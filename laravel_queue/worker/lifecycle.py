"""Extension points of the job pipeline: where bus features and user hooks plug in.

`JobLifecycle` is the seam between the worker loop and the bus features (unique
locks, chains, batches): the worker calls it at the moments Laravel's
CallQueuedHandler does. `WorkerEvents` are the user-facing hooks (Laravel's queue
events: before, after, failing, exception occurred, looping) plus two listener
moments of our own: `reserved` (a job was just popped) and `finished` (the job's
fate is decided, once per job) for metrics, logging and Horizon bookkeeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from laravel_queue.job import Job

log = logging.getLogger("laravel_queue.worker")


class JobLifecycle:
    """Pipeline steps a bus feature may add; every method defaults to doing nothing."""

    def before_handle(self, job: Job, prepared: Any) -> None:
        """Just before the handler runs (ShouldBeUniqueUntilProcessing releases its lock here)."""

    def after_handle(self, job: Job, prepared: Any) -> None:
        """The handler returned (released or not): unique lock release, chain, batch success."""

    def after_failure(self, job: Job, prepared: Any | None, exc: BaseException | None) -> None:
        """The job failed for good, after it was deleted and before failed_jobs is written."""


class CompositeLifecycle(JobLifecycle):
    """Several lifecycles, called in order."""

    def __init__(self, *parts: JobLifecycle) -> None:
        self.parts = parts

    def before_handle(self, job: Job, prepared: Any) -> None:
        for part in self.parts:
            part.before_handle(job, prepared)

    def after_handle(self, job: Job, prepared: Any) -> None:
        for part in self.parts:
            part.after_handle(job, prepared)

    def after_failure(self, job: Job, prepared: Any | None, exc: BaseException | None) -> None:
        for part in self.parts:
            part.after_failure(job, prepared, exc)


JobHook = Callable[[Job], None]
ExceptionHook = Callable[[Job, BaseException], None]
FinishedHook = Callable[[Job, str, float, BaseException | None], None]
"""(job, outcome, runtime in ms, exception or None); outcome is one of `OUTCOMES`."""

OUTCOMES = ("processed", "released", "released_after_exception", "failed", "given_back", "deleted")
"""How a job's run ended: handler returned (job deleted) / handler released it itself /
released after an exception / failed for good / given back unrun (`--unknown=release`) /
deleted unrun (e.g. its batch was cancelled)."""


@dataclass
class WorkerEvents:
    """User hooks, named after Laravel's events: Queue::before, after, failing, exceptionOccurred, looping.

    `reserved` fires right after a pop, before `before`; `finished` once per job when its
    outcome is decided. A hook that raises is logged and skipped: a listener never decides
    a job's fate or stops the worker.
    """

    reserved: list[JobHook] = field(default_factory=list)
    before: list[JobHook] = field(default_factory=list)
    after: list[JobHook] = field(default_factory=list)
    failing: list[ExceptionHook] = field(default_factory=list)
    exception_occurred: list[ExceptionHook] = field(default_factory=list)
    looping: list[Callable[[], bool | None]] = field(default_factory=list)
    finished: list[FinishedHook] = field(default_factory=list)

    def fire(self, hooks: list[Any], *args: Any) -> None:
        """Call each hook; one that raises is logged and the next one still runs."""
        for hook in hooks:
            try:
                hook(*args)
            except Exception:
                log.exception("worker hook %r raised; ignored", hook)

    def should_loop(self) -> bool:
        """A looping hook returning False pauses the worker for this iteration, as in Laravel."""
        for hook in self.looping:
            try:
                if hook() is False:
                    return False
            except Exception:
                log.exception("looping hook %r raised; ignored", hook)
        return True
