"""Laravel's Encrypter format (spec §4.6): the captured `encrypted` job and PHP's own openssl."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, laravel_fixture

from laravel_queue.bus.encryption import DecryptError, Encrypter, parse_app_key
from laravel_queue.config import ConfigError, load_settings
from laravel_queue.php import PhpObject, dumps, loads

CHECK_SCRIPT = ROOT / "php-fixtures" / "dispatch_check.php"
CIPHERS = {"aes-128-cbc": 16, "aes-256-cbc": 32, "aes-128-gcm": 16, "aes-256-gcm": 32}


def _fixture_encrypter() -> tuple[Encrypter, dict]:
    case = laravel_fixture("redis/encrypted.json")
    return Encrypter(parse_app_key(case["environment"]["app_key"])), json.loads(case["raw_payload"])


def test_the_captured_encrypted_command_decrypts_to_the_double_serialized_job() -> None:
    encrypter, payload = _fixture_encrypter()
    plaintext = encrypter.decrypt(payload["data"]["command"])
    inner = loads(plaintext)
    assert isinstance(inner, str) and inner.startswith("O:21:")
    command = loads(inner)
    assert command == PhpObject("App\\Jobs\\EncryptedJob", {"secret": "card 4111-1111-1111-1111"})


@pytest.mark.parametrize("cipher", sorted(CIPHERS))
def test_every_supported_cipher_round_trips(cipher: str) -> None:
    encrypter = Encrypter(os.urandom(CIPHERS[cipher]), cipher.upper())
    secret = dumps('O:8:"stdClass":0:{}')
    token = encrypter.encrypt(secret)
    envelope = json.loads(base64.b64decode(token))
    assert list(envelope) == ["iv", "value", "mac", "tag"]
    assert len(base64.b64decode(envelope["iv"])) == (12 if "gcm" in cipher else 16)
    assert (envelope["mac"] == "") == ("gcm" in cipher)
    assert (envelope["tag"] == "") == ("cbc" in cipher)
    assert encrypter.decrypt(token) == secret


def test_previous_keys_still_decrypt_after_a_key_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    token = Encrypter(old).encrypt(b's:2:"hi";')
    with pytest.raises(DecryptError, match="MAC is invalid"):
        Encrypter(new).decrypt(token)
    assert Encrypter(new, previous_keys=[old]).decrypt(token) == b's:2:"hi";'


def test_tampering_is_detected_and_the_message_never_contains_the_key() -> None:
    key = os.urandom(32)
    encrypter = Encrypter(key)
    envelope = json.loads(base64.b64decode(encrypter.encrypt(b's:1:"x";')))
    envelope["value"] = base64.b64encode(b"0" * 16).decode()
    forged = base64.b64encode(json.dumps(envelope).encode()).decode()
    with pytest.raises(DecryptError) as caught:
        encrypter.decrypt(forged)
    message = str(caught.value)
    assert "MAC is invalid" in message
    assert base64.b64encode(key).decode() not in message and key.hex() not in message


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not base64 json!!", "not base64-encoded JSON"),
        (base64.b64encode(b"[1,2]").decode(), "not a JSON object"),
        (base64.b64encode(b'{"iv":"AAAA","value":"x"}').decode(), "missing string field 'mac'"),
        (base64.b64encode(b'{"iv":"AAAA","value":"x","mac":"y","tag":""}').decode(), "iv length"),
    ],
)
def test_malformed_envelopes_get_a_clear_error(token: str, reason: str) -> None:
    with pytest.raises(DecryptError, match=reason):
        Encrypter(os.urandom(32)).decrypt(token)


def test_gcm_requires_its_authentication_tag() -> None:
    encrypter = Encrypter(os.urandom(32), "aes-256-gcm")
    envelope = json.loads(base64.b64decode(encrypter.encrypt(b"N;")))
    envelope["tag"] = ""
    with pytest.raises(DecryptError, match="tag"):
        encrypter.decrypt(base64.b64encode(json.dumps(envelope).encode()).decode())


def test_from_settings_reads_app_key_previous_keys_and_cipher() -> None:
    current, previous = os.urandom(16), os.urandom(16)
    env = {
        "APP_KEY": "base64:" + base64.b64encode(current).decode(),
        "APP_PREVIOUS_KEYS": "base64:" + base64.b64encode(previous).decode(),
        "APP_CIPHER": "AES-128-GCM",
    }
    encrypter = Encrypter.from_settings(load_settings(environ=env, env_file=None))
    assert encrypter is not None and encrypter.cipher == "aes-128-gcm"
    token = Encrypter(previous, "aes-128-gcm").encrypt(b"N;")
    assert encrypter.decrypt(token) == b"N;"
    assert Encrypter.from_settings(load_settings(environ={}, env_file=None)) is None


def test_a_key_of_the_wrong_length_is_refused_without_echoing_it() -> None:
    key = "base64:" + base64.b64encode(b"k" * 20).decode()
    with pytest.raises(ConfigError, match="wrong length") as caught:
        Encrypter.from_settings(load_settings(environ={"APP_KEY": key}, env_file=None))
    assert key not in str(caught.value)
    with pytest.raises(ConfigError, match="unsupported cipher"):
        Encrypter(b"k" * 32, "aes-256-ctr")


def _php(php: str, mode: str, stdin: str | bytes) -> str:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run([php, str(CHECK_SCRIPT), mode], input=data, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-128-gcm"])
def test_php_openssl_and_python_read_each_others_values(php: str, cipher: str) -> None:
    key = os.urandom(CIPHERS[cipher])
    encrypter = Encrypter(key, cipher)
    command = dumps(PhpObject("App\\Jobs\\EncryptedJob", {"secret": "card ✓ 4111"}))
    from_python = encrypter.encrypt(dumps(command))
    args = {"key": base64.b64encode(key).decode(), "cipher": cipher}
    report = json.loads(_php(php, "decrypt", json.dumps({**args, "payload": from_python})))
    assert report["class"] == "App\\Jobs\\EncryptedJob"
    assert report["props"]["secret"]["value"] == "card ✓ 4111"

    from_php = _php(php, "encrypt", json.dumps({**args, "plaintext": dumps(command).decode()}))
    assert loads(loads(encrypter.decrypt(from_php))) == loads(command)


def test_check_script_exists() -> None:
    assert Path(CHECK_SCRIPT).is_file()
