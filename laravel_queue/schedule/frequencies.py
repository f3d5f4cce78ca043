"""Laravel's `ManagesFrequencies` helpers, producing the same cron strings.

Each helper overwrites only some of the five fields, so helpers compose exactly as
in PHP (`->weekdays()->hourly()` is `0 * * * 1-5`). The strings must match PHP's
because a command event's mutex name hashes its expression.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from typing_extensions import Self

FieldValue: TypeAlias = "int | str | Iterable[int | str]"

SUNDAY, MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY = range(7)


def _field(value: FieldValue) -> str:
    if isinstance(value, (str, int)):
        return str(value)
    return ",".join(str(v) for v in value)


def _time_parts(time: str) -> tuple[str, str]:
    """`dailyAt`'s parsing: `(int) H`, and `(int) M` only when there are exactly two segments."""
    segments = str(time).split(":")
    hour = str(_php_int(segments[0]))
    minute = str(_php_int(segments[1])) if len(segments) == 2 else "0"
    return minute, hour


def _php_int(text: str) -> int:
    """PHP's `(int)` cast of a string: leading digits (with sign), else 0."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    digits = ""
    for char in text.lstrip("+-"):
        if not char.isdigit():
            break
        digits += char
    return sign * int(digits) if digits else 0


class ManagesFrequencies:
    """Mixed into Event: every Laravel frequency helper, snake_cased and chainable."""

    expression: str = "* * * * *"
    repeat_seconds: int | None = None
    _timezone: str | None = None
    _now: Callable[[], datetime]

    def when(self, condition: Any) -> Self:  # pragma: no cover - provided by Event
        raise NotImplementedError

    def skip(self, condition: Any) -> Self:  # pragma: no cover - provided by Event
        raise NotImplementedError

    # -- raw --------------------------------------------------------------------------

    def cron(self, expression: str) -> Self:
        self.expression = expression
        return self

    def _splice(self, position: int, value: FieldValue) -> Self:
        segments = re.split(r"\s+", self.expression)
        while len(segments) < position:
            segments.append("*")
        segments[position - 1] = _field(value)
        return self.cron(" ".join(segments))

    def _hour_based(self, minutes: FieldValue, hours: FieldValue) -> Self:
        return self._splice(1, minutes)._splice(2, hours)

    # -- sub-minute -----------------------------------------------------------------------

    def _repeat_every(self, seconds: int) -> Self:
        if seconds <= 0 or 60 % seconds != 0:
            raise ValueError(f"The seconds [{seconds}] are not evenly divisible by 60.")
        self.repeat_seconds = seconds
        return self.every_minute()

    def every_second(self) -> Self:
        return self._repeat_every(1)

    def every_two_seconds(self) -> Self:
        return self._repeat_every(2)

    def every_five_seconds(self) -> Self:
        return self._repeat_every(5)

    def every_ten_seconds(self) -> Self:
        return self._repeat_every(10)

    def every_fifteen_seconds(self) -> Self:
        return self._repeat_every(15)

    def every_twenty_seconds(self) -> Self:
        return self._repeat_every(20)

    def every_thirty_seconds(self) -> Self:
        return self._repeat_every(30)

    # -- minutes --------------------------------------------------------------------------

    def every_minute(self) -> Self:
        return self._splice(1, "*")

    def every_two_minutes(self) -> Self:
        return self._splice(1, "*/2")

    def every_three_minutes(self) -> Self:
        return self._splice(1, "*/3")

    def every_four_minutes(self) -> Self:
        return self._splice(1, "*/4")

    def every_five_minutes(self) -> Self:
        return self._splice(1, "*/5")

    def every_ten_minutes(self) -> Self:
        return self._splice(1, "*/10")

    def every_fifteen_minutes(self) -> Self:
        return self._splice(1, "*/15")

    def every_thirty_minutes(self) -> Self:
        return self._splice(1, "*/30")

    # -- hours ----------------------------------------------------------------------------

    def hourly(self) -> Self:
        return self._splice(1, 0)

    def hourly_at(self, offset: FieldValue) -> Self:
        return self._hour_based(offset, "*")

    def every_odd_hour(self, offset: FieldValue = 0) -> Self:
        return self._hour_based(offset, "1-23/2")

    def every_even_hour(self, offset: FieldValue = 0) -> Self:
        return self._hour_based(offset, "0-22/2")

    def every_two_hours(self, offset: FieldValue = 0) -> Self:
        return self._hour_based(offset, "*/2")

    def every_three_hours(self, offset: FieldValue = 0) -> Self:
        return self._hour_based(offset, "*/3")

    def every_four_hours(self, offset: FieldValue = 0) -> Self:
        return self._hour_based(offset, "*/4")

    def every_six_hours(self, offset: FieldValue = 0) -> Self:
        return self._hour_based(offset, "*/6")

    # -- days -----------------------------------------------------------------------------

    def daily(self) -> Self:
        return self._hour_based(0, 0)

    def daily_at(self, time: str) -> Self:
        minute, hour = _time_parts(time)
        return self._hour_based(minute, hour)

    def at(self, time: str) -> Self:
        return self.daily_at(time)

    def twice_daily(self, first: int = 1, second: int = 13) -> Self:
        return self.twice_daily_at(first, second, 0)

    def twice_daily_at(self, first: int = 1, second: int = 13, offset: int = 0) -> Self:
        return self._hour_based(offset, f"{first},{second}")

    def days(self, *days: FieldValue) -> Self:
        if len(days) == 1 and not isinstance(days[0], (str, int)):
            return self._splice(5, days[0])
        return self._splice(5, [_field(d) for d in days])

    def weekdays(self) -> Self:
        return self.days(f"{MONDAY}-{FRIDAY}")

    def weekends(self) -> Self:
        return self.days(f"{SATURDAY},{SUNDAY}")

    def mondays(self) -> Self:
        return self.days(MONDAY)

    def tuesdays(self) -> Self:
        return self.days(TUESDAY)

    def wednesdays(self) -> Self:
        return self.days(WEDNESDAY)

    def thursdays(self) -> Self:
        return self.days(THURSDAY)

    def fridays(self) -> Self:
        return self.days(FRIDAY)

    def saturdays(self) -> Self:
        return self.days(SATURDAY)

    def sundays(self) -> Self:
        return self.days(SUNDAY)

    # -- weeks, months, years ----------------------------------------------------------------

    def weekly(self) -> Self:
        return self._splice(1, 0)._splice(2, 0)._splice(5, 0)

    def weekly_on(self, day_of_week: FieldValue, time: str = "0:0") -> Self:
        self.daily_at(time)
        return self.days(day_of_week)

    def monthly(self) -> Self:
        return self._splice(1, 0)._splice(2, 0)._splice(3, 1)

    def monthly_on(self, day_of_month: FieldValue = 1, time: str = "0:0") -> Self:
        self.daily_at(time)
        return self._splice(3, day_of_month)

    def twice_monthly(self, first: int = 1, second: int = 16, time: str = "0:0") -> Self:
        self.daily_at(time)
        return self._splice(3, f"{first},{second}")

    def last_day_of_month(self, time: str = "0:0") -> Self:
        """Like Laravel: the last day of the month current *when the schedule is defined*."""
        self.daily_at(time)
        now = self._now()
        return self._splice(3, calendar.monthrange(now.year, now.month)[1])

    def days_of_month(self, *days: FieldValue) -> Self:
        values = days[0] if len(days) == 1 and not isinstance(days[0], (str, int)) else days
        return self._splice(1, 0)._splice(2, 0)._splice(3, [_field(d) for d in values])

    def quarterly(self) -> Self:
        return self._splice(1, 0)._splice(2, 0)._splice(3, 1)._splice(4, "1-12/3")

    def quarterly_on(self, day_of_quarter: FieldValue = 1, time: str = "0:0") -> Self:
        self.daily_at(time)
        return self._splice(3, day_of_quarter)._splice(4, "1-12/3")

    def yearly(self) -> Self:
        return self._splice(1, 0)._splice(2, 0)._splice(3, 1)._splice(4, 1)

    def yearly_on(self, month: FieldValue = 1, day_of_month: FieldValue = 1, time: str = "0:0") -> Self:
        self.daily_at(time)
        return self._splice(3, day_of_month)._splice(4, month)

    # -- time zone and windows ------------------------------------------------------------

    def timezone(self, timezone: str) -> Self:
        from laravel_queue.schedule.timing import zone

        zone(timezone)  # fail now, at definition, on an unknown zone name
        self._timezone = timezone
        return self

    def between(self, start: str, end: str) -> Self:
        return self.when(self._in_time_interval(start, end))

    def unless_between(self, start: str, end: str) -> Self:
        return self.skip(self._in_time_interval(start, end))

    def _in_time_interval(self, start: str, end: str) -> Callable[[], bool]:
        from laravel_queue.schedule.timing import in_time_interval, validate_time

        validate_time(start)
        validate_time(end)
        # Evaluated at each check (Laravel 13 behaviour) so a long-lived schedule stays right.
        return lambda: in_time_interval(self._now_in_event_zone(), start, end)

    def _now_in_event_zone(self) -> datetime:  # pragma: no cover - provided by Event
        raise NotImplementedError
