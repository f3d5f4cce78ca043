"""Read a Laravel `.env` file the way vlucas/phpdotenv (and so Laravel) reads it.

Why not python-dotenv: Laravel's `env()` turns the literals `true`, `false`,
`null` and `empty` (also in parentheses) into PHP values, and phpdotenv expands
`${VAR}` only outside single quotes. Settings must see the same values PHP sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from laravel_queue.config.errors import ConfigError

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class DotenvError(ConfigError):
    """A `.env` line that phpdotenv would also refuse."""


def parse_dotenv(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parse `.env` text into raw strings; `${VAR}` sees earlier lines, then `environ`."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise DotenvError(f".env line {i}: expected NAME=value, got {line!r}")
        name, rest = match.group(1), match.group(2)
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body = rest[1:]
            # A quoted value may span lines until the closing quote.
            while _closing_quote(body, quote) < 0 and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            end = _closing_quote(body, quote)
            if end < 0:
                raise DotenvError(f".env: unterminated {quote} quote in {name}")
            raw = body[:end]
            if quote == '"':
                raw = _unescape(raw)
                raw = _expand(raw, values, environ)
            values[name] = raw
        else:
            raw = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
            values[name] = _expand(raw, values, environ)
    return values


def _closing_quote(body: str, quote: str) -> int:
    escaped = False
    for pos, char in enumerate(body):
        if escaped:
            escaped = False
        elif char == "\\" and quote == '"':
            escaped = True
        elif char == quote:
            return pos
    return -1


def _unescape(raw: str) -> str:
    return raw.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")


def _expand(raw: str, values: Mapping[str, str], environ: Mapping[str, str] | None) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if environ is not None and name in environ:
            return environ[name]
        return values.get(name, "")

    return _VAR.sub(lookup, raw)


def read_dotenv(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read a `.env` file; a missing file is an empty environment, as in Laravel."""
    if not path.is_file():
        return {}
    return parse_dotenv(path.read_text(encoding="utf-8"), environ)


def env_value(raw: str | None) -> str | bool | None:
    """Laravel's `env()` literal conversion of one raw string."""
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "(true)"):
        return True
    if lowered in ("false", "(false)"):
        return False
    if lowered in ("null", "(null)"):
        return None
    if lowered in ("empty", "(empty)"):
        return ""
    if len(raw) > 1 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw
