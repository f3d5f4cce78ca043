"""The job envelope (spec §2), PHP's json_encode, and decoding `data.command` (§4)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from conftest import FIXTURES, ROOT, laravel_fixture

from laravel_queue.bus.encryption import Encrypter, parse_app_key
from laravel_queue.job import InvalidPayloadError
from laravel_queue.models import ModelIdentifier
from laravel_queue.payload import (
    CommandDecodeError,
    Payload,
    decode_command,
    php_json_encode,
    php_json_encode_escaped,
    string_job_payload,
)
from laravel_queue.php import PhpEnum, PhpObject, dumps

CASES = sorted(p.stem for p in (FIXTURES / "laravel" / "redis").glob("*.json"))
DRIVERS = ("redis", "sqlite")


def all_stored_payloads() -> list[tuple[str, str]]:
    """Every raw payload Laravel wrote in the fixtures: both drivers, extra jobs, failed rows."""
    found = []
    for driver in DRIVERS:
        for case in CASES:
            fixture = laravel_fixture(f"{driver}/{case}.json")
            found.append((f"{driver}/{case}", fixture["raw_payload"]))
            for index, extra in enumerate(fixture.get("additional_jobs") or []):
                found.append((f"{driver}/{case}+{index}", extra["raw_payload"]))
    for path in sorted((FIXTURES / "laravel" / "failed_jobs").glob("*.json")):
        for key, rows in json.loads(path.read_text()).items():
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, dict) and "payload" in row:
                    found.append((f"failed_jobs/{path.stem}/{key}", row["payload"]))
    return found


STORED = all_stored_payloads()


def test_the_fixture_set_is_complete() -> None:
    assert len(CASES) == 22
    assert len(STORED) > 50


@pytest.mark.parametrize(("name", "raw"), STORED, ids=[name for name, _ in STORED])
def test_every_stored_payload_parses_and_re_encodes_byte_for_byte(name: str, raw: str) -> None:
    payload = Payload.parse(raw)
    assert payload.job
    assert payload.encode() == raw


def test_typed_fields_read_laravels_values() -> None:
    options = Payload.parse(laravel_fixture("sqlite/retry_options.json")["raw_payload"])
    assert (options.max_tries, options.max_exceptions, options.timeout) == (5, 2, 30)
    assert options.fail_on_timeout is True and options.backoff == "1,5,10"
    assert options.command_name == "App\\Jobs\\RetryOptionsJob" and options.is_object_job
    unique = Payload.parse(laravel_fixture("redis/unique.json")["raw_payload"])
    assert isinstance(unique.context, dict) and "laravel_unique_job_key" in unique.context["hidden"]
    assert unique.attempts == 0 and isinstance(unique.id, str) and len(unique.id) == 32
    string_job = Payload.parse(laravel_fixture("redis/string_job.json")["raw_payload"])
    assert not string_job.is_object_job and string_job.command is None
    assert string_job.job_class_and_method == ("App\\Handlers\\RawHandler", "handle")
    assert "retryUntil" not in string_job.to_dict()


def test_missing_fields_take_laravels_meaning_and_loose_values_are_read_like_php() -> None:
    payload = Payload.parse('{"job":"Legacy@fire","maxTries":"3","backoff":[1,5],"timeoutAt":1700000000}')
    assert payload.max_tries == 3 and payload.backoff == "1,5" and payload.timeout_at == 1700000000
    assert payload.uuid is None and payload.fail_on_timeout is False and payload.retry_until is None
    assert Payload.parse('{"job":"X","backoff":15}').backoff == "15"


def test_unknown_fields_and_untouched_values_survive_a_re_push() -> None:
    raw = (
        '{"uuid":"u","displayName":"X","job":"Illuminate\\\\Queue\\\\CallQueuedHandler@call","maxTries":"3",'
        '"horizonTags":["a"],"data":{"commandName":"X","command":"O:1:\\"X\\":0:{}","batchId":null,'
        '"future":{"k":[]}},"pushedAt":"1700000000.1","attempts":2}'
    )
    payload = Payload.parse(raw)
    payload.attempts = 0
    rewritten = payload.to_dict()
    assert list(rewritten) == list(json.loads(raw))
    assert rewritten["maxTries"] == "3"  # untouched: the original value, not the parsed int
    assert rewritten["horizonTags"] == ["a"] and rewritten["pushedAt"] == "1700000000.1"
    assert rewritten["data"]["future"] == {"k": []}
    assert rewritten["attempts"] == 0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"uuid": "x"}', "job: Field required"),
        ('{"job": "X", "maxTries": "lots"}', "maxTries"),
    ],
)
def test_bad_payloads_get_a_clear_error(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPayloadError, match=reason):
        Payload.parse(raw)


# -- php_json_encode ------------------------------------------------------------------------

TRICKY: dict[str, Any] = {
    "slash/and\\back": 'héllo ✓ 😀 \u2028\u2029 \x00\x01\x1f\x7f "q" \n\t',
    "floats": [0.1, 1.0, -0.0, 1e25, 1e-7, 1.5e300, 123456789012345678.0, 0.00001, 2.5],
    "ints": [0, -7, 2**62],
    "nested": {"empty_list": [], "empty_map": {}, "bool": [True, False, None]},
    "5": "numeric key",
}


def test_php_json_encode_matches_php_for_unicode_slashes_and_floats(php: str) -> None:
    for mode, encode in (("json_encode", php_json_encode), ("json_encode_default", php_json_encode_escaped)):
        done = subprocess.run(
            [php, str(ROOT / "php-fixtures" / "dispatch_check.php"), mode],
            input=dumps(TRICKY),
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr.decode()
        # PHP writes an empty PHP array as [] where Python has an empty dict: compare on that basis
        assert encode(TRICKY).replace('"empty_map":{}', '"empty_map":[]') == done.stdout.decode(), mode


def test_php_json_encode_refuses_what_php_cannot_encode() -> None:
    with pytest.raises(ValueError, match="NaN"):
        php_json_encode(float("nan"))
    with pytest.raises(ValueError, match="UTF-8"):
        php_json_encode("\udc80")
    with pytest.raises(TypeError):
        php_json_encode({"x": object()})


# -- data.command -------------------------------------------------------------------------------


def _payload(driver: str, case: str) -> dict[str, Any]:
    return json.loads(laravel_fixture(f"{driver}/{case}.json")["raw_payload"])


OBJECT_CASES = [c for c in CASES if c not in ("string_job", "raw_push", "encrypted")]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("case", OBJECT_CASES)
def test_every_serialized_command_decodes_to_its_class(driver: str, case: str) -> None:
    payload = _payload(driver, case)
    command = decode_command(payload)
    assert isinstance(command, PhpObject)
    assert command.class_name == payload["data"]["commandName"]


def test_decoded_commands_expose_properties_enums_and_model_identifiers() -> None:
    enums = decode_command(_payload("redis", "backed_enums"))
    assert enums.status == PhpEnum("App\\Enums\\Status", "Suspended")
    assert enums.statuses == [PhpEnum("App\\Enums\\Status", "Active"), enums.status]  # r:2 = the first enum
    visibility = decode_command(_payload("redis", "visibility_props"))
    assert visibility.privateProp == "sekrit"
    models = decode_command(_payload("sqlite", "eloquent_model"))
    assert models.user == ModelIdentifier("App\\Models\\User", 1, [], "sqlite", None)
    assert models.users.id == [1, 2] and models.users.is_collection
    notification = decode_command(_payload("redis", "queued_notification"))
    assert notification.notifiables == ModelIdentifier("App\\Models\\User", [1], [], "sqlite", None)


def test_an_encrypted_command_needs_the_app_key() -> None:
    fixture = laravel_fixture("redis/encrypted.json")
    payload = json.loads(fixture["raw_payload"])
    with pytest.raises(CommandDecodeError, match=r"encrypted .* no APP_KEY"):
        decode_command(payload)
    command = decode_command(payload, Encrypter(parse_app_key(fixture["environment"]["app_key"])))
    assert command == PhpObject("App\\Jobs\\EncryptedJob", {"secret": "card 4111-1111-1111-1111"})
    with pytest.raises(CommandDecodeError, match=r"cannot decrypt data\.command: The MAC is invalid"):
        decode_command(payload, Encrypter(b"k" * 32))


def test_model_identifiers_inside_an_encrypted_command_are_restored() -> None:
    """The identifiers of an encrypted command sit in the decrypted inner text, not in data.command."""
    payload = _payload("sqlite", "eloquent_model")
    encrypter = Encrypter(b"k" * 32)
    payload["data"]["command"] = encrypter.encrypt(dumps(payload["data"]["command"]))  # encrypt(serialize($cmd))
    models = decode_command(payload, encrypter)
    assert models.user == ModelIdentifier("App\\Models\\User", 1, [], "sqlite", None)
    assert models.users.id == [1, 2] and models.users.is_collection


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"commandName": "X", "command": 'O:1:"X":1:{s:1:"a";i:1'}, "not valid PHP serialize data.*offset"),
        ({"commandName": "X"}, "no data.command"),
        ({"commandName": "X", "command": 'O:1:"X":0:{}trailing'}, "offset"),
        ({"commandName": "X", "command": "a:0:{}"}, "encrypted"),
    ],
)
def test_broken_commands_get_a_readable_error(data: dict[str, Any], reason: str) -> None:
    payload = {"job": "Illuminate\\Queue\\CallQueuedHandler@call", "data": data}
    with pytest.raises(CommandDecodeError, match=reason):
        decode_command(payload)


def test_decoding_never_instantiates_php_classes_named_in_the_data() -> None:
    hostile = dumps(PhpObject("stdClass", {"x": PhpObject("os\\system\\Something", {})})).decode()
    command = decode_command({"job": "Illuminate\\Queue\\CallQueuedHandler@call", "data": {"command": hostile}})
    assert command.x == PhpObject("os\\system\\Something", {})


def test_string_job_payload_matches_laravels_string_job_envelope() -> None:
    expected = _payload("sqlite", "string_job")
    built = string_job_payload("App\\Handlers\\RawHandler@handle", {"order": 5, "items": ["a", "b"]})
    assert list(built) == list(expected)
    assert {k: v for k, v in built.items() if k not in ("uuid", "createdAt")} == {
        k: v for k, v in expected.items() if k not in ("uuid", "createdAt")
    }
    assert "createdAt" not in string_job_payload("Py@run", None, version=(11, 0))
