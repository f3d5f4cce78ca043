"""PHP rules shared by the pure-Python encoder and decoder (the C module mirrors them)."""

from __future__ import annotations

import math
import re

DEFAULT_MAX_DEPTH = 4096  # PHP's unserialize_max_depth default
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

# ZEND_HANDLE_NUMERIC_STR: "-?(0|[1-9][0-9]*)" within zend_long, but not "-0".
_NUMERIC_KEY = re.compile(rb"-?(?:0|[1-9][0-9]{0,18})")
_NUMERIC_KEY_STR = re.compile(r"-?(?:0|[1-9][0-9]{0,18})")
# zend_is_valid_class_name(): letters, digits, "_", "\" and every byte >= 0x80.
_CLASS_NAME = re.compile(rb"[A-Za-z0-9_\\\x80-\xff]+")
_LABEL = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")


def numeric_key(raw: bytes | str) -> int | None:
    """The int PHP turns an array key string into, or None if it stays a string."""
    m = _NUMERIC_KEY.fullmatch(raw) if isinstance(raw, bytes) else _NUMERIC_KEY_STR.fullmatch(raw)
    if m is None or raw in (b"-0", "-0"):
        return None
    value = int(raw)
    return value if INT_MIN <= value <= INT_MAX else None


def valid_class_name(raw: bytes) -> bool:
    """PHP refuses to unserialize a class name with other bytes, or starting with "\\"."""
    return _CLASS_NAME.fullmatch(raw) is not None and raw[:1] != b"\\"


def valid_label(raw: bytes) -> bool:
    return _LABEL.fullmatch(raw) is not None


def text(raw: bytes) -> str | bytes:
    """PHP strings are bytes; valid UTF-8 becomes str, anything else stays bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def php_float(value: float) -> bytes:
    """Format like PHP 8 serialize() with serialize_precision = -1 (php_gcvt, mode 0).

    Python's repr() yields the same shortest round-trip digits as zend_dtoa mode 0;
    only the layout differs (PHP: "1.0E+25", "0.0001", "1.0E-5", "-0").
    """
    if value != value:
        return b"NAN"
    if math.isinf(value):
        return b"INF" if value > 0 else b"-INF"
    r = repr(value)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mantissa, _, exp = r.partition("e")
    intpart, _, frac = mantissa.partition(".")
    digits = intpart + frac
    decpt = len(intpart) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    decpt -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return (sign + "0").encode()
    if (decpt < -3) if decpt < 0 else (decpt > 17):
        e = decpt - 1
        body = f"{digits[0]}.{digits[1:] or '0'}E{'-' if e < 0 else '+'}{abs(e)}"
    elif decpt < 0:
        body = "0." + "0" * -decpt + digits
    elif decpt == 0:
        body = "0." + digits
    elif len(digits) <= decpt:
        body = digits + "0" * (decpt - len(digits))
    else:
        body = digits[:decpt] + "." + digits[decpt:]
    return (sign + body).encode()
