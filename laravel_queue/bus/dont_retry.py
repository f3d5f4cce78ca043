"""Exceptions that fail a job at once: Laravel 13's `dontRetry` for Python handlers.

PHP declares them on the exception handler (`$exceptions->dontRetry([...])`,
`dontRetryWhen(fn)` in bootstrap/app.php); the worker then fails the job after the
maxExceptions check instead of releasing it for another attempt. A Python app declares
the same in one of three places:

* per job: `@handles("App\\\\Jobs\\\\Foo", dont_retry=(PermanentError,))`;
* app-wide: `dont_retry(PermanentError, ...)` and `dont_retry_when(lambda exc: ...)`;
* on the exception class itself: `class PermanentError(Exception): dont_retry = True`.

These are Python-side declarations: they apply under any `LARAVEL_VERSION` and only to
jobs a Python handler runs (a PHP worker reads its own handler's list).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ExceptionPredicate = Callable[[BaseException], bool]

_types: list[type[BaseException]] = []
_predicates: list[ExceptionPredicate] = []


def dont_retry(*exception_types: type[BaseException]) -> None:
    """Laravel's `Handler::dontRetry([...])`: these exceptions (and subclasses) fail the job at once."""
    for exception_type in exception_types:
        if not (isinstance(exception_type, type) and issubclass(exception_type, BaseException)):
            raise TypeError(f"dont_retry takes exception classes, got {exception_type!r}")
        _types.append(exception_type)


def dont_retry_when(predicate: ExceptionPredicate) -> ExceptionPredicate:
    """Laravel's `Handler::dontRetryWhen(fn)`; usable as a decorator."""
    if not callable(predicate):
        raise TypeError(f"dont_retry_when takes a callable, got {predicate!r}")
    _predicates.append(predicate)
    return predicate


def clear() -> None:
    """Forget the app-wide declarations (tests)."""
    _types.clear()
    _predicates.clear()


def should_stop_retries(exc: BaseException, options: Any = None) -> bool:
    """Laravel's `shouldStopRetries($e)`: declared for the job, app-wide, or on the exception class."""
    declared = tuple(getattr(options, "dont_retry", ()) or ())
    if declared and isinstance(exc, declared):
        return True
    if getattr(type(exc), "dont_retry", False) is True:
        return True
    if _types and isinstance(exc, tuple(_types)):
        return True
    return any(predicate(exc) for predicate in _predicates)
