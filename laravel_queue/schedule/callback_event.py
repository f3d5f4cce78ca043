"""In-process scheduled events: a Python callable (`schedule.call`) or a job dispatch (`schedule.job`).

Laravel's CallbackEvent: it shares the command event's definition helpers, filters
and run sequence, and differs in what it runs (a callable in this process, its
exception re-raised after the after-callbacks), how it is named (its description
alone gives the mutex name), and what it refuses (background runs; overlap and
one-server locks without a name). Kept apart so `event.py` stays the shell event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from laravel_queue.awaitables import check_runnable, run_sync
from laravel_queue.schedule.event import Event, ScheduleError

if TYPE_CHECKING:
    from typing_extensions import Self

    from laravel_queue.schedule.context import ScheduleContext
    from laravel_queue.schedule.schedule import Schedule


class CallbackEvent(Event):
    """An in-process Python callable (`schedule.call(fn)`)."""

    def __init__(self, schedule: Schedule, callback: Callable[..., Any], parameters: Sequence[Any] = ()) -> None:
        if not callable(callback):
            raise ScheduleError(f"schedule.call() needs a callable, got {callback!r}")
        try:
            check_runnable(callback, "the schedule.call() callback")
        except TypeError as exc:
            raise ScheduleError(str(exc)) from None
        super().__init__(schedule, None)
        self.callback = callback
        self.parameters = tuple(parameters)
        self.result: Any = None
        self.exception: BaseException | None = None

    def mutex_name(self) -> str:
        """`framework/schedule-` + sha1(description): a PHP event with the same name shares it."""
        return "framework/schedule-" + hashlib.sha1((self.event_description or "").encode()).hexdigest()

    def summary(self) -> str:
        return self.event_description if self.event_description is not None else "Callback"

    def display_command(self) -> str:
        return self.summary()

    def closure_location(self, base_path: str | None = None) -> str:
        code = getattr(self.callback, "__code__", None)
        if code is None:
            target = getattr(self.callback, "__qualname__", type(self.callback).__qualname__)
            return f"{getattr(self.callback, '__module__', '?')}.{target}"
        filename = code.co_filename
        if base_path and filename.startswith(base_path.rstrip("/") + "/"):
            filename = filename[len(base_path.rstrip("/")) + 1 :]
        return f"{filename}:{code.co_firstlineno}"

    def without_overlapping(self, expires_minutes: int = 1440) -> Self:
        if self.event_description is None:
            raise ScheduleError(
                "A scheduled event name is required to prevent overlapping. "
                "Use the 'name' method before 'withoutOverlapping'."
            )
        return super().without_overlapping(expires_minutes)

    def on_one_server(self) -> Self:
        if self.event_description is None:
            raise ScheduleError(
                "A scheduled event name is required to only run on one server. "
                "Use the 'name' method before 'onOneServer'."
            )
        return super().on_one_server()

    def run_in_background(self) -> Self:
        raise ScheduleError("Scheduled closures can not be run in the background.")

    def build_command(self, finish_command: str | None = None) -> str:
        return self.summary()

    def should_skip_due_to_overlapping(self, ctx: ScheduleContext) -> bool:
        return self.event_description is not None and super().should_skip_due_to_overlapping(ctx)

    def run(self, ctx: ScheduleContext) -> Any:
        """Run the callable; a raised exception is re-raised after the after-callbacks."""
        self.exception = None
        super().run(ctx)
        if self.exception is not None:
            raise self.exception
        return self.result

    def _execute(self, ctx: ScheduleContext) -> int:
        try:
            self.result = self._invoke(ctx)
        except Exception as exc:
            self.exception = exc
            return 1
        return 1 if self.result is False else 0

    def _invoke(self, ctx: ScheduleContext) -> Any:
        return run_sync(self.callback(*self.parameters))


class JobEvent(CallbackEvent):
    """`schedule.job(...)`: a callback event, named after the job, that dispatches it."""

    def __init__(
        self,
        schedule: Schedule,
        job: Any,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        connection: str | None = None,
    ) -> None:
        super().__init__(schedule, self._dispatch_placeholder)
        self.job = job
        self.data = data
        self.queue = queue
        self.connection = connection
        self.name(job_display_name(job))

    @staticmethod
    def _dispatch_placeholder() -> None:  # replaced by _invoke; keeps CallbackEvent's contract
        return None

    def _invoke(self, ctx: ScheduleContext) -> Any:
        from laravel_queue.dispatch import Command, dispatch

        command = Command(self.job, dict(self.data or {})) if isinstance(self.job, str) else self.job
        return dispatch(command, connection=self.connection, queue=self.queue, connections=ctx.connections)

    def closure_location(self, base_path: str | None = None) -> str:
        return job_display_name(self.job)


def job_display_name(job: Any) -> str:
    """The PHP class (or display name) Laravel names a `Schedule::job` event after."""
    if isinstance(job, str):
        if not job.strip():
            raise ScheduleError("schedule.job() needs a PHP job class name")
        return job
    for attribute in ("display_name", "php_class", "class_name", "name"):
        value = getattr(job, attribute, None)
        if callable(value):
            value = value()
        if isinstance(value, str) and value:
            return value
    return type(job).__name__
