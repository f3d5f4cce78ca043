"""Generated values round-trip; both implementations agree; phpserialize agrees where it can."""

from __future__ import annotations

import math
import struct
from typing import Any

import phpserialize
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_php_support import CODEC_PARAMS, CODECS, Codec, assert_same, fixture_payloads, php_values

from laravel_queue.php import PhpObject, _common

try:
    from laravel_queue.php import _speedups
except ImportError:  # pragma: no cover
    _speedups = None

VALUES = php_values()


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_loads_dumps_round_trip(value: Any) -> None:
    """Every implementation decodes its own output to the value, and all encode alike."""
    outputs = {}
    for codec in CODECS:
        raw = outputs[codec.name] = codec.dumps(value)
        assert_same(codec.loads(raw), value)
    assert len(set(outputs.values())) == 1, outputs


def _any_double() -> st.SearchStrategy[float]:
    bits = st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", struct.pack("<Q", b))[0])
    return st.one_of(st.floats(), bits)


@pytest.mark.skipif(_speedups is None, reason="C extension not built")
@settings(max_examples=1000, deadline=None)
@given(x=_any_double())
def test_float_text_agrees_and_round_trips(x: float) -> None:
    text = _common.php_float(x)
    assert _speedups is not None and _speedups.php_float(x) == text
    back = float(text.replace(b"INF", b"inf"))
    assert back == x or (math.isnan(x) and math.isnan(back))
    assert math.copysign(1, back) == math.copysign(1, x) or math.isnan(x)


# -- phpserialize 1.3, for the subset it understands (N b i d s a O) ----------------------


def _from_phpserialize(value: Any) -> Any:
    """phpserialize's output in this codec's canonical form."""
    if isinstance(value, bytes):
        return _common.text(value)
    if isinstance(value, dict):
        items = {(_common.text(k) if isinstance(k, bytes) else k): _from_phpserialize(v) for k, v in value.items()}
        return list(items.values()) if list(items) == list(range(len(items))) else items
    if isinstance(value, phpserialize.phpobject):
        props = {
            (_common.text(k) if isinstance(k, bytes) else k): _from_phpserialize(v)
            for k, v in value.__php_vars__.items()
        }
        return PhpObject(_common.text(value.__name__), props)
    return value


def _phpserialize_subset(text: bytes) -> bool:
    return not any(token in text for token in (b"E:", b"C:", b"r:", b"R:", b"S:"))


SUBSET = [t.encode() for _, t in fixture_payloads() if _phpserialize_subset(t.encode())]


@pytest.mark.parametrize("codec", CODEC_PARAMS)
def test_phpserialize_agrees_on_laravel_payloads(codec: Codec) -> None:
    assert len(SUBSET) > 20
    for raw in SUBSET:
        theirs = phpserialize.loads(raw, object_hook=phpserialize.phpobject)
        assert_same(codec.loads(raw), _from_phpserialize(theirs))


@settings(max_examples=150, deadline=None)
@given(value=php_values(max_leaves=15))
def test_phpserialize_agrees_on_generated_values(value: Any) -> None:
    raw = CODECS[0].dumps(value)
    if not _phpserialize_subset(raw) or b"d:NAN;" in raw:
        return
    theirs = _from_phpserialize(phpserialize.loads(raw, object_hook=phpserialize.phpobject))
    for codec in CODECS:
        assert_same(codec.loads(raw), theirs)
