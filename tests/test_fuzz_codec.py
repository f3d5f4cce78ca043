"""Fuzzing the PHP codec and the job envelope parser (hypothesis, a fixed budget of a few seconds).

Properties: decoding arbitrary or mutated bytes either returns a value or raises the
module's own error (never another exception, never a crash); the C and pure-Python
decoders agree on every input; `dumps(loads(dumps(v)))` is stable; the envelope parser
and the registry's routing raise only their documented errors on any JSON.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laravel_queue.job import InvalidPayloadError
from laravel_queue.payload import CommandDecodeError, Payload, decode_command
from laravel_queue.php import PhpEnum, PhpObject, PhpUnserializeError, _decode, dumps, loads
from laravel_queue.registry import Registry, UnknownJobError

try:
    from laravel_queue.php import _speedups
except ImportError:  # no compiler: only the reference decoder is fuzzed
    _speedups = None

BUDGET = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRUCTURED_BUDGET = settings(BUDGET, max_examples=60)
"""Generated PHP values are costly to draw; a fixed, small count keeps the file at a few seconds."""
DECODERS = [pytest.param(_decode.loads, id="python")]
if _speedups is not None:
    DECODERS.append(pytest.param(_speedups.loads, id="c"))

class_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(\\[A-Za-z_][A-Za-z0-9_]{0,8}){0,2}", fullmatch=True)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)


def php_values() -> st.SearchStrategy[Any]:
    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        keys = st.one_of(st.integers(-5, 50), st.text(max_size=8))
        return st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=4),
            st.builds(PhpObject, class_names, st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=3)),
        )

    enums = st.builds(PhpEnum, class_names, st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True))
    return st.recursive(st.one_of(scalars, enums), extend, max_leaves=12)


def decode_or_error(decoder: Any, data: bytes) -> tuple[str, Any]:
    """('ok', re-encoded bytes) or ('error', offset); anything else escapes and fails the test."""
    try:
        value = decoder(data, max_depth=64)
    except PhpUnserializeError as exc:
        return "error", exc.offset
    return "ok", dumps(value)


@st.composite
def mutated_serialized(draw: st.DrawFn) -> bytes:
    """Valid serialize() output, then cut, overwritten or spliced: the shapes real corruption takes."""
    data = bytearray(dumps(draw(php_values())))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["truncate", "flip", "insert", "digits"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "truncate":
            del data[position:]
        elif action == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        else:  # a declared length or count far beyond the data
            data[position:position] = str(draw(st.integers(0, 2**64))).encode()
    return bytes(data)


@pytest.mark.parametrize("decoder", DECODERS)
@BUDGET
@given(data=st.binary(max_size=200))
def test_random_bytes_decode_or_raise_php_unserialize_error(decoder: Any, data: bytes) -> None:
    decode_or_error(decoder, data)


@pytest.mark.parametrize("decoder", DECODERS)
@STRUCTURED_BUDGET
@given(data=mutated_serialized())
def test_corrupted_serialize_data_decodes_or_raises_php_unserialize_error(decoder: Any, data: bytes) -> None:
    decode_or_error(decoder, data)


@pytest.mark.skipif(_speedups is None, reason="the C decoder was not built")
@STRUCTURED_BUDGET
@given(data=st.one_of(mutated_serialized(), st.binary(max_size=120)))
def test_c_and_python_decoders_agree(data: bytes) -> None:
    assert _speedups is not None
    assert decode_or_error(_speedups.loads, data) == decode_or_error(_decode.loads, data)


@STRUCTURED_BUDGET
@given(value=php_values())
def test_dumps_loads_dumps_is_stable(value: Any) -> None:
    encoded = dumps(value)
    assert dumps(loads(encoded)) == encoded


# -- the envelope and the routing ------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
envelope_fields = st.fixed_dictionaries(
    {},
    optional={
        "uuid": json_values,
        "displayName": json_values,
        "maxTries": json_values,
        "timeout": json_values,
        "backoff": json_values,
        "retryUntil": json_values,
        "attempts": json_values,
        "job": st.one_of(json_values, st.just("Illuminate\\Queue\\CallQueuedHandler@call"), st.text(max_size=20)),
        "data": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "commandName": st.one_of(json_values, class_names),
                    "command": st.one_of(json_values, mutated_serialized().map(lambda b: b.decode("utf-8", "replace"))),
                },
            ),
        ),
    },
)


@BUDGET
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200), json_values.map(json.dumps)))
def test_payload_parse_raises_only_invalid_payload_error(raw: Any) -> None:
    with contextlib.suppress(InvalidPayloadError):
        Payload.parse(raw)


@STRUCTURED_BUDGET
@given(fields=envelope_fields)
def test_envelopes_parse_route_and_decode_with_only_documented_errors(fields: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidPayloadError):
        Payload.parse(json.dumps(fields))
    registry = Registry()
    registry.register("App\\Jobs\\Known", lambda job, command: None)
    with contextlib.suppress(UnknownJobError):
        registry.lookup(fields)
    with contextlib.suppress(CommandDecodeError):
        decode_command(fields)


@pytest.mark.parametrize("data", [[None], "x", 5])
def test_lookup_of_object_job_with_non_object_data_raises_unknown_job_error(data: Any) -> None:
    registry = Registry()
    with pytest.raises(UnknownJobError):
        registry.lookup({"uuid": "u", "job": "Illuminate\\Queue\\CallQueuedHandler@call", "data": data})
