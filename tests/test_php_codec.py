"""Token-level behaviour of the PHP codec, run against every implementation."""

from __future__ import annotations

import math
import pickle
from collections import OrderedDict
from enum import IntEnum
from typing import Any

import pytest
from test_php_support import CODEC_PARAMS, CODECS, Codec, assert_same

import laravel_queue.php as php
from laravel_queue.php import (
    PhpEnum,
    PhpObject,
    PhpReference,
    PhpSerializable,
    PhpUnserializeError,
    demangle,
    mangle,
)

pytestmark = pytest.mark.parametrize("codec", CODEC_PARAMS)

SCALARS: list[tuple[bytes, Any]] = [
    (b"N;", None),
    (b"b:1;", True),
    (b"b:0;", False),
    (b"i:0;", 0),
    (b"i:-7;", -7),
    (b"i:9223372036854775807;", 2**63 - 1),
    (b"i:-9223372036854775808;", -(2**63)),
    (b"d:0.1;", 0.1),
    (b"d:1;", 1.0),
    (b"d:-0;", -0.0),
    (b"d:1.0E+25;", 1e25),
    (b"d:1.0E-5;", 1e-5),
    (b"d:0.0001;", 1e-4),
    (b"d:INF;", math.inf),
    (b"d:-INF;", -math.inf),
    (b"d:NAN;", math.nan),
    (b"d:5.0E-324;", 5e-324),
    (b"d:1.2345678901234568E+17;", 123456789012345678.0),
    (b's:0:"";', ""),
    (b's:5:"h\xc3\xa9ll";', "héll"),
    (b's:4:"\xf0\x9f\x8e\x89";', "🎉"),
    (b's:3:"\xff\x00\xfe";', b"\xff\x00\xfe"),
    (b's:3:"\xed\xa0\x80";', b"\xed\xa0\x80"),  # a UTF-16 surrogate is not UTF-8
    (b's:5:"a";b"";', 'a";b"'),
    (b"a:0:{}", []),
    (b"a:2:{i:0;i:1;i:1;i:2;}", [1, 2]),
    (b"a:2:{i:1;i:1;i:0;i:2;}", {1: 1, 0: 2}),
    (b'a:2:{s:1:"a";i:1;i:0;N;}', {"a": 1, 0: None}),
    (b'a:2:{i:10;s:1:"x";s:3:"007";s:1:"y";}', {10: "x", "007": "y"}),
    (b"a:1:{i:-5;b:1;}", {-5: True}),
    (b'E:9:"Foo\\A:Bar";', PhpEnum("Foo\\A", "Bar")),
    (b'C:3:"Foo":5:{a}b;c}', PhpSerializable("Foo", b"a}b;c")),
    (b'O:8:"stdClass":0:{}', PhpObject("stdClass")),
    (b'O:3:"Foo":2:{i:0;s:1:"a";i:7;s:1:"b";}', PhpObject("Foo", {0: "a", 7: "b"})),
]


@pytest.mark.parametrize(("raw", "value"), SCALARS, ids=[r.decode("latin-1") for r, _ in SCALARS])
def test_decode_and_encode(codec: Codec, raw: bytes, value: Any) -> None:
    assert_same(codec.loads(raw), value)
    assert codec.dumps(value) == raw
    assert_same(codec.loads(raw.decode("latin-1").encode("latin-1")), value)


def test_str_input_is_utf8(codec: Codec) -> None:
    assert codec.loads('s:2:"é";') == "é"
    with pytest.raises(PhpUnserializeError) as err:
        codec.loads('s:2:"é";\ud800')
    assert err.value.offset == 9  # bytes, not characters


def test_bytearray_and_memoryview_input(codec: Codec) -> None:
    assert codec.loads(bytearray(b"i:5;")) == 5
    assert codec.loads(memoryview(b"i:5;")) == 5
    with pytest.raises(TypeError):
        codec.loads(5)


def test_php_numeric_string_keys(codec: Codec) -> None:
    decoded = codec.loads(
        b'a:6:{s:1:"5";i:0;s:2:"-3";i:1;s:2:"-0";i:2;s:2:"05";i:3;'
        b's:19:"9223372036854775808";i:4;s:20:"-9223372036854775808";i:5;}'
    )
    assert list(decoded) == [5, -3, "-0", "05", "9223372036854775808", -(2**63)]
    assert codec.dumps({"5": 1, "-0": 2, "x": 3}) == b'a:3:{i:5;i:1;s:2:"-0";i:2;s:1:"x";i:3;}'
    assert codec.dumps({"0": "a", "1": "b"}) == b'a:2:{i:0;s:1:"a";i:1;s:1:"b";}'
    # property names stay strings: objects are not arrays
    assert codec.loads(b'O:1:"A":1:{s:1:"5";i:1;}').properties == {"5": 1}


def test_duplicate_keys_keep_the_last_value(codec: Codec) -> None:
    assert codec.loads(b"a:2:{i:0;i:1;i:0;i:2;}") == [2]
    assert codec.loads(b"a:3:{i:0;i:1;i:1;i:2;i:0;i:3;}") == [3, 2]
    assert codec.loads(b'a:2:{s:1:"k";i:1;s:1:"k";i:2;}') == {"k": 2}


def test_escaped_string_form(codec: Codec) -> None:
    assert codec.loads(b'S:3:"a\\62c";') == "abc"
    assert codec.loads(b'a:1:{S:1:"\\6b";i:1;}') == {"k": 1}
    assert codec.loads(b'S:1:"\\ff";') == b"\xff"


def test_encode_python_types(codec: Codec) -> None:
    class Level(IntEnum):
        HIGH = 10

    assert codec.dumps((1, "a")) == codec.dumps([1, "a"])
    assert codec.dumps(OrderedDict(a=1)) == b'a:1:{s:1:"a";i:1;}'
    assert codec.dumps(Level.HIGH) == b"i:10;"
    assert codec.dumps(bytearray(b"xy")) == b's:2:"xy";'
    assert codec.dumps({True: 1, 2: "b"}) == b'a:2:{i:1;i:1;i:2;s:1:"b";}'
    with pytest.raises(TypeError):
        codec.dumps(object())
    with pytest.raises(TypeError):
        codec.dumps({1.5: 1})
    with pytest.raises(TypeError):
        codec.dumps(PhpObject("A", {True: 1}))
    with pytest.raises(OverflowError):
        codec.dumps(2**63)
    with pytest.raises(ValueError):
        codec.dumps("\ud800")


def test_cycle_without_reference_is_refused(codec: Codec) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="circular"):
        codec.dumps(loop)
    shared = [1]
    assert codec.dumps([shared, shared]) == b"a:2:{i:0;a:1:{i:0;i:1;}i:1;a:1:{i:0;i:1;}}"


# -- references ---------------------------------------------------------------------------


def test_r_gives_the_same_object(codec: Codec) -> None:
    raw = b'a:3:{i:0;O:1:"A":0:{}i:1;r:2;i:2;a:1:{i:0;r:2;}}'
    value = codec.loads(raw)
    assert value[1] is value[0] and value[2][0] is value[0]
    assert codec.dumps(value) == raw


def test_R_shares_one_php_reference(codec: Codec) -> None:
    raw = b"a:3:{i:0;i:1;i:1;R:2;i:2;i:1;}"
    value = codec.loads(raw)
    assert isinstance(value[0], PhpReference) and value[1] is value[0] and value[0].value == 1
    assert value[2] == 1
    assert codec.dumps(value) == raw


def test_self_references(codec: Codec) -> None:
    obj = codec.loads(b'O:1:"A":1:{s:4:"self";r:1;}')
    assert obj.self is obj
    ref = codec.loads(b'O:1:"A":1:{s:4:"self";R:1;}')
    assert isinstance(ref, PhpObject) and ref.self.value is ref
    arr = codec.loads(b'a:1:{s:2:"me";a:1:{s:2:"me";R:2;}}')
    inner = arr["me"]
    assert isinstance(inner, PhpReference) and inner.value["me"] is inner
    # not something PHP writes, but accepted: the top-level array itself becomes the reference
    top = codec.loads(b"a:1:{i:0;R:1;}")
    assert isinstance(top, PhpReference) and top.value[0] is top
    for raw in (
        b'O:1:"A":1:{s:4:"self";r:1;}',
        b'O:1:"A":1:{s:4:"self";R:1;}',
        b'a:1:{s:2:"me";a:1:{s:2:"me";R:2;}}',
        b"a:1:{i:0;R:1;}",
    ):
        assert codec.dumps(codec.loads(raw)) == raw


def test_reference_to_array_being_built_that_turns_into_a_dict(codec: Codec) -> None:
    raw = b'a:2:{i:0;a:2:{i:0;R:2;s:1:"k";i:1;}i:1;i:2;}'
    value = codec.loads(raw)
    box = value[0]
    assert isinstance(box.value, dict) and box.value[0] is box
    assert codec.dumps(value) == raw


def test_slot_numbers_count_r_but_not_R(codec: Codec) -> None:
    raw = b'a:4:{i:0;O:1:"A":0:{}i:1;r:2;i:2;s:1:"x";i:3;R:4;}'
    value = codec.loads(raw)
    assert value[3] is value[2] and value[2].value == "x"
    assert codec.dumps(value) == raw


def test_building_references_for_dumps(codec: Codec) -> None:
    node = PhpObject("Node", {"name": "n"})
    shared = PhpReference("s")
    assert codec.dumps([node, node, shared, shared]) == (
        b'a:4:{i:0;O:4:"Node":1:{s:4:"name";s:1:"n";}i:1;r:2;i:2;s:1:"s";i:3;R:5;}'
    )
    assert codec.dumps([PhpEnum("S", "A"), PhpEnum("S", "A")]) == b'a:2:{i:0;E:3:"S:A";i:1;r:2;}'
    with pytest.raises(ValueError):
        codec.dumps(PhpReference(PhpReference(1)))


# -- errors -------------------------------------------------------------------------------

MALFORMED: list[tuple[bytes, int]] = [
    (b"", 0),
    (b"x", 0),
    (b"i:", 2),
    (b"i:1", 3),
    (b"i:+;", 3),
    (b"i:99999999999999999999;", 2),
    (b"i:9223372036854775808;", 2),
    (b"b:2;", 2),
    (b"N", 1),
    (b"d:;", 2),
    (b"d:1e;", 3),
    (b"d:NAN", 2),
    (b"d:-NAN;", 2),
    (b"d:1_0;", 3),
    (b's:5:"abc";', 10),
    (b's:50:"abc";', 2),
    (b's:1:"ab";', 6),
    (b"s:1:'a';", 4),
    (b's:99999999999999999999:"a";', 2),
    (b"a:1:{", 2),
    (b"a:1:{i:0;i:1;", 13),
    (b"a:2:{i:0;i:1;}", 2),
    (b"a:1:{d:1;i:1;}", 5),
    (b"a:1:{N;i:1;}", 5),
    (b"a:1:{i:0;i:1;]", 13),
    (b"a:999999999:{}", 2),
    (b'O:0:"":0:{}', 2),
    (b'O:3:"a-b":0:{}', 5),
    (b'O:2:"\\A":0:{}', 5),
    (b'O:1:"A":1:{N;N;}', 8),
    (b'O:1:"A":1:{N;N;      }', 11),
    (b'O:1:"A":0:{', 11),
    (b'C:1:"A":5:{ab}', 8),
    (b'C:1:"A":1:{ab}', 12),
    (b'E:2:"AB";', 5),
    (b'E:2:":B";', 5),
    (b'E:2:"A:";', 7),
    (b"r:1;", 2),
    (b"R:1;", 2),
    (b"a:1:{i:0;r:1;}", 11),
    (b"a:1:{i:0;R:5;}", 11),
    (b"a:1:{i:0;r:0;}", 11),
    (b"a:1:{R:1;i:0;}", 5),
    (b'S:2:"\\6";', 7),
    (b'S:1:"\\zz";', 6),
    (b"i:1;i:2;", 4),
    (b"i:1; ", 4),
]


@pytest.mark.parametrize(("raw", "offset"), MALFORMED, ids=[r.decode("latin-1") for r, _ in MALFORMED])
def test_malformed_input_raises_with_offset(codec: Codec, raw: bytes, offset: int) -> None:
    with pytest.raises(PhpUnserializeError) as err:
        codec.loads(raw)
    assert err.value.offset == offset, str(err.value)
    assert isinstance(err.value, ValueError) and f"offset {offset}" in str(err.value)


def test_error_pickles(codec: Codec) -> None:
    with pytest.raises(PhpUnserializeError) as err:
        codec.loads(b"i:x;")
    clone = pickle.loads(pickle.dumps(err.value))
    assert clone.offset == err.value.offset and str(clone) == str(err.value)


def _nested(depth: int) -> bytes:
    return b"a:1:{i:0;" * depth + b"a:0:{}" + b"}" * depth


def test_depth_limit_like_php(codec: Codec) -> None:
    value = codec.loads(_nested(4096))
    assert codec.dumps(value) == _nested(4096)
    with pytest.raises(PhpUnserializeError, match="maximum depth of 4096"):
        codec.loads(_nested(4097))
    with pytest.raises(PhpUnserializeError) as err:
        codec.loads(_nested(11), max_depth=10)
    assert err.value.offset == 10 * len(b"a:1:{i:0;")
    objects = b'O:1:"A":1:{i:0;' * 3 + b'O:1:"A":0:{}' + b"}" * 3
    codec.loads(objects, max_depth=4)
    with pytest.raises(PhpUnserializeError):
        codec.loads(objects, max_depth=3)
    with pytest.raises(ValueError):
        codec.loads(b"N;", max_depth=-1)


def test_unlimited_depth_has_no_recursion_error(codec: Codec) -> None:
    deep = _nested(200_000)
    value = codec.loads(deep, max_depth=0)
    assert codec.dumps(value) == deep


def test_huge_declared_lengths_do_not_allocate(codec: Codec) -> None:
    for raw in (b"a:9223372036854775807:{", b's:9223372036854775807:"', b'O:1:"A":4611686018427387904:{'):
        with pytest.raises(PhpUnserializeError):
            codec.loads(raw)


# -- floats -------------------------------------------------------------------------------

FLOATS = [
    (0.0, b"0"),
    (-0.0, b"-0"),
    (0.1, b"0.1"),
    (1.0, b"1"),
    (-1.5, b"-1.5"),
    (100.0, b"100"),
    (1e15, b"1000000000000000"),
    (1e16, b"10000000000000000"),
    (1e17, b"1.0E+17"),
    (1e25, b"1.0E+25"),
    (1e-4, b"0.0001"),
    (1e-5, b"1.0E-5"),
    (1.5e-10, b"1.5E-10"),
    (0.30000000000000004, b"0.30000000000000004"),
    (2.0**63, b"9.223372036854776E+18"),
    (1.7976931348623157e308, b"1.7976931348623157E+308"),
    (2.2250738585072014e-308, b"2.2250738585072014E-308"),
    (5e-324, b"5.0E-324"),
    (123456.789, b"123456.789"),
    (math.inf, b"INF"),
    (-math.inf, b"-INF"),
    (math.nan, b"NAN"),
]


@pytest.mark.parametrize(("value", "text"), FLOATS, ids=[t.decode() for _, t in FLOATS])
def test_float_text_matches_php(codec: Codec, value: float, text: bytes) -> None:
    assert codec.dumps(value) == b"d:" + text + b";"
    assert_same(codec.loads(b"d:" + text + b";"), value)


def test_float_text_accepts_php_grammar(codec: Codec) -> None:
    assert codec.loads(b"d:.5;") == 0.5
    assert codec.loads(b"d:5.;") == 5.0
    assert codec.loads(b"d:+5e+3;") == 5000.0
    assert codec.loads(b"d:1E400;") == math.inf
    assert codec.loads(b"d:-7;") == -7.0


# -- PhpObject API ------------------------------------------------------------------------


def test_php_object_visibility_api(codec: Codec) -> None:
    job = PhpObject("App\\Jobs\\Foo", {"queue": "emails"})
    job.set("secret", 3, "private").set("tries", 5, "protected")
    job.set("secret", "base", "private", declaring_class="App\\Jobs\\Base")
    assert list(job.properties) == [
        "queue",
        "\0App\\Jobs\\Foo\0secret",
        "\0*\0tries",
        "\0App\\Jobs\\Base\0secret",
    ]
    assert job.secret == 3 and job["tries"] == 5 and job.get("missing", "d") == "d"
    assert job.visibility("tries") == "protected" and job.visibility("queue") == "public"
    job.tries = 6  # keeps protected
    job["new"] = True  # public
    assert job.properties["\0*\0tries"] == 6 and job.properties["new"] is True
    assert job.mangled_names() == {
        "queue": "queue",
        "secret": "\0App\\Jobs\\Foo\0secret",
        "tries": "\0*\0tries",
        "new": "new",
    }
    assert job.to_dict()["secret"] == 3 and "tries" in job and "nope" not in job
    del job.new
    raw = codec.dumps(job)
    assert raw.startswith(b'O:12:"App\\Jobs\\Foo":4:{s:5:"queue";s:6:"emails";s:20:"\0App\\Jobs\\Foo\0secret";i:3;')
    assert codec.loads(raw) == job
    with pytest.raises(AttributeError):
        _ = job.nope
    with pytest.raises(KeyError):
        _ = job["nope"]


def test_mangle_helpers(codec: Codec) -> None:
    assert mangle("a") == "a" and mangle("a", "protected") == "\0*\0a"
    assert mangle("a", "private", "Foo") == "\0Foo\0a"
    assert demangle("\0Foo\0a") == ("a", "private", "Foo")
    assert demangle(b"\0*\0a") == (b"a", "protected", None)
    assert demangle(3) == (3, "public", None)
    with pytest.raises(ValueError):
        mangle("a", "private")


def test_value_types_behave(codec: Codec) -> None:
    obj = PhpObject("A", {"x": [1]})
    assert obj == PhpObject("A", {"x": [1]}) and obj != PhpObject("B", {"x": [1]})
    assert PhpObject("A", {"a": 1, "b": 2}) != PhpObject("A", {"b": 2, "a": 1})  # order is data
    assert pickle.loads(pickle.dumps(obj)) == obj
    assert "PhpObject('A'" in repr(obj)
    assert hash(PhpEnum("A", "B")) == hash(PhpEnum("A", "B"))
    loop = codec.loads(b'O:1:"A":1:{s:1:"s";r:1;}')
    assert "..." in repr(loop)


def test_public_entry_points_use_the_fastest_codec(codec: Codec) -> None:
    assert CODECS[-1].name == php.IMPLEMENTATION
    assert php.loads(b"i:1;") == 1 and php.dumps([1]) == b"a:1:{i:0;i:1;}"
    assert php.php_float(1e25) == b"1.0E+25"
