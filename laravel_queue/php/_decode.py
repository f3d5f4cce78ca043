"""Pure-Python PHP unserialize(): the reference implementation and the fallback.

Iterative (an explicit stack, no recursion), so depth is bounded only by `max_depth`
and never by Python's recursion limit. Nothing named in the data is imported,
instantiated or called. Every declared length is checked against the input before
use. The C module `_speedups` mirrors this file and `_tokens` (the leaf-token
readers) token for token, including the error messages and offsets.

Slots: PHP numbers every value (not keys, not `R:`) from 1 in document order; `r:N`
and `R:N` point at those numbers. To let `R:` share a value, each slot remembers
its parent slot and key, so the first occurrence can be swapped for a PhpReference.
"""

from __future__ import annotations

from typing import Any

from ._common import DEFAULT_MAX_DEPTH, numeric_key, text, valid_class_name
from ._tokens import (
    A_HEAD,
    S_HEAD,
    class_header,
    enum_at,
    escaped_string,
    exact_string,
    expect,
    fail,
    float_at,
    int_at,
    serializable_at,
    str_at,
    to_bytes,
    uint,
)
from ._types import PhpEnum, PhpObject, PhpReference, PhpSerializable

_LIST, _DICT, _OBJ = 0, 1, 2
_NUMERIC_START = frozenset(b"-0123456789")
_BOOLS = (b"b:0;", b"b:1;")


def loads(data: bytes | bytearray | memoryview | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode one PHP-serialized value; see the package docstring for the mapping."""
    buf = to_bytes(data)
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
                    raise fail("expected '}'", pos)
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
                raise fail("unexpected end of data", pos)
            t = buf[pos]
            if t == 0x69:  # i
                key, pos = int_at(buf, pos)
            elif t == 0x73 or t == 0x53:  # s / S
                raw, pos = str_at(buf, pos) if t == 0x73 else escaped_string(buf, pos)
                key = numeric_key(raw) if fr[3] != _OBJ and raw and raw[0] in _NUMERIC_START else None
                if key is None:
                    try:
                        key = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        key = raw
            else:
                raise fail("invalid key" if fr[3] != _OBJ else "invalid property name", pos)
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
            raise fail("unexpected end of data", pos)
        t = buf[pos]
        slot = len(vals)
        if t == 0x73:  # s
            m = S_HEAD(buf, pos)  # inlined str_at: strings are most of a payload
            stop = -1
            if m is not None:
                start = m.end()
                stop = start + int(m[1])
            if stop >= 0 and buf[stop : stop + 2] == b'";':
                raw = buf[start:stop]
                pos = stop + 2
            else:
                raw, pos = exact_string(buf, pos)
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw
        elif t == 0x69:  # i
            value, pos = int_at(buf, pos)
        elif t == 0x4E:  # N
            if pos + 1 >= end or buf[pos + 1] != 0x3B:
                expect(buf, pos + 1, 0x3B)
            value = None
            pos += 2
        elif t == 0x62 and buf[pos : pos + 4] in _BOOLS:  # b:0; / b:1;
            value = buf[pos + 2] == 0x31
            pos += 4
        elif t == 0x62:  # b (malformed: the exact error)
            expect(buf, pos + 1, 0x3A)
            if pos + 2 >= end or buf[pos + 2] not in b"01":
                raise fail("invalid boolean", pos + 2)
            expect(buf, pos + 3, 0x3B)
            value = buf[pos + 2] == 0x31
            pos += 4
        elif t == 0x64:  # d
            value, pos = float_at(buf, pos)
        elif t == 0x61 or t == 0x4F:  # a / O
            if t == 0x61:
                m = A_HEAD(buf, pos)
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
                expect(buf, pos + 1, 0x3A)
                count_at = pos + 2
                obj = None
            else:
                raw_name, q = class_header(buf, pos, "class name")
                if not valid_class_name(raw_name):
                    raise fail("invalid class name", q - 1 - len(raw_name))
                expect(buf, q, 0x3A)
                count_at = q + 1
                obj = PhpObject(text(raw_name))
            count, q = uint(buf, count_at)
            expect(buf, q, 0x3A)
            expect(buf, q + 1, 0x7B)
            p = q + 2
            if count > (end - p) // 6:
                raise fail("element count exceeds input", count_at)
            if obj is None and count == 0:
                expect(buf, p, 0x7D)
                value = []
                pos = p + 1
            else:
                if max_depth and len(stack) >= max_depth:
                    raise fail(f"maximum depth of {max_depth} exceeded", pos)
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
            expect(buf, pos + 1, 0x3A)
            n, q = uint(buf, pos + 2)
            expect(buf, q, 0x3B)
            if n == 0 or n > len(vals):
                raise fail("reference to an unknown value", pos + 2)
            target = n - 1
            pos = q + 1
            if t == 0x72:
                value = vals[target]
                if not isinstance(value, (PhpObject, PhpEnum, PhpSerializable)):
                    raise fail("r: must point at an object", q - 1)
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
                    raise fail("reference to an unknown value", pos)
                if fr[3] == _LIST:
                    fr[0].append(value)
                else:
                    fr[0][key] = value
                continue
        elif t == 0x45:  # E
            value, pos = enum_at(buf, pos)
        elif t == 0x43:  # C
            value, pos = serializable_at(buf, pos)
        elif t == 0x53:  # S
            raw, pos = escaped_string(buf, pos)
            value = text(raw)
        else:
            raise fail("unknown type", pos)

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
        raise fail("unexpected data after the value", pos)
    if isinstance(result, PhpReference) and isinstance(result.value, (PhpObject, PhpEnum, PhpSerializable)):
        result = result.value  # an object's own R: needs no box at the top (keyed by the object)
    return result
