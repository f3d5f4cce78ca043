"""Pure-Python PHP serialize(): the reference implementation and the fallback.

Iterative like the decoder. Slot numbering and the choice between `r:` and `R:`
follow php_add_var_hash() in ext/standard/var.c, so a decoded PHP string re-encodes
to the same bytes:

* every value written counts one slot, except an `R:` (references count once);
* an object (PhpObject, PhpSerializable; a PhpEnum by class and case, enum cases
  being singletons) seen again is written `r:N`;
* a PhpReference seen again is written `R:N`; a reference *to an object* is keyed
  by the object, so an object first written plainly and met again through a
  reference is written `R:N` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import INT_MAX, INT_MIN, numeric_key, php_float
from ._types import PhpEnum, PhpObject, PhpReference, PhpSerializable

_ROOT, _LIST, _DICT, _OBJ = 0, 1, 2, 3
_END: Any = object()
_CYCLE = "circular structure without a PhpReference or PhpObject in the cycle"


def _text(value: str | bytes, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _int(value: int) -> bytes:
    if value < INT_MIN or value > INT_MAX:
        raise OverflowError(f"{value} does not fit PHP's 64-bit int")
    return b"i:%d;" % value


def _array_key(key: Any) -> bytes:
    if isinstance(key, int):  # bool included, as PHP casts true/false to 1/0
        return _int(int(key))
    if isinstance(key, (str, bytes)):
        as_int = numeric_key(key)
        if as_int is not None:
            return b"i:%d;" % as_int
        raw = _text(key, "array key")
        return b's:%d:"%s";' % (len(raw), raw)
    raise TypeError(f"PHP array keys must be int, str or bytes, not {type(key).__name__}")


def _property_key(key: Any) -> bytes:
    if isinstance(key, int) and not isinstance(key, bool):
        return _int(key)
    if isinstance(key, (str, bytes)):
        raw = _text(key, "property name")
        return b's:%d:"%s";' % (len(raw), raw)
    raise TypeError(f"PHP property names must be str, bytes or int, not {type(key).__name__}")


def _identity(value: Any) -> Any:
    """The var_hash key PHP would use for an object value (enums by case)."""
    if isinstance(value, PhpEnum):
        return ("enum", value.class_name, value.case)
    return id(value)


def dumps(value: Any) -> bytes:
    """Encode a Python value as PHP serialize() would; see the package docstring for the mapping."""
    out = bytearray()
    n = 0
    seen: dict[Any, int] = {}
    active: set[int] = set()  # plain containers being written: a cycle through them has no PHP form
    stack: list[list[Any]] = [[iter((value,)), _ROOT, 0]]
    while stack:
        fr = stack[-1]
        item = next(fr[0], _END)
        if item is _END:
            stack.pop()
            if fr[1] != _ROOT:
                out += b"}"
                active.discard(fr[2])
            continue
        kind = fr[1]
        if kind == _ROOT:
            v = item
        else:
            k, v = item
            if kind == _LIST:
                out += b"i:%d;" % k
            elif kind == _DICT:
                out += _array_key(k)
            else:
                out += _property_key(k)

        n += 1
        t = type(v)
        if t is str:
            raw = v.encode("utf-8")
            out += b's:%d:"' % len(raw)
            out += raw
            out += b'";'
            continue
        if t is int:
            out += _int(v)
            continue
        if v is None:
            out += b"N;"
            continue
        if t is bool:
            out += b"b:1;" if v else b"b:0;"
            continue
        if t is float:
            out += b"d:" + php_float(v) + b";"
            continue
        if t is list or t is dict:
            ident = id(v)
            if ident in active:
                raise ValueError(_CYCLE)
            active.add(ident)
            out += b"a:%d:{" % len(v)
            stack.append([enumerate(v) if t is list else iter(v.items()), _LIST if t is list else _DICT, ident])
            continue
        if t is bytes:
            out += b's:%d:"' % len(v)
            out += v
            out += b'";'
            continue

        boxed = False
        if t is PhpReference:
            inner = v.value
            if isinstance(inner, PhpReference):
                raise ValueError("a PhpReference cannot hold another PhpReference")
            ident = _identity(inner) if isinstance(inner, (PhpObject, PhpEnum, PhpSerializable)) else id(v)
            slot = seen.get(ident)
            if slot is not None:
                n -= 1
                out += b"R:%d;" % slot
                continue
            seen[ident] = n
            v = inner
            boxed = True

        if isinstance(v, (PhpObject, PhpEnum, PhpSerializable)):
            if not boxed:
                ident = _identity(v)
                slot = seen.get(ident)
                if slot is not None:
                    out += b"r:%d;" % slot
                    continue
                seen[ident] = n
            if isinstance(v, PhpObject):
                name = _text(v.class_name, "class name")
                props = v.properties
                if not isinstance(props, dict):
                    raise TypeError("PhpObject.properties must be a dict")
                out += b'O:%d:"%s":%d:{' % (len(name), name, len(props))
                stack.append([iter(props.items()), _OBJ, 0])
            elif isinstance(v, PhpEnum):
                name = _text(v.class_name, "enum class name") + b":" + _text(v.case, "enum case")
                out += b'E:%d:"%s";' % (len(name), name)
            else:
                name = _text(v.class_name, "class name")
                data = _text(v.data, "Serializable data")
                out += b'C:%d:"%s":%d:{%s}' % (len(name), name, len(data), data)
            continue
        _scalar_or_container(v, out, stack, active)
    return bytes(out)


def _scalar_or_container(v: Any, out: bytearray, stack: list[list[Any]], active: set[int]) -> None:
    """Subclasses and other containers (tuple, Mapping, IntEnum, StrEnum, bytearray...)."""
    if v is None:
        out += b"N;"
    elif isinstance(v, bool):
        out += b"b:1;" if v else b"b:0;"
    elif isinstance(v, int):
        out += _int(int(v))
    elif isinstance(v, float):
        out += b"d:" + php_float(float(v)) + b";"
    elif isinstance(v, (str, bytes, bytearray, memoryview)):
        raw = str.encode(v, "utf-8") if isinstance(v, str) else bytes(v)
        out += b's:%d:"' % len(raw)
        out += raw
        out += b'";'
    elif isinstance(v, (list, tuple, dict, Mapping)):
        ident = id(v)
        if ident in active:
            raise ValueError(_CYCLE)
        active.add(ident)
        if isinstance(v, (list, tuple)):
            out += b"a:%d:{" % len(v)
            stack.append([enumerate(v), _LIST, ident])
        else:
            items = list(v.items())
            out += b"a:%d:{" % len(items)
            stack.append([iter(items), _DICT, ident])
    else:
        raise TypeError(f"cannot serialize {type(v).__name__} for PHP")
