"""The worker's Laravel 13 steps behind one small contract (wired into the job pipeline).

* `superseded`: a debounced job a newer dispatch replaced is deleted unrun (bus/debounce.py);
* `missing_models`: a `ModelNotFoundError` from restoring the job's models deletes or
  fails it per the payload's `deleteWhenMissingModels` (bus/missing_models.py);
* `should_stop_retries`: declared don't-retry exceptions fail the job at once (bus/dont_retry.py).

Each step is a no-op (False) where its rule does not apply, so the pipeline of
`LARAVEL_VERSION` <= 12 is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from laravel_queue import compat
from laravel_queue.bus.debounce import DebounceCheck
from laravel_queue.bus.dont_retry import should_stop_retries
from laravel_queue.bus.missing_models import MissingModels
from laravel_queue.job import Job
from laravel_queue.models import ModelNotFoundError


class Laravel13Steps:
    def __init__(self, connections: Any) -> None:
        self.debounce = DebounceCheck(connections)
        self.missing = MissingModels(connections)
        self._debounces = compat.supports_debounce(connections.settings.laravel_version)  # asked once, not per job

    def superseded(self, job: Job, prepared: Any, output: Any) -> bool:
        """True (and a console line, as Laravel's JobDebounced) when the job must be deleted unrun."""
        if not self._debounces or not self.debounce.superseded(job, prepared):
            return False
        output.info(f"{job.display_name} debounced: superseded by a newer dispatch, deleted without running.")
        return True

    def missing_models(
        self, job: Job, exc: BaseException, *, delete: Callable[[Job], None], fail: Callable[..., None]
    ) -> bool:
        """True when `exc` was a missing model and Laravel 13's rule handled the job."""
        if not isinstance(exc, ModelNotFoundError) or not self.missing.applies():
            return False
        self.missing.handle(job, exc, delete=delete, fail=fail)
        return True

    def should_stop_retries(self, job: Job, exc: BaseException) -> bool:
        prepared = getattr(job.run, "prepared", None)
        handler = getattr(prepared, "handler", None)
        return should_stop_retries(exc, getattr(handler, "options", None))
