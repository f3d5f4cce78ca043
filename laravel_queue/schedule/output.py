"""Laravel's console components as plain text: task lines, bullets, INFO blocks.

Widths, dots and blank lines follow Laravel's Task/BulletList/Info components so the
output of `schedule:run` and `schedule:list` lines up with PHP's (no colours).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TextIO

from laravel_queue.style import Style


def terminal_width() -> int:
    """Symfony's Terminal width: COLUMNS, else the tty's width, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return os.get_terminal_size().columns
    except OSError:
        pass
    return 80


def runtime_for_humans(milliseconds: float) -> str:
    """Task's run time: `12.34ms` up to one second, then Carbon's short form (`1s 234ms`)."""
    if milliseconds <= 1000:
        return f"{milliseconds:,.2f}ms"
    remaining = int(milliseconds)
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts)


_UNITS = (
    ("year", 31_536_000), ("month", 2_592_000), ("week", 604_800), ("day", 86_400), ("hour", 3600), ("minute", 60),
)


def diff_for_humans(target: datetime, now: datetime) -> str:
    """Carbon's `diffForHumans()` relative to now, one unit (`57 seconds from now`)."""
    delta = target - now
    future = delta >= timedelta(0)
    seconds = int(abs(delta.total_seconds()))
    unit, count = "second", seconds
    for name, size in _UNITS:
        if seconds >= size:
            unit, count = name, seconds // size
            break
    label = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{label} from now" if future else f"{label} ago"


class Console:
    """Writes lines and tracks trailing newlines like Laravel's NewLineAware output."""

    def __init__(self, stream: TextIO | None = None, width: int | None = None) -> None:
        self.stream = stream or sys.stdout
        self.width = width or terminal_width()
        self.newlines_written = 1
        self.style = Style.for_stream(self.stream)  # artisan's colours on a terminal only

    def write(self, text: str) -> None:
        if text:
            self.stream.write(text)
            self.newlines_written = 0
        self.stream.flush()

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self.newlines_written = self.newlines_written + 1 if text == "" else 1

    def new_line(self) -> None:
        self.line("")

    def info(self, message: str) -> None:
        for _ in range(max(0, 2 - self.newlines_written)):
            self.new_line()
        self.line(f"  {self.style.badge('INFO', 'blue')} {message}  ")
        self.new_line()

    def bullet(self, text: str) -> None:
        self.line(f"  ⇂ {text}  ")

    def task(self, description: str, work: Callable[[], Any]) -> Any:
        """`  <description> ....... 1.23ms DONE|FAIL`; an exception from `work` is re-raised after."""
        self.write(f"  {description} ")
        started = time.perf_counter()
        result: Any = False
        try:
            result = work()
        finally:
            runtime = " " + runtime_for_humans((time.perf_counter() - started) * 1000)
            dots = max(min(self.width, 150) - len(description) - len(runtime) - 10, 0)
            self.write(self.style.grey("." * dots + runtime))
            done = result is not False
            self.line(" " + self.style.status("DONE" if done else "FAIL", "green" if done else "red"))
        return result
