"""Pure-Python PHP unserialize(): the reference implementation and the fallback.

Iterative (an explicit stack, no recursion), so depth is bounded only by `max_depth`
and never by Python's recursion limit. Nothing named in the data is imported,
instantiated or called. Every declared length is checked against the input before
use. The C module `_speedups` mirrors this file token for token, including the
error messages and offsets.

Slots: PHP numbers every value (not keys, not `R:`) from 1 in document order; `r:N`
and `R:N` point at those numbers. To let `R:` share a value, each slot remembers
its parent slot and key, so the first occurrence can be swapped for a PhpReference.
"""

from __future__ import annotations

import re
from typing import Any

from ._common import DEFAULT_MAX_DEPTH, INT_MAX, INT_MIN, numeric_key, text, valid_class_name, valid_label
from ._errors import PhpUnserializeError
from ._types import PhpEnum, PhpObject, PhpReference, PhpSerializable

_DIGITS = re.compile(rb"[0-9]*")
_SIGNED = re.compile(rb"[+-]?[0-9]*")
_FLOAT = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = b"0123456789abcdefABCDEF"

_LIST, _DICT, _OBJ = 0, 1, 2
_MAX_DIGITS = 19

# Fast paths for the common well-formed tokens; anything they do not match goes to
# the exact, byte-by-byte parsers below, which produce the error (same as the C code).
_S_HEAD = re.compile(rb's:([0-9]{1,19}):"').match
_I_TOKEN = re.compile(rb"i:([+-]?[0-9]{1,19});").match
_A_HEAD = re.compile(rb"a:([0-9]{1,19}):\{").match
_NUMERIC_START = frozenset(b"-0123456789")
_BOOLS = (b"b:0;", b"b:1;")


def _fail(message: str, offset: int) -> PhpUnserializeError:
    return PhpUnserializeError(message, offset)


def _uint(buf: bytes, p: int) -> tuple[int, int]:
    """Unsigned decimal at p (leading zeros allowed, as PHP's uiv); returns (value, end)."""
    q = _DIGITS.match(buf, p).end()  # type: ignore[union-attr]
    if q == p:
        raise _fail("expected digits", p)
    if q - p > _MAX_DIGITS:
        raise _fail("number out of range", p)
    return int(buf[p:q]), q


def _sint(buf: bytes, p: int) -> tuple[int, int]:
    """Signed 64-bit decimal at p; out-of-range values are errors (PHP clamps with a warning)."""
    q = _SIGNED.match(buf, p).end()  # type: ignore[union-attr]
    first = p + 1 if q > p and buf[p] in b"+-" else p
    if q == first:
        raise _fail("expected digits", first)
    digits = buf[first:q].lstrip(b"0")
    if len(digits) > _MAX_DIGITS:
        raise _fail("integer out of range", p)
    value = int(buf[p:q])
    if value < INT_MIN or value > INT_MAX:
        raise _fail("integer out of range", p)
    return value, q


def _expect(buf: bytes, p: int, char: int) -> None:
    if p >= len(buf) or buf[p] != char:
        raise _fail(f"expected {chr(char)!r}", p)


def _string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """`s:<n>:"<n bytes>";` at pos (pos points at 's'); returns (raw, position after)."""
    _expect(buf, pos + 1, 0x3A)
    n, q = _uint(buf, pos + 2)
    _expect(buf, q, 0x3A)
    _expect(buf, q + 1, 0x22)
    start = q + 2
    if n > len(buf) - start:
        raise _fail("string length exceeds input", pos + 2)
    stop = start + n
    _expect(buf, stop, 0x22)
    _expect(buf, stop + 1, 0x3B)
    return buf[start:stop], stop + 2


def _str_at(buf: bytes, pos: int) -> tuple[bytes, int]:
    m = _S_HEAD(buf, pos)
    if m is not None:
        start = m.end()
        stop = start + int(m[1])
        if buf[stop : stop + 2] == b'";':
            return buf[start:stop], stop + 2
    return _string(buf, pos)


def _int_at(buf: bytes, pos: int) -> tuple[int, int]:
    m = _I_TOKEN(buf, pos)
    if m is not None:
        value = int(m[1])
        if INT_MIN <= value <= INT_MAX:
            return value, m.end()
    _expect(buf, pos + 1, 0x3A)
    value, q = _sint(buf, pos + 2)
    _expect(buf, q, 0x3B)
    return value, q + 1


def _escaped_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """`S:<n>:"..."`: the old escaped form (`\\xx` hex escapes) unserialize() still reads."""
    _expect(buf, pos + 1, 0x3A)
    n, q = _uint(buf, pos + 2)
    _expect(buf, q, 0x3A)
    _expect(buf, q + 1, 0x22)
    p = q + 2
    end = len(buf)
    if n > end - p:
        raise _fail("string length exceeds input", pos + 2)
    out = bytearray()
    for _ in range(n):
        if p >= end:
            raise _fail("truncated escaped string", p)
        c = buf[p]
        if c == 0x5C:
            if p + 2 >= end:
                raise _fail("truncated escaped string", p)
            hi, lo = buf[p + 1], buf[p + 2]
            if hi not in _HEX:
                raise _fail("invalid escape", p + 1)
            if lo not in _HEX:
                raise _fail("invalid escape", p + 2)
            out.append(int(buf[p + 1 : p + 3], 16))
            p += 3
        else:
            out.append(c)
            p += 1
    _expect(buf, p, 0x22)
    _expect(buf, p + 1, 0x3B)
    return bytes(out), p + 2


def _class_header(buf: bytes, pos: int, what: str) -> tuple[bytes, int]:
    """`X:<n>:"<name>"` at pos; returns (name, position after the closing quote)."""
    _expect(buf, pos + 1, 0x3A)
    n, q = _uint(buf, pos + 2)
    _expect(buf, q, 0x3A)
    _expect(buf, q + 1, 0x22)
    start = q + 2
    if n == 0 or n > len(buf) - start:
        raise _fail(f"invalid {what} length", pos + 2)
    stop = start + n
    _expect(buf, stop, 0x22)
    return buf[start:stop], stop + 1


def _float(buf: bytes, pos: int) -> tuple[float, int]:
    _expect(buf, pos + 1, 0x3A)
    p = pos + 2
    if buf.startswith(b"NAN;", p):
        return float("nan"), p + 4
    if buf.startswith(b"INF;", p):
        return float("inf"), p + 4
    if buf.startswith(b"-INF;", p):
        return float("-inf"), p + 5
    m = _FLOAT.match(buf, p)
    if m is None:
        raise _fail("invalid float", p)
    q = m.end()
    _expect(buf, q, 0x3B)
    return float(buf[p:q]), q + 1


def _to_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            offset = len(data[: exc.start].encode("utf-8", "surrogatepass"))
            raise _fail("input text is not valid Unicode", offset) from None
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes or str, not {type(data).__name__}")


def loads(data: bytes | bytearray | memoryview | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode one PHP-serialized value; see the package docstring for the mapping."""
    buf = _to_bytes(data)
    if max_depth < 0:
        raise ValueError("max_depth must be >= 0 (0 = unlimited)")
    end = len(buf)
    pos = 0
    vals: list[Any] = []  # slot -> value (the PhpObject for objects, the container for arrays)
    parents: list[int] = []  # slot -> parent slot (-1 = top level)
    keys: list[Any] = []  # slot -> key inside the parent
    boxes: dict[int, PhpReference] = {}
    open_slots: set[int] = set()
    # frame: [container, remaining, slot, kind, declared count]
    stack: list[list[Any]] = []
    result: Any = None

    while True:
        key: Any = None
        parent = -1
        fr: list[Any] | None = None
        if stack:
            fr = stack[-1]
            if fr[1] == 0:
                if pos >= end or buf[pos] != 0x7D:
                    raise _fail("expected '}'", pos)
                pos += 1
                stack.pop()
                slot = fr[2]
                open_slots.discard(slot)
                kind = fr[3]
                if kind == _OBJ:
                    value = vals[slot]
                else:
                    value = fr[0]
                    if kind == _DICT and len(value) < fr[4] and list(value) == list(range(len(value))):
                        value = list(value.values())  # duplicate keys collapsed it into a list
                        vals[slot] = value
                box = boxes.get(slot) if boxes else None
                if box is not None:
                    box.value = value
                    value = box
                if stack:
                    top = stack[-1]
                    if top[3] == _LIST:
                        top[0].append(value)
                    else:
                        top[0][keys[slot]] = value
                else:
                    result = value
                    break
                continue
            fr[1] -= 1
            # -- key --------------------------------------------------------------------
            if pos >= end:
                raise _fail("unexpected end of data", pos)
            t = buf[pos]
            if t == 0x69:  # i
                key, pos = _int_at(buf, pos)
            elif t == 0x73 or t == 0x53:  # s / S
                raw, pos = _str_at(buf, pos) if t == 0x73 else _escaped_string(buf, pos)
                key = numeric_key(raw) if fr[3] != _OBJ and raw and raw[0] in _NUMERIC_START else None
                if key is None:
                    try:
                        key = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        key = raw
            else:
                raise _fail("invalid key" if fr[3] != _OBJ else "invalid property name", pos)
            if fr[3] == _LIST and (type(key) is not int or key != len(fr[0])):
                d = dict(enumerate(fr[0]))
                fr[0] = d
                fr[3] = _DICT
                vals[fr[2]] = d
                if boxes and fr[2] in boxes:
                    boxes[fr[2]].value = d
            parent = fr[2]

        # -- value ------------------------------------------------------------------------
        if pos >= end:
            raise _fail("unexpected end of data", pos)
        t = buf[pos]
        slot = len(vals)
        if t == 0x73:  # s
            m = _S_HEAD(buf, pos)  # inlined _str_at: strings are most of a payload
            stop = -1
            if m is not None:
                start = m.end()
                stop = start + int(m[1])
            if stop >= 0 and buf[stop : stop + 2] == b'";':
                raw = buf[start:stop]
                pos = stop + 2
            else:
                raw, pos = _string(buf, pos)
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw
        elif t == 0x69:  # i
            value, pos = _int_at(buf, pos)
        elif t == 0x4E:  # N
            if pos + 1 >= end or buf[pos + 1] != 0x3B:
                _expect(buf, pos + 1, 0x3B)
            value = None
            pos += 2
        elif t == 0x62 and buf[pos : pos + 4] in _BOOLS:  # b:0; / b:1;
            value = buf[pos + 2] == 0x31
            pos += 4
        elif t == 0x62:  # b (malformed: the exact error)
            _expect(buf, pos + 1, 0x3A)
            if pos + 2 >= end or buf[pos + 2] not in b"01":
                raise _fail("invalid boolean", pos + 2)
            _expect(buf, pos + 3, 0x3B)
            value = buf[pos + 2] == 0x31
            pos += 4
        elif t == 0x64:  # d
            value, pos = _float(buf, pos)
        elif t == 0x61 or t == 0x4F:  # a / O
            if t == 0x61:
                m = _A_HEAD(buf, pos)
                if m is not None and m[1] == b"0" and buf[m.end() : m.end() + 1] == b"}":
                    vals.append([])  # the frequent empty array
                    parents.append(parent)
                    keys.append(key)
                    pos = m.end() + 1
                    if fr is None:
                        result = vals[slot]
                        break
                    if fr[3] == _LIST:
                        fr[0].append(vals[slot])
                    else:
                        fr[0][key] = vals[slot]
                    continue
                _expect(buf, pos + 1, 0x3A)
                count_at = pos + 2
                obj = None
            else:
                raw_name, q = _class_header(buf, pos, "class name")
                if not valid_class_name(raw_name):
                    raise _fail("invalid class name", q - 1 - len(raw_name))
                _expect(buf, q, 0x3A)
                count_at = q + 1
                obj = PhpObject(text(raw_name))
            count, q = _uint(buf, count_at)
            _expect(buf, q, 0x3A)
            _expect(buf, q + 1, 0x7B)
            p = q + 2
            if count > (end - p) // 6:
                raise _fail("element count exceeds input", count_at)
            if obj is None and count == 0:
                _expect(buf, p, 0x7D)
                value = []
                pos = p + 1
            else:
                if max_depth and len(stack) >= max_depth:
                    raise _fail(f"maximum depth of {max_depth} exceeded", pos)
                pos = p
                vals.append(obj if obj is not None else [])
                parents.append(parent)
                keys.append(key)
                open_slots.add(slot)
                if obj is not None:
                    stack.append([obj.properties, count, slot, _OBJ, count])
                else:
                    stack.append([vals[slot], count, slot, _LIST, count])
                continue
        elif t == 0x52 or t == 0x72:  # R / r
            _expect(buf, pos + 1, 0x3A)
            n, q = _uint(buf, pos + 2)
            _expect(buf, q, 0x3B)
            if n == 0 or n > len(vals):
                raise _fail("reference to an unknown value", pos + 2)
            target = n - 1
            pos = q + 1
            if t == 0x72:
                value = vals[target]
                if not isinstance(value, (PhpObject, PhpEnum, PhpSerializable)):
                    raise _fail("r: must point at an object", q - 1)
            else:
                value = boxes.get(target)
                if value is None:
                    value = PhpReference(vals[target])
                    boxes[target] = value
                    if target not in open_slots and parents[target] >= 0:
                        container = vals[parents[target]]
                        if isinstance(container, PhpObject):
                            container = container.properties
                        container[keys[target]] = value
                if fr is None:  # unreachable: a top-level R: has no slot to point at
                    raise _fail("reference to an unknown value", pos)
                if fr[3] == _LIST:
                    fr[0].append(value)
                else:
                    fr[0][key] = value
                continue
        elif t == 0x45:  # E
            raw_name, q = _class_header(buf, pos, "enum name")
            _expect(buf, q, 0x3B)
            start = q - 1 - len(raw_name)
            colon = raw_name.find(b":")
            if colon < 0:
                raise _fail("enum name without ':'", start)
            if not valid_class_name(raw_name[:colon]):
                raise _fail("invalid enum class name", start)
            if not valid_label(raw_name[colon + 1 :]):
                raise _fail("invalid enum case name", start + colon + 1)
            value = PhpEnum(text(raw_name[:colon]), text(raw_name[colon + 1 :]))
            pos = q + 1
        elif t == 0x43:  # C
            raw_name, q = _class_header(buf, pos, "class name")
            if not valid_class_name(raw_name):
                raise _fail("invalid class name", q - 1 - len(raw_name))
            _expect(buf, q, 0x3A)
            n, q2 = _uint(buf, q + 1)
            _expect(buf, q2, 0x3A)
            _expect(buf, q2 + 1, 0x7B)
            p = q2 + 2
            if n >= end - p:
                raise _fail("serialized data length exceeds input", q + 1)
            _expect(buf, p + n, 0x7D)
            value = PhpSerializable(text(raw_name), buf[p : p + n])
            pos = p + n + 1
        elif t == 0x53:  # S
            raw, pos = _escaped_string(buf, pos)
            value = text(raw)
        else:
            raise _fail("unknown type", pos)

        vals.append(value)
        parents.append(parent)
        keys.append(key)
        if fr is None:
            result = value
            break
        if fr[3] == _LIST:
            fr[0].append(value)
        else:
            fr[0][key] = value

    if pos != end:
        raise _fail("unexpected data after the value", pos)
    if isinstance(result, PhpReference) and isinstance(result.value, (PhpObject, PhpEnum, PhpSerializable)):
        result = result.value  # an object's own R: needs no box at the top (keyed by the object)
    return result
