"""How many positional arguments a handler or callback takes, read once per function.

Handlers, failure hooks and batch/chain callbacks are called with the arguments they ask
for (`handle(self)` or `handle(self, job)`, `failed(exc)` or `failed(job, command, exc)`).
Class handlers ask per job, and `inspect.signature` costs microseconds, so the answer is
cached per underlying function (a bound method shares its function's entry).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple


class Positional(NamedTuple):
    fixed: int
    """Positional parameters, `self` of a bound method not counted."""
    var: bool
    """Takes `*args`: any number more."""

    def takes(self, n: int) -> bool:
        return self.var or self.fixed >= n


def positional(fn: Callable[..., Any]) -> Positional | None:
    """What `fn` takes positionally; None when its signature cannot be read (some builtins)."""
    function = getattr(fn, "__func__", None)
    if function is not None and getattr(fn, "__self__", None) is not None:  # bound method
        found = _cached(function)
        return None if found is None else Positional(max(found.fixed - 1, 0), found.var)
    try:
        return _cached(fn)
    except TypeError:  # an unhashable callable object: read it each time
        return _read(fn)


@functools.lru_cache(maxsize=1024)
def _cached(fn: Callable[..., Any]) -> Positional | None:
    return _read(fn)


def _read(fn: Callable[..., Any]) -> Positional | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    count = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    return Positional(count, any(p.kind is p.VAR_POSITIONAL for p in params))
