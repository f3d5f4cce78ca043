"""Artisan's console colours as ANSI codes, on a terminal only.

Laravel's components colour the badge (` INFO ` white on blue, ` WARN ` black on
yellow, ` ERROR ` white on red), the worker's RUNNING (yellow), DONE (green) and FAIL
(red; yellow for a job released after an exception), and print dots, times
(`runtime_for_humans`) and timestamps in grey. Colours are on when the stream is a
terminal, off when it is a file or a pipe or when NO_COLOR is set (https://no-color.org);
FORCE_COLOR turns them on anywhere. This module is a leaf, so the worker and the CLI import it cheaply.
"""

from __future__ import annotations

import os
from typing import Any

_CODES = {
    "bold": "1",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "grey": "90",
}
_BADGES = {  # title colour -> (foreground, background), Laravel's Info/Warn/Error components
    "blue": ("37", "44"),
    "yellow": ("30", "43"),
    "red": ("37", "41"),
}


def colours_wanted(stream: Any) -> bool:
    """NO_COLOR wins, then FORCE_COLOR, then whether `stream` is a terminal (not TERM=dumb)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Style:
    """Paints text when enabled; returns it untouched otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: Any) -> Style:
        return cls(colours_wanted(stream))

    def paint(self, text: str, *names: str) -> str:
        if not self.enabled or not text:
            return text
        codes = ";".join(_CODES[name] for name in names)
        return f"\033[{codes}m{text}\033[0m"

    def grey(self, text: str) -> str:
        return self.paint(text, "grey")

    def status(self, word: str, colour: str) -> str:
        """RUNNING / DONE / FAIL: bold and coloured."""
        return self.paint(word, "bold", colour)

    def badge(self, title: str, colour: str) -> str:
        """` INFO ` as Laravel's components draw it: padded, on a coloured background."""
        if not self.enabled:
            return f" {title} "
        foreground, background = _BADGES[colour]
        return f"\033[1;{foreground};{background}m {title} \033[0m"


def runtime_for_humans(milliseconds: float) -> str:
    """Laravel's `runTimeForHumans`: `12.34ms` below a second, else `1s 234ms`, `2m 5s`."""
    if milliseconds <= 1000:
        return f"{milliseconds:,.2f}ms"
    total_ms = int(milliseconds)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    parts = [f"{v}{unit}" for v, unit in ((hours, "h"), (minutes, "m"), (seconds, "s"), (ms, "ms")) if v]
    return " ".join(parts)
