"""`schedule:list`: Laravel's table (and 12.29+ JSON) of events and their next due time."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from laravel_queue.schedule.callback_event import CallbackEvent, JobEvent
from laravel_queue.schedule.event import Event
from laravel_queue.schedule.output import diff_for_humans
from laravel_queue.schedule.timing import is_due, next_due, next_repeat

if TYPE_CHECKING:
    from laravel_queue.schedule.context import ScheduleContext
    from laravel_queue.schedule.schedule import Schedule


def next_due_date(event: Event, now: datetime, display: tzinfo) -> datetime | None:
    """Next due in the event zone, shown in `display`; sub-minute events due now: the next repeat."""
    tz = event.tz()
    if event.repeat_seconds is not None and is_due(event.expression, now, tz):
        return next_repeat(now.astimezone(tz), event.repeat_seconds).astimezone(display)
    found = next_due(event.expression, now, tz)
    return None if found is None else found.astimezone(display)


def format_offset_date(moment: datetime) -> str:
    """PHP `Y-m-d H:i:s P`."""
    offset = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}"


def listed_command(event: Event, ctx: ScheduleContext, verbose: bool) -> str:
    if isinstance(event, CallbackEvent):
        summary = event.summary()
        if summary in ("Closure", "Callback") and not isinstance(event, JobEvent):
            return "Closure at: " + event.closure_location(str(ctx.base_path))
        return summary
    return (event.command or "") if verbose else event.normalized_command()


def _repeat_label(event: Event) -> str:
    return f"{event.repeat_seconds}s " if event.repeat_seconds is not None else ""


class ScheduleLister:
    def __init__(self, schedule: Schedule, context: ScheduleContext) -> None:
        self.schedule = schedule
        self.context = context
        schedule.bind(context)

    def _sorted(self, display: tzinfo, by_next: bool) -> list[tuple[Event, datetime | None]]:
        now = self.context.now()
        rows = [(event, next_due_date(event, now, display)) for event in self.schedule.events]
        if by_next:
            far = datetime.max.replace(tzinfo=display)
            rows.sort(key=lambda row: row[1] or far)
        return rows

    def as_json(self, display: tzinfo, by_next: bool = False) -> list[dict[str, Any]]:
        now = self.context.now()
        result = []
        for event, due in self._sorted(display, by_next):
            result.append({
                "expression": event.expression,
                "command": listed_command(event, self.context, verbose=False),
                "description": event.event_description,
                "next_due_date": format_offset_date(due) if due else None,
                "next_due_date_human": diff_for_humans(due, now) if due else None,
                "timezone": event.timezone_name(),
                "has_mutex": self.context.event_mutex.exists(event),
                "repeat_seconds": event.repeat_seconds,
                "environments": list(event.event_environments),
            })
        return result

    def lines(self, display: tzinfo, width: int, by_next: bool = False, verbose: bool = False) -> list[str]:
        if not self.schedule.events:
            return []
        now = self.context.now()
        split = [re.split(r"\s+", event.expression) for event in self.schedule.events]
        spacing = [max(len(fields[i]) if i < len(fields) else 0 for fields in split) for i in range(len(split[0]))]
        repeat_width = max(len(_repeat_label(event)) for event in self.schedule.events)
        out = [""]
        for event, due in self._sorted(display, by_next):
            fields = re.split(r"\s+", event.expression)
            expression = " ".join(
                (fields[i] if i < len(fields) else "").ljust(size) for i, size in enumerate(spacing)
            )
            repeat = _repeat_label(event).ljust(repeat_width)
            command = listed_command(event, self.context, verbose)
            command = f"{command} " if len(command) > 1 else ""
            label = "Next Due:"
            when = "never" if due is None else format_offset_date(due) if verbose else diff_for_humans(due, now)
            mutex = "Has Mutex › " if self.context.event_mutex.exists(event) else ""
            dots = "." * max(width - len(expression + repeat + command + label + when + mutex) - 8, 0)
            out.append(f"  {expression} {repeat} {command}{dots} {mutex}{label} {when}")
            description = event.event_description or ""
            if verbose and len(description) > 1:
                out.append(f"  {' ' * (len(expression) + 2)}⇁ {description}")
        out.append("")
        return out
