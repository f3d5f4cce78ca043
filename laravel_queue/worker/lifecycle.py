"""Extension points of the job pipeline: where bus features and user hooks plug in.

`JobLifecycle` is the seam between the worker loop and the bus features (unique
locks, chains, batches): the worker calls it at the moments Laravel's
CallQueuedHandler does. `WorkerEvents` are the user-facing hooks (Laravel's queue
events): before, after, failing, exception occurred, looping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from laravel_queue.awaitables import run_sync
from laravel_queue.job import Job


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


@dataclass
class WorkerEvents:
    """User hooks, named after Laravel's events: Queue::before, after, failing, exceptionOccurred, looping."""

    before: list[JobHook] = field(default_factory=list)
    after: list[JobHook] = field(default_factory=list)
    failing: list[ExceptionHook] = field(default_factory=list)
    exception_occurred: list[ExceptionHook] = field(default_factory=list)
    looping: list[Callable[[], bool | None]] = field(default_factory=list)

    def fire(self, hooks: list[Any], *args: Any) -> None:
        """Call each hook in order; an `async def` hook is run to completion."""
        for hook in hooks:
            run_sync(hook(*args))

    def should_loop(self) -> bool:
        """A looping hook returning False pauses the worker for this iteration, as in Laravel."""
        return all(run_sync(hook()) is not False for hook in self.looping)
