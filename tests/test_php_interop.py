"""Real PHP both ways: PHP's serialize() output decodes and re-encodes to the same
bytes, and what Python encodes PHP unserialize()s and re-serialize()s unchanged."""

from __future__ import annotations

import base64
import json
import math
import random
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_php_support import CODEC_PARAMS, CODECS, Codec, assert_same, php_roundtrip, php_values, run_php

from laravel_queue.php import PhpEnum, PhpObject, PhpReference, PhpSerializable


@pytest.fixture(scope="module")
def catalog() -> dict[str, bytes]:
    entries = json.loads(run_php("codec_catalog.php"))
    return {name: base64.b64decode(b64) for name, b64 in entries.items()}


@pytest.mark.parametrize("codec", CODEC_PARAMS)
def test_php_catalog_round_trips(codec: Codec, catalog: dict[str, bytes]) -> None:
    assert len(catalog) > 90
    for name, raw in catalog.items():
        assert codec.dumps(codec.loads(raw)) == raw, name


def test_implementations_agree_on_catalog(catalog: dict[str, bytes]) -> None:
    for name, raw in catalog.items():
        decoded = [codec.loads(raw) for codec in CODECS]
        for other in decoded[1:]:
            try:
                assert_same(decoded[0], other)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None


def test_catalog_values(catalog: dict[str, bytes]) -> None:
    codec = CODECS[-1]
    value = {name: codec.loads(raw) for name, raw in catalog.items()}
    assert value["int_5"] == 2**63 - 1 and value["int_6"] == -(2**63)
    assert math.copysign(1, value["float_1"]) == -1 and math.isnan(value["float_29"])
    assert value["str_utf8"] == "héllo wörld ✓ 日本語 🎉"
    assert isinstance(value["str_binary"], bytes) and len(value["str_all_bytes"]) == 256
    assert value["arr_sparse"] == {5: "five", 9: "nine"} and value["arr_list_after_unset"] == {0: 1, 2: 3}
    assert list(value["arr_numeric_keys"])[:4] == [10, "007", -5, "-0"]
    child = value["obj_inherited_private"]
    assert next(iter(child.properties)) == "\0CodecFixtures\\ParentWithPrivate\0secret"
    assert child.secret == "parent" and child.properties["\0CodecFixtures\\ChildWithPrivate\0secret"] == "child"
    assert value["obj_serialize_int_keys"].properties == {0: "zero", 7: "seven", "k": "v"}
    assert value["obj_serializable"] == PhpSerializable("CodecFixtures\\Legacy", b'opaque } body ; with "quotes"')
    assert value["enum_int"] == PhpEnum("CodecFixtures\\Level", "High")
    shared = value["shared_object"]
    assert shared[1] is shared[0] and shared["obj"] is shared[0]
    refs = value["ref_scalar"]
    assert isinstance(refs[0], PhpReference) and refs[1] is refs[0] and refs["k"] is refs[0]
    assert value["obj_self_r"].next is value["obj_self_r"]
    graph = value["obj_graph"]
    assert graph.children[0].next is graph and graph.children[1] is graph.children[0]


# -- Python -> PHP ------------------------------------------------------------------------


def _hand_made() -> list[Any]:
    node = PhpObject("CodecFixtures\\Node", {"name": "n", "next": None, "children": []})
    node.properties["next"] = node
    box = PhpReference([1, 2])
    scalar = PhpReference("s")
    inner: list[Any] = []
    loop_box = PhpReference(inner)  # PHP: $a = []; $a[0] = &$a;
    inner.append(loop_box)
    deep: list[Any] = []
    for _ in range(4096):
        deep = [deep]
    plain = (
        PhpObject("CodecFixtures\\Plain")
        .set("a", 1)
        .set("b", "two", "protected")
        .set("c", [3], "private")
        .set("nul", None)
        .set("typed", 5)
    )
    inherited = (
        PhpObject("CodecFixtures\\ChildWithPrivate")
        .set("secret", "parent", "private", "CodecFixtures\\ParentWithPrivate")
        .set("shared", "p", "protected")
        .set("pub", "pp")
        .set("secret", "child", "private")
        .set("extra", True)
    )
    return [
        None,
        True,
        0,
        -(2**63),
        0.1,
        1e25,
        -0.0,
        math.inf,
        math.nan,
        "héllo ✓ 🎉",
        b"\x00\xff\xfe",
        "",
        [],
        [1, [2, [3]]],
        {"a": 1, 5: "five", -3: "neg", "007": "bond"},
        plain,
        inherited,
        PhpObject("CodecFixtures\\Bag", {0: "zero", 7: "seven", "k": [PhpEnum("CodecFixtures\\Suit", "Hearts")]}),
        PhpSerializable("CodecFixtures\\Legacy", b'} ; "'),
        [PhpEnum("CodecFixtures\\Mood", "Happy"), PhpEnum("CodecFixtures\\Mood", "Happy")],
        node,
        [node, node, {"again": node}],
        [box, box, scalar, {"k": scalar}],
        [loop_box],
        [PhpReference(node), node],
        PhpObject("App\\Jobs\\Unknown", {"\0*\0prot": 1, "\0App\\Jobs\\Unknown\0priv": 2, "pub": 3}),
        deep,
    ]


@pytest.mark.parametrize("codec", CODEC_PARAMS)
def test_php_reads_what_python_writes(codec: Codec) -> None:
    payloads = [codec.dumps(v) for v in _hand_made()]
    assert php_roundtrip(payloads) == payloads


def test_php_agrees_on_random_floats() -> None:
    rnd = random.Random(7)
    floats = [struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(1500)]
    floats += [rnd.uniform(-1e6, 1e6) for _ in range(500)] + [round(rnd.uniform(0, 1000), 2) for _ in range(500)]
    payloads = [CODECS[-1].dumps(floats), CODECS[0].dumps(floats)]
    assert payloads[0] == payloads[1]
    assert php_roundtrip(payloads[:1]) == payloads[:1]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(values=st.lists(php_values(for_php=True, max_leaves=8), min_size=25, max_size=25))
def test_php_reads_generated_values(values: list[Any]) -> None:
    payloads = [CODECS[0].dumps(v) for v in values]
    assert [codec.dumps(v) for codec in CODECS for v in values] == payloads * len(CODECS)
    assert php_roundtrip(payloads) == payloads


def test_depth_limit_matches_php() -> None:
    def nested(depth: int) -> bytes:
        return b"a:1:{i:0;" * depth + b"a:0:{}" + b"}" * depth

    ok, too_deep = nested(4096), nested(4097)
    assert php_roundtrip([ok, too_deep]) == [ok, None]
