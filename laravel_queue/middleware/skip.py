"""Skip and SkipIfBatchCancelled: end the pipeline without running the handler (the job counts as done)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from laravel_queue.middleware.base import Next, connections_of

log = logging.getLogger("laravel_queue.middleware")

SKIP = "Illuminate\\Queue\\Middleware\\Skip"
SKIP_IF_BATCH_CANCELLED = "Illuminate\\Queue\\Middleware\\SkipIfBatchCancelled"


class Skip:
    """PHP's `Skip::when($condition)` / `Skip::unless($condition)` (a value or a callable, read once)."""

    php_class = SKIP

    def __init__(self, skip: bool = False) -> None:
        self.skip = bool(skip)

    @classmethod
    def when(cls, condition: bool | Callable[[], Any]) -> Skip:
        return cls(bool(condition() if callable(condition) else condition))

    @classmethod
    def unless(cls, condition: bool | Callable[[], Any]) -> Skip:
        return cls(not (condition() if callable(condition) else condition))

    def __call__(self, job: Any, command: Any, next: Next) -> Any:
        if self.skip:
            return False
        return next(job, command)

    def __repr__(self) -> str:
        return f"Skip({self.skip})"


class SkipIfBatchCancelled:
    """Laravel's SkipIfBatchCancelled: a job of a cancelled batch is skipped and counts as done."""

    php_class = SKIP_IF_BATCH_CANCELLED

    def __call__(self, job: Any, command: Any, next: Next) -> Any:
        from laravel_queue.bus.batches import BatchRepository, batch_id_of

        batch_id = batch_id_of(job, command)
        if batch_id is not None:
            batch = BatchRepository.from_connections(connections_of(job)).find(batch_id)
            if batch is not None and batch.cancelled():
                log.info("batch %s is cancelled: %s skipped (SkipIfBatchCancelled)", batch_id, job.display_name)
                return None
        return next(job, command)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SkipIfBatchCancelled)

    def __hash__(self) -> int:
        return hash(SKIP_IF_BATCH_CANCELLED)
