"""Artisan's console components (`info`, `error`, `task`, `twoColumnDetail`) as plain text.

Commands print what `php artisan` prints for the same operation, minus colours, so
people who know the PHP output read ours at a glance. Progress of long operations
goes to stderr, keeping stdout clean for `--json` and pipes.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO, TypeVar

from laravel_queue.style import Style, runtime_for_humans

T = TypeVar("T")

MAX_WIDTH = 150  # Laravel caps its components at 150 columns


def terminal_width() -> int:
    return min(shutil.get_terminal_size((80, 24)).columns, MAX_WIDTH)


def ensure_punctuation(message: str) -> str:
    """Laravel's components end every message with punctuation."""
    return message if message.endswith((".", "?", "!", ":")) else message + "."


class Console:
    """Writes Laravel-shaped lines to `out`; the badges are `INFO`, `WARN`, `ERROR`."""

    def __init__(self, out: TextIO | None = None, *, width: int | None = None) -> None:
        self.out = out or sys.stdout
        self.width = width or terminal_width()
        self.style = Style.for_stream(self.out)  # artisan's colours on a terminal only

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, message: str) -> None:
        self.line(f"\n  {self.style.badge('INFO', 'blue')} {ensure_punctuation(message)}\n")

    def warn(self, message: str) -> None:
        self.line(f"\n  {self.style.badge('WARN', 'yellow')} {ensure_punctuation(message)}\n")

    def error(self, message: str) -> None:
        self.line(f"\n  {self.style.badge('ERROR', 'red')} {ensure_punctuation(message)}\n")

    def two_column_detail(self, first: str, second: str = "") -> None:
        dots = "." * max(self.width - len(first) - len(second) - 6, 0)
        self.line(f"  {first} {dots} {second}".rstrip())

    def task(self, description: str, action: Callable[[], T]) -> T:
        """Run `action`, then print `description .... 1.23ms DONE` (or FAIL and re-raise)."""
        started = time.perf_counter()
        try:
            result = action()
        except BaseException:
            self._task_line(description, started, "FAIL")
            raise
        self._task_line(description, started, "DONE" if result is not False else "FAIL")
        return result

    def _task_line(self, description: str, started: float, status: str) -> None:
        runtime = runtime_for_humans((time.perf_counter() - started) * 1000)
        dots = "." * max(self.width - len(description) - len(runtime) - len(status) - 5, 0)
        paint = self.style
        status = paint.status(status, "green" if status == "DONE" else "red")
        self.line(f"  {description} {paint.grey(dots)} {paint.grey(runtime)} {status}")


class Progress:
    """`label: done/total` on stderr: redrawn in place on a terminal, else a line per second."""

    def __init__(self, label: str, total: int | None = None, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._started = time.monotonic()

    def _text(self) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        return f"{self.label}: {count}"

    def advance(self, by: int = 1) -> None:
        self.done += by
        now = time.monotonic()
        if self.interactive:
            self.stream.write("\r" + self._text())
            self.stream.flush()
        elif now - self._last >= 1.0:
            self._last = now
            self.stream.write(self._text() + "\n")
            self.stream.flush()

    def finish(self, summary: str | None = None) -> None:
        elapsed = runtime_for_humans((time.monotonic() - self._started) * 1000)
        text = summary if summary is not None else self._text()
        prefix = "\r" if self.interactive else ""
        self.stream.write(f"{prefix}{text} ({elapsed})\n")
        self.stream.flush()
