"""Readers for the leaf tokens of PHP's serialize format, for the pure-Python decoder.

Each reader takes the input and the offset of one token (`s:`, `i:`, `d:`, `S:`, `E:`,
`C:`, a class header, a bare number) and returns its value and the offset after it,
or raises PhpUnserializeError with PHP's offset. They hold no state, so they live
apart from `_decode`, which walks the document (slots, references, containers).
Like `_decode`, nothing here imports, instantiates or calls anything named in the data:
`E:` and `C:` become inert PhpEnum / PhpSerializable values.
"""

from __future__ import annotations

import re
from typing import Any

from ._common import INT_MAX, INT_MIN, text, valid_class_name, valid_label
from ._errors import PhpUnserializeError
from ._types import PhpEnum, PhpSerializable

_DIGITS = re.compile(rb"[0-9]*")
_SIGNED = re.compile(rb"[+-]?[0-9]*")
_FLOAT = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = b"0123456789abcdefABCDEF"
_MAX_DIGITS = 19

# Fast paths for the common well-formed tokens; anything they do not match goes to
# the exact, byte-by-byte parsers below, which produce the error (same as the C code).
S_HEAD = re.compile(rb's:([0-9]{1,19}):"').match
I_TOKEN = re.compile(rb"i:([+-]?[0-9]{1,19});").match
A_HEAD = re.compile(rb"a:([0-9]{1,19}):\{").match


def fail(message: str, offset: int) -> PhpUnserializeError:
    return PhpUnserializeError(message, offset)


def uint(buf: bytes, p: int) -> tuple[int, int]:
    """Unsigned decimal at p (leading zeros allowed, as PHP's uiv); returns (value, end)."""
    q = _DIGITS.match(buf, p).end()  # type: ignore[union-attr]
    if q == p:
        raise fail("expected digits", p)
    if q - p > _MAX_DIGITS:
        raise fail("number out of range", p)
    return int(buf[p:q]), q


def sint(buf: bytes, p: int) -> tuple[int, int]:
    """Signed 64-bit decimal at p; out-of-range values are errors (PHP clamps with a warning)."""
    q = _SIGNED.match(buf, p).end()  # type: ignore[union-attr]
    first = p + 1 if q > p and buf[p] in b"+-" else p
    if q == first:
        raise fail("expected digits", first)
    digits = buf[first:q].lstrip(b"0")
    if len(digits) > _MAX_DIGITS:
        raise fail("integer out of range", p)
    value = int(buf[p:q])
    if value < INT_MIN or value > INT_MAX:
        raise fail("integer out of range", p)
    return value, q


def expect(buf: bytes, p: int, char: int) -> None:
    if p >= len(buf) or buf[p] != char:
        raise fail(f"expected {chr(char)!r}", p)


def exact_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """`s:<n>:"<n bytes>";` at pos (pos points at 's'); returns (raw, position after)."""
    expect(buf, pos + 1, 0x3A)
    n, q = uint(buf, pos + 2)
    expect(buf, q, 0x3A)
    expect(buf, q + 1, 0x22)
    start = q + 2
    if n > len(buf) - start:
        raise fail("string length exceeds input", pos + 2)
    stop = start + n
    expect(buf, stop, 0x22)
    expect(buf, stop + 1, 0x3B)
    return buf[start:stop], stop + 2


def str_at(buf: bytes, pos: int) -> tuple[bytes, int]:
    m = S_HEAD(buf, pos)
    if m is not None:
        start = m.end()
        stop = start + int(m[1])
        if buf[stop : stop + 2] == b'";':
            return buf[start:stop], stop + 2
    return exact_string(buf, pos)


def int_at(buf: bytes, pos: int) -> tuple[int, int]:
    m = I_TOKEN(buf, pos)
    if m is not None:
        value = int(m[1])
        if INT_MIN <= value <= INT_MAX:
            return value, m.end()
    expect(buf, pos + 1, 0x3A)
    value, q = sint(buf, pos + 2)
    expect(buf, q, 0x3B)
    return value, q + 1


def escaped_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """`S:<n>:"..."`: the old escaped form (`\\xx` hex escapes) unserialize() still reads."""
    expect(buf, pos + 1, 0x3A)
    n, q = uint(buf, pos + 2)
    expect(buf, q, 0x3A)
    expect(buf, q + 1, 0x22)
    p = q + 2
    end = len(buf)
    if n > end - p:
        raise fail("string length exceeds input", pos + 2)
    out = bytearray()
    for _ in range(n):
        if p >= end:
            raise fail("truncated escaped string", p)
        c = buf[p]
        if c == 0x5C:
            if p + 2 >= end:
                raise fail("truncated escaped string", p)
            hi, lo = buf[p + 1], buf[p + 2]
            if hi not in _HEX:
                raise fail("invalid escape", p + 1)
            if lo not in _HEX:
                raise fail("invalid escape", p + 2)
            out.append(int(buf[p + 1 : p + 3], 16))
            p += 3
        else:
            out.append(c)
            p += 1
    expect(buf, p, 0x22)
    expect(buf, p + 1, 0x3B)
    return bytes(out), p + 2


def class_header(buf: bytes, pos: int, what: str) -> tuple[bytes, int]:
    """`X:<n>:"<name>"` at pos; returns (name, position after the closing quote)."""
    expect(buf, pos + 1, 0x3A)
    n, q = uint(buf, pos + 2)
    expect(buf, q, 0x3A)
    expect(buf, q + 1, 0x22)
    start = q + 2
    if n == 0 or n > len(buf) - start:
        raise fail(f"invalid {what} length", pos + 2)
    stop = start + n
    expect(buf, stop, 0x22)
    return buf[start:stop], stop + 1


def float_at(buf: bytes, pos: int) -> tuple[float, int]:
    expect(buf, pos + 1, 0x3A)
    p = pos + 2
    if buf.startswith(b"NAN;", p):
        return float("nan"), p + 4
    if buf.startswith(b"INF;", p):
        return float("inf"), p + 4
    if buf.startswith(b"-INF;", p):
        return float("-inf"), p + 5
    m = _FLOAT.match(buf, p)
    if m is None:
        raise fail("invalid float", p)
    q = m.end()
    expect(buf, q, 0x3B)
    return float(buf[p:q]), q + 1


def enum_at(buf: bytes, pos: int) -> tuple[PhpEnum, int]:
    """`E:<n>:"Class:Case";`: the names are checked and kept as text, never resolved."""
    raw_name, q = class_header(buf, pos, "enum name")
    expect(buf, q, 0x3B)
    start = q - 1 - len(raw_name)
    colon = raw_name.find(b":")
    if colon < 0:
        raise fail("enum name without ':'", start)
    if not valid_class_name(raw_name[:colon]):
        raise fail("invalid enum class name", start)
    if not valid_label(raw_name[colon + 1 :]):
        raise fail("invalid enum case name", start + colon + 1)
    return PhpEnum(text(raw_name[:colon]), text(raw_name[colon + 1 :])), q + 1


def serializable_at(buf: bytes, pos: int) -> tuple[PhpSerializable, int]:
    """`C:<n>:"Class":<len>:{<body>}`: the body is kept opaque, as bytes."""
    end = len(buf)
    raw_name, q = class_header(buf, pos, "class name")
    if not valid_class_name(raw_name):
        raise fail("invalid class name", q - 1 - len(raw_name))
    expect(buf, q, 0x3A)
    n, q2 = uint(buf, q + 1)
    expect(buf, q2, 0x3A)
    expect(buf, q2 + 1, 0x7B)
    p = q2 + 2
    if n >= end - p:
        raise fail("serialized data length exceeds input", q + 1)
    expect(buf, p + n, 0x7D)
    return PhpSerializable(text(raw_name), buf[p : p + n]), p + n + 1


def to_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            offset = len(data[: exc.start].encode("utf-8", "surrogatepass"))
            raise fail("input text is not valid Unicode", offset) from None
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes or str, not {type(data).__name__}")
