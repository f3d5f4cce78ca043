"""Python batch callbacks: `on_batch("name", then=..., catch=..., finally_=...)`.

A batch's own then/catch/finally/progress/failure callbacks are PHP closures the Python
worker never runs (decision 1); this registry holds the Python callables to run at
those moments instead. It is separate from the bookkeeping because applications
register here at import time, long before (and without) any database connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from laravel_queue.awaitables import check_runnable, run_sync
from laravel_queue.signatures import positional

if TYPE_CHECKING:
    from laravel_queue.bus.batch_record import Batch

log = logging.getLogger("laravel_queue.bus.batches")  # one logger for the whole batches feature

BatchCallback = Callable[..., Any]


@dataclass
class BatchHooks:
    """Python callbacks for one batch name, called where PHP would call that batch's closures."""

    then: list[BatchCallback] = field(default_factory=list)
    catch: list[BatchCallback] = field(default_factory=list)
    finally_: list[BatchCallback] = field(default_factory=list)
    progress: list[BatchCallback] = field(default_factory=list)
    failure: list[BatchCallback] = field(default_factory=list)

    def of(self, kind: str) -> list[BatchCallback]:
        return self.finally_ if kind == "finally" else list(getattr(self, kind))


class BatchCallbacks:
    """Batch name -> Python callbacks."""

    def __init__(self) -> None:
        self._hooks: dict[str, BatchHooks] = {}

    def on_batch(
        self,
        name: str,
        *,
        then: BatchCallback | None = None,
        catch: BatchCallback | None = None,
        finally_: BatchCallback | None = None,
        progress: BatchCallback | None = None,
        failure: BatchCallback | None = None,
    ) -> BatchHooks:
        hooks = self._hooks.setdefault(name, BatchHooks())
        given = {"then": then, "catch": catch, "finally_": finally_, "progress": progress, "failure": failure}
        for attribute, callback in given.items():
            if callback is None:
                continue
            check_runnable(callback, f"on_batch({name!r}, {attribute}=...)")
            if not callable(callback):
                raise TypeError(f"on_batch({name!r}, {attribute}=...) needs a callable, got {callback!r}")
            getattr(hooks, attribute).append(callback)
        return hooks

    def for_batch(self, name: str) -> BatchHooks:
        return self._hooks.get(name) or BatchHooks()

    def clear(self) -> None:
        self._hooks.clear()


default_batch_callbacks = BatchCallbacks()


def on_batch(
    name: str,
    *,
    then: BatchCallback | None = None,
    catch: BatchCallback | None = None,
    finally_: BatchCallback | None = None,
    progress: BatchCallback | None = None,
    failure: BatchCallback | None = None,
    callbacks: BatchCallbacks | None = None,
) -> BatchHooks:
    """Run Python code when a batch named `name` reaches then/catch/finally/progress/failure.

    Callbacks get the fresh `Batch` (and the exception, if they take a second argument).
    """
    return (callbacks or default_batch_callbacks).on_batch(
        name, then=then, catch=catch, finally_=finally_, progress=progress, failure=failure
    )


def call_hook(callback: BatchCallback, batch: Batch, exc: BaseException | None) -> None:
    """Call with (batch, exc) when the callback takes two arguments, else (batch); never raise."""
    try:
        takes = positional(callback)
        takes_two = takes is not None and takes.takes(2)
        run_sync(callback(batch, exc) if takes_two else callback(batch))
    except Exception:  # Laravel reports and swallows callback exceptions
        log.exception("batch callback %r for batch %s raised", callback, batch.id)
