"""Shared helpers for the PHP codec tests (no tests here).

`CODECS` lists the implementations to run every test against: the pure-Python
reference always, the C extension when it was built.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import string
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from laravel_queue.php import PhpEnum, PhpObject, PhpReference, PhpSerializable, _decode, _encode
from laravel_queue.php._common import numeric_key

try:
    from laravel_queue.php import _speedups
except ImportError:  # pragma: no cover - depends on the build
    _speedups = None

ROOT = Path(__file__).resolve().parent.parent
LARAVEL_FIXTURES = ROOT / "fixtures" / "laravel"
PHP_FIXTURES = ROOT / "php-fixtures"


class Codec:
    def __init__(self, name: str, loads: Any, dumps: Any) -> None:
        self.name = name
        self.loads = loads
        self.dumps = dumps

    def __repr__(self) -> str:
        return self.name


PYTHON = Codec("python", _decode.loads, _encode.dumps)
C = Codec("c", _speedups.loads, _speedups.dumps) if _speedups is not None else None
CODECS = [PYTHON] + ([C] if C is not None else [])
CODEC_PARAMS = [pytest.param(c, id=c.name) for c in CODECS]


def php_binary() -> str:
    """php-cli, or skip (fail under CI=true, where nothing may be skipped silently)."""
    binary = shutil.which("php")
    if not binary:
        message = "php is not installed (apt-get install php-cli)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


def run_php(script: str, stdin: str = "") -> str:
    proc = subprocess.run(
        [php_binary(), "-d", "display_errors=stderr", str(PHP_FIXTURES / script)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"{script} failed: {proc.stderr}"
    return proc.stdout


def php_roundtrip(payloads: list[bytes]) -> list[bytes | None]:
    """unserialize() + serialize() each payload in real PHP (None where PHP refused it)."""
    out = json.loads(run_php("codec_roundtrip.php", json.dumps([base64.b64encode(p).decode() for p in payloads])))
    return [None if item is None else base64.b64decode(item) for item in out]


def _looks_serialized(text: str) -> bool:
    return len(text) > 3 and text[1] == ":" and text[0] in "aOCE" and text[-1] in "};"


def fixture_payloads() -> list[tuple[str, str]]:
    """Every PHP-serialized string Laravel wrote into fixtures/laravel (commands, options...).

    Envelopes (JSON job payloads) are opened to reach `data.command`; the
    encrypted command is skipped (the encrypter is not the codec's business).
    """
    found: dict[str, str] = {}

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                visit(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, f"{where}[{index}]")
        elif isinstance(node, str):
            if node.startswith('{"uuid"'):
                visit(json.loads(node), f"{where}<json>")
            elif _looks_serialized(node):
                found.setdefault(node, where)

    for path in sorted(LARAVEL_FIXTURES.glob("*/*.json")):
        visit(json.loads(path.read_text(encoding="utf-8")), str(path.relative_to(LARAVEL_FIXTURES)))
    return [(where, text) for text, where in found.items()]


def nested_serialized(value: Any) -> Iterator[str]:
    """PHP-serialized strings stored inside a decoded value (chained jobs, closures)."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, str):
            if _looks_serialized(node):
                yield node
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, PhpObject):
            stack.extend(node.properties.values())
        elif isinstance(node, PhpReference):
            stack.append(node.value)


def assert_same(a: Any, b: Any) -> None:
    """Deep, iterative equality that also checks types, float signs/NaN and sharing.

    Sharing: a node met twice on one side must correspond to one node on the other
    (so r:/R: structure, cycles included, is compared, and depth is unbounded).
    """
    pairs: dict[int, int] = {}
    reverse: dict[int, int] = {}
    stack: list[tuple[Any, Any, str]] = [(a, b, "$")]
    while stack:
        x, y, path = stack.pop()
        assert type(x) is type(y), f"{path}: {type(x).__name__} != {type(y).__name__}"
        if isinstance(x, float):
            if math.isnan(x):
                assert math.isnan(y), path
            else:
                assert x == y and math.copysign(1, x) == math.copysign(1, y), f"{path}: {x!r} != {y!r}"
            continue
        if not isinstance(x, (list, dict, PhpObject, PhpReference, PhpSerializable)):
            assert x == y, f"{path}: {x!r} != {y!r}"  # PhpEnum too: cases are singletons in PHP
            continue
        if id(x) in pairs or id(y) in reverse:
            assert pairs.get(id(x)) == id(y) and reverse.get(id(y)) == id(x), f"{path}: sharing differs"
            continue
        pairs[id(x)] = id(y)
        reverse[id(y)] = id(x)
        if isinstance(x, list):
            assert len(x) == len(y), f"{path}: length {len(x)} != {len(y)}"
            stack.extend((p, q, f"{path}[{i}]") for i, (p, q) in enumerate(zip(x, y, strict=True)))
        elif isinstance(x, dict):
            assert list(x) == list(y), f"{path}: keys {list(x)!r} != {list(y)!r}"
            stack.extend((x[k], y[k], f"{path}[{k!r}]") for k in x)
        elif isinstance(x, PhpObject):
            assert x.class_name == y.class_name, f"{path}: class {x.class_name!r} != {y.class_name!r}"
            assert list(x.properties) == list(y.properties), f"{path}: properties differ"
            stack.extend((x.properties[k], y.properties[k], f"{path}->{k!r}") for k in x.properties)
        elif isinstance(x, PhpReference):
            stack.append((x.value, y.value, f"{path}&"))
        else:
            assert x == y, f"{path}: {x!r} != {y!r}"


# -- hypothesis strategies ------------------------------------------------------------------

INT64 = st.integers(-(2**63), 2**63 - 1)
ARRAY_KEYS = st.one_of(INT64, st.text(max_size=8).filter(lambda k: numeric_key(k) is None))
# bytes that are never valid UTF-8 (0xff cannot occur in UTF-8), so they decode back to bytes
BINARY = st.binary(max_size=16).map(lambda b: b + b"\xff")
_IDENT = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=10)
CLASS_NAMES = _IDENT.map(lambda name: "Rnd\\" + name)
PHP_ENUMS = st.sampled_from(
    [
        PhpEnum("CodecFixtures\\Suit", "Hearts"),
        PhpEnum("CodecFixtures\\Suit", "Spades"),
        PhpEnum("CodecFixtures\\Level", "High"),
        PhpEnum("CodecFixtures\\Mood", "Grumpy"),
    ]
)


def _not_list_shaped(d: dict[Any, Any]) -> bool:
    return list(d) != list(range(len(d)))


def php_values(for_php: bool = False, max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Values in the codec's canonical form, so loads(dumps(v)) must equal v.

    With `for_php`, only what real PHP re-serializes unchanged: enums and the
    Serializable class defined in php-fixtures/codec_classes.php, int property keys
    only on the __serialize class, unknown classes (kept as incomplete objects).
    """
    enums = PHP_ENUMS if for_php else st.builds(PhpEnum, CLASS_NAMES, _IDENT)
    legacy_class = st.just("CodecFixtures\\Legacy") if for_php else CLASS_NAMES
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        INT64,
        st.floats(),
        st.text(max_size=20),
        BINARY,
        enums,
        st.builds(PhpSerializable, legacy_class, st.binary(max_size=12)),
    )
    prop_keys = st.text(max_size=8) if for_php else st.one_of(st.text(max_size=8), INT64)

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(ARRAY_KEYS, children, min_size=1, max_size=5).filter(_not_list_shaped),
            st.builds(PhpObject, CLASS_NAMES, st.dictionaries(prop_keys, children, max_size=5)),
            st.builds(lambda d: PhpObject("CodecFixtures\\Bag", d), st.dictionaries(ARRAY_KEYS, children, max_size=4)),
        )

    return st.recursive(scalars, extend, max_leaves=max_leaves)
