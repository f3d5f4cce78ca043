"""The queue worker: Laravel's `queue:work` loop and job pipeline."""

from laravel_queue.worker.lifecycle import CompositeLifecycle, JobLifecycle, WorkerEvents
from laravel_queue.worker.options import WorkerOptions
from laravel_queue.worker.worker import Worker

__all__ = ["CompositeLifecycle", "JobLifecycle", "Worker", "WorkerEvents", "WorkerOptions"]
