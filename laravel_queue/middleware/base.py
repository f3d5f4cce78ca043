"""What every job middleware shares: the `(job, command, next)` contract and the job's connections.

A middleware is any callable `mw(job, command, next)`, sync or async; `next(job, command)`
runs the rest of the pipeline (Laravel's `$next($job)`). Returning without calling `next`
ends the pipeline: unless the middleware released, deleted or failed the job, the job then
counts as done, as in PHP.

The built-in middleware are written once as *around* generators (`AroundMiddleware`): code
before the `yield` runs before the rest of the pipeline, the `yield` receives its result
(or raises its exception), and returning before the `yield` short-circuits. The pipeline
drives the same generator from sync and async handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from laravel_queue.errors import ConfigurationError

Next = Callable[[Any, Any], Any]
Around = Generator[None, Any, Any]


class AroundMiddleware:
    """A middleware written as one generator; `__call__` runs it in a sync pipeline."""

    def around(self, job: Any, command: Any) -> Around:
        """Yield once to run the rest of the pipeline; return before yielding to stop it."""
        raise NotImplementedError
        yield  # pragma: no cover

    def __call__(self, job: Any, command: Any, next: Next) -> Any:
        steps = self.around(job, command)
        yielded, value = begin(steps)
        if not yielded:
            return value
        try:
            result = next(job, command)
        except BaseException as exc:
            return finish(steps.throw, exc)
        return finish(steps.send, result)


def begin(steps: Around) -> tuple[bool, Any]:
    """Run an around generator up to its yield: (True, None), or (False, its value) when it returned."""
    try:
        steps.send(None)
    except StopIteration as stop:
        return False, stop.value
    return True, None


def finish(step: Callable[[Any], Any], value: Any) -> Any:
    """Resume an around generator after the inner pipeline; it must not yield twice."""
    try:
        step(value)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("a middleware's around() yielded more than once")


def connections_of(job: Any) -> Any:
    """The Connections running `job` (set per job by the bus lifecycle); built-ins need its cache."""
    connections = getattr(job, "connections", None)
    if connections is None:
        raise ConfigurationError(
            "job middleware needs the bus lifecycle (laravel_queue.bus.lifecycle.lifecycle_for), "
            "which gives each job its connections"
        )
    return connections


def job_class_of(job: Any, command: Any) -> str:
    """PHP's `get_class($command)`: the command's class, else the payload's commandName/displayName."""
    class_name = getattr(command, "class_name", None)
    if isinstance(class_name, str) and class_name:
        return class_name
    return str(job.command_name or job.display_name)
