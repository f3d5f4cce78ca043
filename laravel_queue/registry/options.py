"""`JobOptions`: the Laravel job knobs PHP computes from methods, declared in Python instead.

Separate because the dispatch side (envelope, uniqueness, debounce) reads these values
without needing the registry's lookup or preparation (decisions 2 and 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["JobOptions"]


@dataclass(frozen=True)
class JobOptions:
    """Laravel job knobs PHP may compute from methods, declared for a PHP class in Python.

    `retry_until` is seconds from dispatch; `backoff` seconds (one value or a list);
    `unique_id` a string or `fn(command) -> str`; `middleware` what the class's
    `middleware()` returns in PHP: `laravel_queue.middleware` instances (same keys and
    counters as PHP's) or your own `mw(job, command, next)`.
    """

    tries: int | None = None
    backoff: int | Sequence[int] | str | None = None
    timeout: int | None = None
    retry_until: int | None = None
    max_exceptions: int | None = None
    fail_on_timeout: bool | None = None
    display_name: str | None = None
    unique_id: str | Callable[[Any], str] | None = None
    unique_for: int | None = None
    unique: bool | str | None = None
    """True for ShouldBeUnique, "until_processing" for ShouldBeUniqueUntilProcessing."""
    unique_via: str | None = None
    middleware: tuple[Any, ...] = ()
    should_be_encrypted: bool = False
    serializes_models: bool = True
    delete_when_missing_models: bool | None = None
    debounce_for: int | None = None
    """Laravel 13 `#[DebounceFor(seconds)]`: only the newest dispatch of a burst runs (bus/debounce.py)."""
    debounce_max_wait: int | None = None
    debounce_id: str | Callable[[Any], str] | None = None
    debounce_via: str | None = None
    dont_retry: tuple[type[BaseException], ...] = ()
    """Exceptions that fail the job at once instead of releasing it (Laravel 13's `dontRetry`)."""
