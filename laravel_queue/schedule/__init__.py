"""Laravel's task scheduler in Python, sharing mutexes with PHP's `schedule:run`.

    from laravel_queue.schedule import Schedule

    schedule = Schedule()
    schedule.command("inspire").hourly()
"""

from laravel_queue.schedule.callback_event import CallbackEvent, JobEvent
from laravel_queue.schedule.context import ScheduleContext
from laravel_queue.schedule.event import Event, ScheduleError
from laravel_queue.schedule.loader import ScheduleLoadError, load_schedule
from laravel_queue.schedule.runner import ScheduleRunner
from laravel_queue.schedule.schedule import Schedule

__all__ = [
    "CallbackEvent",
    "Event",
    "JobEvent",
    "Schedule",
    "ScheduleContext",
    "ScheduleError",
    "ScheduleLoadError",
    "ScheduleRunner",
    "load_schedule",
]
