"""Fuzzing over mutated real payloads: only PhpUnserializeError may escape, never a hang.

Every mutated input is decoded by every implementation; they must agree exactly
(same value or same error offset and message), and whatever decodes must re-encode.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_php_support import CODECS, assert_same, fixture_payloads

from laravel_queue.php import PhpUnserializeError

SEEDS: list[bytes] = [text.encode("utf-8") for _, text in fixture_payloads()] + [
    b'a:3:{i:0;O:1:"A":1:{s:1:"a";R:2;}i:1;r:2;i:2;R:3;}',
    b'a:2:{i:0;a:2:{i:0;R:2;s:1:"k";S:1:"\\41";}i:1;E:3:"A:B";}',
    b'a:4:{i:0;i:1;i:0;C:1:"C":2:{xy}i:1;d:-1.5E-10;s:1:"5";b:1;}',
]
GRAMMAR = b'0123456789:;{}"aOsibdNrRCES-+.eINFA\\\x00\xff'


def mutate(data: bytes, rnd: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(7)
        pos = rnd.randrange(len(buf) + 1)
        if op == 0 and buf:  # replace a byte by a grammar byte
            buf[min(pos, len(buf) - 1)] = rnd.choice(GRAMMAR)
        elif op == 1 and buf:  # replace a byte by anything
            buf[min(pos, len(buf) - 1)] = rnd.randrange(256)
        elif op == 2:  # delete a span
            del buf[pos : pos + rnd.randint(1, 8)]
        elif op == 3:  # insert grammar bytes
            buf[pos:pos] = bytes(rnd.choice(GRAMMAR) for _ in range(rnd.randint(1, 4)))
        elif op == 4 and buf:  # duplicate a span elsewhere
            start = rnd.randrange(len(buf))
            buf[pos:pos] = buf[start : start + rnd.randint(1, 40)]
        elif op == 5:  # truncate
            del buf[pos:]
        elif op == 6:  # bump a number
            digits = [i for i, c in enumerate(buf) if 0x30 <= c <= 0x39]
            if digits:
                i = rnd.choice(digits)
                buf[i] = rnd.choice(b"0123456789")
    return bytes(buf)


def outcome(loads: Any, dumps: Any, data: bytes) -> tuple[str, Any]:
    try:
        value = loads(data)
    except PhpUnserializeError as exc:
        return "error", (exc.offset, str(exc))
    raw = dumps(value)  # anything that decodes must re-encode...
    assert dumps(loads(raw)) == raw  # ...to a fixed point
    return "ok", value


def check(data: bytes) -> None:
    results = [outcome(codec.loads, codec.dumps, data) for codec in CODECS]
    first = results[0]
    for other in results[1:]:
        assert other[0] == first[0], (data, results)
        if first[0] == "error":
            assert other[1] == first[1], data
        else:
            assert_same(first[1], other[1])


def test_random_mutations() -> None:
    rnd = random.Random(20240229)
    for _ in range(10000):
        check(mutate(rnd.choice(SEEDS), rnd))


@settings(max_examples=600, deadline=None)
@given(seed=st.sampled_from(SEEDS), salt=st.integers(0, 2**32))
def test_hypothesis_mutations(seed: bytes, salt: int) -> None:
    check(mutate(seed, random.Random(salt)))


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


def test_every_truncation_of_every_payload() -> None:
    for seed in SEEDS:
        for cut in range(0, len(seed), max(1, len(seed) // 60)):
            check(seed[:cut])
