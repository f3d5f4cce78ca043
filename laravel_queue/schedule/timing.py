"""When an expression is due: local wall-clock minutes, as Laravel evaluates them.

Laravel converts "now" to the event's time zone, formats it as a wall time and asks
the cron library whether that minute matches (spec §14.3). So a wall time skipped by
a DST jump never matches and a wall time that occurs twice matches twice. croniter,
given an aware datetime, instead moves a skipped time to the next valid instant (its
`30 2 * * *` runs at 03:00 on the spring-forward day); `next_due` therefore never
hands croniter an aware datetime: it enumerates naive wall times and maps each to
the real instants that show it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterBadDateError

UTC = timezone.utc
# Largest change of UTC offset at one DST transition we need to look around (real zones: 1 h, Troll 2 h).
_DST_MARGIN = timedelta(hours=2)
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_OFFSET = re.compile(r"^([+-])(\d{1,2}):?(\d{2})$")


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """A time zone by PHP name (`Europe/Amsterdam`, `UTC`, `+02:00`); ValueError if unknown."""
    match = _OFFSET.match(name.strip())
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown or bad timezone ({name})") from None


def validate_expression(expression: str) -> str:
    """Five cron fields (or a macro) that croniter understands; ValueError otherwise."""
    text = expression.strip()
    if text.lower() in _MACROS:
        return expression
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ValueError(f"Invalid CRON field value or expression: {expression!r}")
    return expression


def wall_minute(moment: datetime, tz: tzinfo) -> datetime:
    """The naive local wall time of `moment` in `tz`, truncated to the minute."""
    return moment.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)


def is_due(expression: str, now: datetime, tz: tzinfo) -> bool:
    """Does the wall-clock minute of `now` in `tz` match the expression?"""
    return bool(croniter.match(expression.strip(), wall_minute(now, tz)))


def real_instants(wall: datetime, tz: tzinfo) -> list[datetime]:
    """The UTC instants whose local wall time is `wall`: none (DST gap), one, or two (DST overlap)."""
    found: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return found


def next_due(expression: str, now: datetime, tz: tzinfo) -> datetime | None:
    """The first real minute after now's minute whose wall time matches, in `tz`; None if never."""
    current = now.astimezone(UTC).replace(second=0, microsecond=0)
    walls = croniter(expression.strip(), wall_minute(current, tz) - _DST_MARGIN)
    best: datetime | None = None
    best_wall: datetime | None = None
    try:
        while True:
            wall = walls.get_next(datetime)
            if best_wall is not None and wall > best_wall + _DST_MARGIN:
                break
            for instant in real_instants(wall, tz):
                if instant > current and (best is None or instant < best):
                    best, best_wall = instant, wall
    except CroniterBadDateError:
        pass
    return None if best is None else best.astimezone(tz)


def next_repeat(now: datetime, repeat_seconds: int) -> datetime:
    """Carbon `endOfSecond()->ceilSeconds(n)`: the next multiple of n seconds after now's second."""
    second = now.replace(microsecond=0)
    return second + timedelta(seconds=repeat_seconds - second.second % repeat_seconds)


def _clock_time(text: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"\s*(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?\s*([ap]m)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"between(): expected a time such as '9:00' or '17:30', got {text!r}")
    hour, minute, second = (int(g) if g else 0 for g in match.group(1, 2, 3))
    meridiem = (match.group(4) or "").lower()
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"between(): {text!r} is not a time of day")
    return hour, minute, second


def in_time_interval(now: datetime, start: str, end: str) -> bool:
    """Laravel's `inTimeInterval`: today's [start, end] in now's zone, inclusive, wrapping midnight."""
    tz = now.tzinfo
    assert tz is not None
    start_at = datetime(now.year, now.month, now.day, *_clock_time(start), tzinfo=tz)
    end_at = datetime(now.year, now.month, now.day, *_clock_time(end), tzinfo=tz)
    if end_at.astimezone(UTC) < start_at.astimezone(UTC):
        if start_at.astimezone(UTC) > now.astimezone(UTC):
            start_at -= timedelta(days=1)
        else:
            end_at += timedelta(days=1)
    return start_at.astimezone(UTC) <= now.astimezone(UTC) <= end_at.astimezone(UTC)


def validate_time(text: str) -> str:
    _clock_time(text)
    return text
