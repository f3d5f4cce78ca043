"""Every PHP-serialized string captured from Laravel 12 decodes and re-encodes byte for byte."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest
from test_php_support import (
    CODEC_PARAMS,
    CODECS,
    LARAVEL_FIXTURES,
    Codec,
    assert_same,
    fixture_payloads,
    nested_serialized,
)

from laravel_queue.php import PhpEnum, PhpObject, loads

PAYLOADS = fixture_payloads()


def command(case: str, driver: str = "redis") -> Any:
    fixture = json.loads((LARAVEL_FIXTURES / driver / f"{case}.json").read_text(encoding="utf-8"))
    return loads(json.loads(fixture["raw_payload"])["data"]["command"])


def test_fixtures_are_present() -> None:
    cases = {p.stem for p in (LARAVEL_FIXTURES / "redis").glob("*.json")}
    assert len(cases) >= 20 and {p.stem for p in (LARAVEL_FIXTURES / "sqlite").glob("*.json")} == cases
    commands = [where for where, _ in PAYLOADS if where.endswith("data.command")]
    assert len(commands) >= 2 * 18  # every object job in both drivers (encrypted one excluded)


@pytest.mark.parametrize("codec", CODEC_PARAMS)
@pytest.mark.parametrize(("where", "text"), PAYLOADS, ids=[w for w, _ in PAYLOADS])
def test_payload_round_trips(codec: Codec, where: str, text: str) -> None:
    value = codec.loads(text)
    assert codec.dumps(value) == text.encode("utf-8")
    for inner in nested_serialized(value):  # chained jobs, closure bodies, ...
        assert codec.dumps(codec.loads(inner)) == inner.encode("utf-8"), inner


@pytest.mark.parametrize(("where", "text"), PAYLOADS, ids=[w for w, _ in PAYLOADS])
def test_implementations_agree_on_payloads(where: str, text: str) -> None:
    decoded = [codec.loads(text) for codec in CODECS]
    for other in decoded[1:]:
        assert_same(decoded[0], other)


def test_plain_scalars() -> None:
    job = command("plain_scalars")
    assert isinstance(job, PhpObject) and job.class_name == "App\\Jobs\\PlainScalarsJob"
    assert job.name == 'héllo wörld "quoted" \\ slash / ünïcode ✓'
    assert (job.count, job.flag, job.nothing, job.negative) == (42, True, None, -7)
    assert job.ratio == 0.1 and job.big == 1e25


def test_visibility_props() -> None:
    job = command("visibility_props")
    assert list(job.properties) == ["\0App\\Jobs\\VisibilityJob\0privateProp"]
    assert job["privateProp"] == "sekrit" and job.visibility("privateProp") == "private"


def test_nested_arrays_keys() -> None:
    data = command("nested_arrays").data
    assert data["list"] == [1, 2, 3]
    assert data["sparse"] == {5: "five", 9: "nine"}
    assert data["numeric_string_keys"] == {10: "ten", "007": "bond"}
    assert data["map"] == {"a": 1, "b": {"c": [True, False, None]}}


def test_enums_share_a_slot() -> None:
    job = command("backed_enums")
    assert job.status == PhpEnum("App\\Enums\\Status", "Suspended")
    assert job.mood == PhpEnum("App\\Enums\\Mood", "Grumpy")
    assert job.statuses[1] is job.status  # r:2 -> the very same object


def test_collection_and_dates() -> None:
    items = command("collection")["items"]
    assert items.class_name == "Illuminate\\Support\\Collection"
    assert items.visibility("items") == "protected" and set(items["items"]) == {"ids", "names", "assoc"}
    when = command("carbon_dates").when
    assert when.class_name == "Illuminate\\Support\\Carbon" and when.date == "2025-01-02 03:04:05.123456"


def test_model_identifiers_and_chain() -> None:
    job = command("eloquent_model")
    assert job.user.class_name == "Illuminate\\Contracts\\Database\\ModelIdentifier"
    assert job.user.id == 1 and job.users.id == [1, 2]
    chain = command("chain", "sqlite")
    assert [loads(step).step for step in chain.chained] == [2, 3]
    assert not math.isnan(float(chain.step))


def test_pure_python_can_be_forced() -> None:
    """LARAVEL_QUEUE_PHP_CODEC=python selects the reference codec (e.g. to rule out the C one)."""
    code = "import laravel_queue.php as p; print(p.IMPLEMENTATION, p.loads(b'a:1:{i:0;b:1;}'))"
    env = {**os.environ, "LARAVEL_QUEUE_PHP_CODEC": "python"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["python", "[True]"]
