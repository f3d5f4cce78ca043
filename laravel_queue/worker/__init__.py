"""The queue worker: Laravel's `queue:work` loop and job pipeline.

`Worker` is imported on first use: `laravel-queue dispatch` reaches this package only for
`JobLifecycle` (through the unique-lock bookkeeping) and should not load the worker loop.
"""

from typing import TYPE_CHECKING, Any

from laravel_queue.worker.lifecycle import CompositeLifecycle, JobLifecycle, WorkerEvents
from laravel_queue.worker.options import WorkerOptions

if TYPE_CHECKING:
    from laravel_queue.worker.worker import Worker

__all__ = ["CompositeLifecycle", "JobLifecycle", "Worker", "WorkerEvents", "WorkerOptions"]


def __getattr__(name: str) -> Any:
    if name == "Worker":
        from laravel_queue.worker.worker import Worker

        return Worker
    raise AttributeError(f"module 'laravel_queue.worker' has no attribute {name!r}")
