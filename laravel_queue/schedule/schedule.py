"""The `Schedule` a user module defines, as in Laravel's routes/console.php.

    from laravel_queue.schedule import Schedule

    schedule = Schedule()
    schedule.command("inspire").hourly()
    schedule.call(prune).daily_at("02:00").name("prune").on_one_server()
    schedule.job("App\\\\Jobs\\\\SendReport", {"team": 7}, queue="reports").weekdays().at("08:00")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from laravel_queue.schedule.callback_event import CallbackEvent, JobEvent
from laravel_queue.schedule.commands import (
    Parameters,
    find_php_binary,
    format_command_string,
    with_parameters,
)
from laravel_queue.schedule.event import Event
from laravel_queue.schedule.timing import UTC, zone

if TYPE_CHECKING:
    from laravel_queue.schedule.context import ScheduleContext

EventT = TypeVar("EventT", bound=Event)


class Schedule:
    """A list of events; the scheduler binds a ScheduleContext before evaluating it."""

    def __init__(
        self,
        timezone: str | None = None,
        *,
        php_binary: str | None = None,
        artisan_binary: str = "artisan",
    ) -> None:
        if timezone is not None:
            zone(timezone)
        self._timezone = timezone
        self.php_binary = php_binary or find_php_binary()
        self.artisan_binary = artisan_binary
        self.events: list[Event] = []
        self._context: ScheduleContext | None = None

    # -- defining events ---------------------------------------------------------------------

    def call(self, callback: Callable[..., Any], parameters: Sequence[Any] = ()) -> CallbackEvent:
        """Run a Python callable in the scheduler process."""
        return self._add(CallbackEvent(self, callback, parameters))

    def command(self, command: str, parameters: Parameters | None = None) -> Event:
        """Run an artisan command: `'<php>' 'artisan' <command> <parameters>` in the app base path."""
        line = format_command_string(with_parameters(command, parameters), self.php_binary, self.artisan_binary)
        return self._add(self._shell_event(line))

    def exec(self, command: str, parameters: Parameters | None = None) -> Event:
        """Run a shell command as given (plus Laravel-quoted parameters)."""
        return self._add(self._shell_event(with_parameters(command, parameters)))

    def job(
        self,
        job: Any,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        connection: str | None = None,
    ) -> JobEvent:
        """Dispatch a (PHP) job class, or a prepared `laravel_queue.dispatch.Command`."""
        return self._add(JobEvent(self, job, data, queue, connection))

    def _shell_event(self, line: str) -> Event:
        return Event(self, line, php_binary=self.php_binary, artisan_binary=self.artisan_binary)

    def _add(self, event: EventT) -> EventT:
        self.events.append(event)
        return event

    # -- evaluation ------------------------------------------------------------------------------

    def bind(self, context: ScheduleContext) -> None:
        self._context = context

    def context(self) -> ScheduleContext:
        if self._context is None:
            raise RuntimeError("the schedule is not bound to a ScheduleContext (use the scheduler CLI or bind())")
        return self._context

    def now(self) -> datetime:
        """The bound context's clock; the real clock while the module is being defined."""
        return self._context.now() if self._context is not None else datetime.now(UTC)

    def timezone_name(self) -> str:
        """Default event zone: Schedule(timezone=), else app.schedule_timezone, else app.timezone."""
        if self._timezone:
            return self._timezone
        return self._context.schedule_timezone if self._context is not None else "UTC"

    def due_events(self, now: datetime | None = None) -> list[Event]:
        ctx = self.context()
        moment = now or ctx.now()
        return [event for event in self.events if event.is_due(ctx, moment)]

    def find_by_mutex_name(self, mutex_name: str) -> list[Event]:
        return [event for event in self.events if event.mutex_name() == mutex_name]
