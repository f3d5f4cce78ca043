"""Laravel's `Illuminate\\Encryption\\Encrypter`, wire-compatible (spec §4.6).

PHP encrypts `ShouldBeEncrypted` commands with `APP_KEY`; a Python worker must read
them and a Python dispatcher must write ones PHP can read. The format is the same in
Laravel 8 to 13: base64 of the JSON `{"iv","value","mac","tag"}`; CBC carries an
HMAC-SHA256 over `iv . value`, GCM an authentication tag. Keys never appear in
messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laravel_queue.config import ConfigError
from laravel_queue.errors import PayloadError

if TYPE_CHECKING:
    from laravel_queue.config import Settings


class DecryptError(PayloadError, ValueError):
    """The encrypted value cannot be read: bad envelope, wrong key or tampered data."""


@dataclass(frozen=True)
class _Cipher:
    key_size: int
    iv_size: int
    aead: bool


SUPPORTED_CIPHERS: dict[str, _Cipher] = {
    "aes-128-cbc": _Cipher(16, 16, aead=False),
    "aes-256-cbc": _Cipher(32, 16, aead=False),
    "aes-128-gcm": _Cipher(16, 12, aead=True),
    "aes-256-gcm": _Cipher(32, 12, aead=True),
}
_GCM_TAG_SIZE = 16


def parse_app_key(value: str) -> bytes:
    """`APP_KEY` to raw key bytes: `base64:` prefix decoded, anything else taken as-is."""
    if value.startswith("base64:"):
        try:
            return base64.b64decode(value[len("base64:") :], validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("APP_KEY has a base64: prefix but is not valid base64") from None
    return value.encode("utf-8")


class Encrypter:
    """Encrypt and decrypt values exactly as Laravel's `Crypt` facade does."""

    def __init__(self, key: bytes, cipher: str = "AES-256-CBC", previous_keys: Iterable[bytes] = ()) -> None:
        self.cipher = cipher.lower()
        spec = SUPPORTED_CIPHERS.get(self.cipher)
        if spec is None:
            raise ConfigError(f"unsupported cipher [{cipher}]; supported: {', '.join(SUPPORTED_CIPHERS)}")
        self._spec = spec
        _require_cryptography()
        self._keys = [bytes(key), *(bytes(k) for k in previous_keys)]
        for index, candidate in enumerate(self._keys):
            if len(candidate) != spec.key_size:
                which = "APP_KEY" if index == 0 else f"APP_PREVIOUS_KEYS entry {index}"
                raise ConfigError(
                    f"{which} has the wrong length for {self.cipher} (need {spec.key_size} bytes, got {len(candidate)})"
                )

    @classmethod
    def from_settings(cls, settings: Settings) -> Encrypter | None:
        """The app's encrypter, or None when `APP_KEY` is not set."""
        app = settings.app
        if app.key is None or not app.key.get_secret_value():
            return None
        previous = [parse_app_key(k.get_secret_value()) for k in app.previous_keys]
        return cls(parse_app_key(app.key.get_secret_value()), app.cipher, previous)

    def __repr__(self) -> str:
        return f"<Encrypter {self.cipher} keys={len(self._keys)}>"

    # -- encrypt ----------------------------------------------------------------------------
    def encrypt(self, plaintext: bytes) -> str:
        """Encrypt already PHP-serialized bytes (Laravel's `encrypt($value)` after its serialize)."""
        key = self._keys[0]
        iv = os.urandom(self._spec.iv_size)
        if self._spec.aead:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            sealed = AESGCM(key).encrypt(iv, plaintext, None)
            ciphertext, tag = sealed[:-_GCM_TAG_SIZE], sealed[-_GCM_TAG_SIZE:]
        else:
            ciphertext, tag = _cbc_encrypt(key, iv, plaintext), b""
        iv_b64 = _b64(iv)
        value_b64 = _b64(ciphertext)
        mac = "" if self._spec.aead else _mac(key, iv_b64, value_b64)
        envelope = {"iv": iv_b64, "value": value_b64, "mac": mac, "tag": _b64(tag)}
        return _b64(json.dumps(envelope, separators=(",", ":")).encode("ascii"))

    # -- decrypt ----------------------------------------------------------------------------
    def decrypt(self, payload: str) -> bytes:
        """The PHP-serialized plaintext of an encrypted value; raises DecryptError."""
        envelope = self._envelope(payload)
        iv = base64.b64decode(envelope["iv"])
        tag = _tag(envelope, self._spec.aead)
        try:
            ciphertext = base64.b64decode(envelope["value"], validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("The payload is invalid: value is not base64.") from None
        found_valid_mac = False
        for key in self._keys:
            if not self._spec.aead:
                if not hmac.compare_digest(_mac(key, envelope["iv"], envelope["value"]), envelope["mac"]):
                    continue
                found_valid_mac = True
            plaintext = self._decrypt_with(key, iv, ciphertext, tag)
            if plaintext is not None:
                return plaintext
        if not self._spec.aead and not found_valid_mac:
            raise DecryptError("The MAC is invalid (APP_KEY and APP_PREVIOUS_KEYS do not match the sender's).")
        raise DecryptError("Could not decrypt the data.")

    def _decrypt_with(self, key: bytes, iv: bytes, ciphertext: bytes, tag: bytes | None) -> bytes | None:
        if self._spec.aead:
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            try:
                return AESGCM(key).decrypt(iv, ciphertext + (tag or b""), None)
            except InvalidTag:
                return None
        return _cbc_decrypt(key, iv, ciphertext)

    def _envelope(self, payload: str) -> dict[str, Any]:
        try:
            decoded = json.loads(base64.b64decode(payload))
        except (binascii.Error, ValueError, TypeError):
            raise DecryptError("The payload is invalid: not base64-encoded JSON.") from None
        if not isinstance(decoded, dict):
            raise DecryptError("The payload is invalid: not a JSON object.")
        for field in ("iv", "value", "mac"):
            if not isinstance(decoded.get(field), str):
                raise DecryptError(f"The payload is invalid: missing string field {field!r}.")
        if "tag" in decoded and decoded["tag"] is not None and not isinstance(decoded["tag"], str):
            raise DecryptError("The payload is invalid: tag is not a string.")
        try:
            iv = base64.b64decode(decoded["iv"], validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("The payload is invalid: iv is not base64.") from None
        if len(iv) != self._spec.iv_size:
            raise DecryptError(f"The payload is invalid: iv length does not match {self.cipher}.")
        return decoded


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ConfigError(
            "encrypted jobs need the 'cryptography' package: pip install 'laravel-queue-worker[crypto]'"
        ) from None


def _tag(envelope: dict[str, Any], aead: bool) -> bytes | None:
    raw = envelope.get("tag") or None
    tag = base64.b64decode(raw) if raw else None
    if aead and (tag is None or len(tag) != _GCM_TAG_SIZE):
        raise DecryptError("Could not decrypt the data: the authentication tag is missing or invalid.")
    if not aead and tag is not None:
        raise DecryptError("Unable to use tag because the cipher algorithm does not support AEAD.")
    return tag


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _mac(key: bytes, iv_b64: str, value_b64: str) -> str:
    return hmac.new(key, (iv_b64 + value_b64).encode("utf-8"), hashlib.sha256).hexdigest()


def _cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes | None:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not ciphertext or len(ciphertext) % 16:
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None
