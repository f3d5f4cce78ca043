"""Small PHP behaviours several parts need identically: `Str::random` and string conversion."""

from __future__ import annotations

import math
import secrets
import string
from typing import Any

_ALPHANUMERIC = string.ascii_letters + string.digits


def str_random(length: int = 16) -> str:
    """Laravel's `Str::random()`: lock owners (16) and Redis payload ids (32)."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def php_float_to_string(value: float) -> str:
    """PHP's `(string) $float` (ini `precision` 14): `1`, `0.1`, `1.0E+25`, `INF`, `NAN`."""
    if not math.isfinite(value):
        return "NAN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
    text = f"{value:.14G}"
    if "E" in text:
        mantissa, exponent = text.split("E")
        if "." not in mantissa:
            mantissa += ".0"
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}E{sign}{int(exponent.lstrip('+-'))}"
    return text


def php_string(value: Any) -> str:
    """PHP's string conversion of a scalar (`true` -> "1", `null`/`false` -> "")."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return php_float_to_string(value)
    return str(value)
