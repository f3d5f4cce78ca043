"""`schedule:run`: run the events due this minute once, then repeat sub-minute events.

Follows Laravel's ScheduleRunCommand step for step (spec §14.7): the start time is
taken once, `onOneServer` uses that start time's HHMM in the app time zone, a
failing event is reported and the run continues, and the exit status is 0.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from laravel_queue.errors import JobOutcomeError
from laravel_queue.schedule.callback_event import CallbackEvent
from laravel_queue.schedule.context import INTERRUPT_KEY
from laravel_queue.schedule.event import Event
from laravel_queue.schedule.output import Console

if TYPE_CHECKING:
    from laravel_queue.schedule.context import ScheduleContext
    from laravel_queue.schedule.schedule import Schedule

log = logging.getLogger("laravel_queue.schedule")

REPEAT_POLL_SECONDS = 0.1


class ScheduledCommandFailed(JobOutcomeError, RuntimeError):
    """Laravel's report for a foreground command that exited non-zero."""


class ScheduleRunner:
    """One `schedule:run` invocation over a bound schedule."""

    def __init__(
        self, schedule: Schedule, context: ScheduleContext, console: Console | None = None, whisper: bool = False
    ) -> None:
        self.schedule = schedule
        self.context = context
        self.console = console or Console()
        self.whisper = whisper
        schedule.bind(context)
        self.started_at = context.now().astimezone(context.app_timezone)
        self.events_ran = False
        self._server_should_run: dict[str, bool] = {}

    def run(self) -> int:
        events = self.schedule.due_events(self.started_at)
        repeatable = [event for event in events if event.is_repeatable()]
        if repeatable:
            self.context.default_store().forget(INTERRUPT_KEY)
        for event in events:
            if not event.filters_pass(self.context):
                continue
            if not self.events_ran:
                self.console.new_line()
            self._dispatch(event)
            self.events_ran = True
        if repeatable:
            self._repeat(repeatable)
        if not self.events_ran:
            if not self.whisper:
                self.console.info("No scheduled commands are ready to run.")
        else:
            self.console.new_line()
        return 0

    def _dispatch(self, event: Event) -> None:
        if event.runs_on_one_server:
            self._run_single_server_event(event)
        else:
            self.run_event(event)

    def _run_single_server_event(self, event: Event) -> None:
        if self.server_should_run(event):
            self.run_event(event)
        else:
            self.console.info(f"Skipping [{event.summary()}] because the command already ran on another server.")

    def server_should_run(self, event: Event) -> bool:
        """The scheduling mutex, taken once per event per run (sub-minute repeats reuse the answer)."""
        name = event.mutex_name()
        if name not in self._server_should_run:
            self._server_should_run[name] = self.context.scheduling_mutex.create(event, self.started_at)
        return self._server_should_run[name]

    def run_event(self, event: Event) -> None:
        stamp = self.context.now().astimezone(self.context.app_timezone).strftime("%Y-%m-%d %H:%M:%S")
        background = " in background" if event.runs_in_background else ""
        description = f"{stamp} Running [{event.display_command()}]{background}"
        self.console.task(description, lambda: self._run_reporting(event))
        if not isinstance(event, CallbackEvent):
            self.console.bullet(event.summary())

    def _run_reporting(self, event: Event) -> bool:
        try:
            event.run(self.context)
            self.events_ran = True
            if event.exit_code not in (None, 0) and not event.runs_in_background:
                raise ScheduledCommandFailed(
                    f"Scheduled command [{event.command or ''}] failed with exit code [{event.exit_code}]."
                )
        except Exception:
            log.exception("scheduled task [%s] failed", event.summary())
        return event.exit_code in (None, 0)

    # -- sub-minute repeats ---------------------------------------------------------------------

    def _end_of_minute(self) -> datetime:
        return self.started_at.replace(second=59, microsecond=999999)

    def _repeat(self, events: list[Event]) -> None:
        entered_maintenance = False
        end_of_minute = self._end_of_minute()
        while self.context.now() <= end_of_minute:
            for event in events:
                if self.should_interrupt():
                    return
                if not event.should_repeat_now(self.context.now()):
                    continue
                entered_maintenance = entered_maintenance or self.context.is_down_for_maintenance()
                if entered_maintenance and not event.runs_even_in_maintenance_mode:
                    continue
                if not event.filters_pass(self.context):
                    continue
                self._dispatch(event)
                self.events_ran = True
            self.context.sleep(REPEAT_POLL_SECONDS)

    def should_interrupt(self) -> bool:
        return bool(self.context.default_store().get(INTERRUPT_KEY))


def interrupt(context: ScheduleContext) -> None:
    """`schedule:interrupt`: ask running `schedule:run` processes to stop repeating this minute."""
    now = context.now()
    end = now.replace(second=59, microsecond=999999)
    seconds = max(1, math.ceil((end - now) / timedelta(milliseconds=1) / 1000))
    context.default_store().put(INTERRUPT_KEY, True, seconds)
