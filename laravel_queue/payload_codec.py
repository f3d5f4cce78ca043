"""The pydantic-free half of the job envelope: PHP's JSON writer, a string job's envelope,
and the command inside `data.command` (spec §2, §4).

Kept apart from `payload.py` (whose `Payload` is a pydantic model) so that `dispatch`
and the registry never import pydantic: that import costs ~80 ms of every start.
`payload.py` re-exports every name here, so `from laravel_queue.payload import ...`
keeps working.

`php_json_encode` is the one JSON writer for anything PHP reads back: it produces
what PHP's `json_encode(..., JSON_UNESCAPED_UNICODE)` produces (raw UTF-8, `\\/`,
PHP's float layout), and `php_json_encode_escaped` what the default flags produce
(`\\uXXXX`, used by `queue:retry`).
"""

from __future__ import annotations

import json
import time
import uuid as uuid_module
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.errors import PayloadError
from laravel_queue.job import CALL_QUEUED_HANDLER, Job
from laravel_queue.lazy_pydantic import is_model_instance
from laravel_queue.models import MODEL_IDENTIFIER_CLASS, replace_model_identifiers
from laravel_queue.php import PhpObject, PhpUnserializeError, loads, php_float

if TYPE_CHECKING:
    from laravel_queue.bus.encryption import Encrypter
    from laravel_queue.payload import Payload

__all__ = [
    "CALL_QUEUED_HANDLER",
    "CONTEXT_KEY",
    "CommandDecodeError",
    "decode_command",
    "new_uuid",
    "payload_dict",
    "php_json_encode",
    "php_json_encode_escaped",
    "string_job_payload",
]

CONTEXT_KEY = "illuminate:log:context"


# -- PHP's json_encode ----------------------------------------------------------------------


def php_json_encode(value: Any) -> str:
    """PHP `json_encode($value, JSON_UNESCAPED_UNICODE)`: how Laravel writes payloads."""
    parts: list[str] = []
    _encode(value, parts, ensure_ascii=False)
    return "".join(parts)


def php_json_encode_escaped(value: Any) -> str:
    """PHP `json_encode($value)` with default flags (`\\uXXXX`), as `queue:retry` re-encodes."""
    parts: list[str] = []
    _encode(value, parts, ensure_ascii=True)
    return "".join(parts)


def _encode(value: Any, out: list[str], *, ensure_ascii: bool) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_str(value, ensure_ascii))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_encode_float(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_encode_str(_key_text(key), ensure_ascii))
            out.append(":")
            _encode(item, out, ensure_ascii=ensure_ascii)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, ensure_ascii=ensure_ascii)
        out.append("]")
    elif is_model_instance(value):
        _encode(value.model_dump(by_alias=True, exclude_unset=True), out, ensure_ascii=ensure_ascii)
    else:
        raise TypeError(f"cannot JSON-encode a {type(value).__name__} for PHP")


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise TypeError(f"JSON object keys must be str or int, not {type(key).__name__}")


def _encode_str(text: str, ensure_ascii: bool) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("malformed UTF-8 (lone surrogate) cannot be JSON-encoded for PHP") from None
    if ensure_ascii and "\x7f" in text:  # PHP leaves DEL raw; Python would write \u007f
        return '"' + "\x7f".join(_encode_str(part, True)[1:-1] for part in text.split("\x7f")) + '"'
    encoded = json.dumps(text, ensure_ascii=ensure_ascii).replace("/", "\\/")
    if not ensure_ascii:
        # PHP escapes the JS line terminators unless JSON_UNESCAPED_LINE_TERMINATORS is given.
        encoded = encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return encoded


def _encode_float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("Inf and NaN cannot be JSON encoded")
    return php_float(value).decode("ascii").replace("E", "e")


# -- a string job's envelope ---------------------------------------------------------------


def new_uuid() -> str:
    """Laravel's `Str::uuid()` (v4)."""
    return str(uuid_module.uuid4())


def string_job_payload(
    job: str,
    data: Any = None,
    *,
    max_tries: int | None = None,
    delay: int | None = None,
    version: tuple[int, int] = (12, 99),
) -> dict[str, Any]:
    """The envelope `Queue::push('Class@method', $data)` writes (spec §2.2).

    The natural form for Python-native jobs: `job` is the routing string, `data`
    plain JSON, and PHP tooling (`queue:failed`, `queue:retry`) never tries to
    unserialize anything. Push it with `laravel_queue.dispatch.push_raw`.
    """
    class_part = job.partition("@")[0]
    payload: dict[str, Any] = {
        "uuid": new_uuid(),
        "displayName": class_part,
        "job": job,
        "maxTries": max_tries,
        "maxExceptions": None,
        "failOnTimeout": False,
        "backoff": None,
        "timeout": None,
        "data": data,
    }
    if compat.payload_has_created_at_and_delay(version):
        payload["createdAt"] = int(time.time())
        payload["delay"] = delay or None
    return payload


# -- data.command -----------------------------------------------------------------------------


class CommandDecodeError(PayloadError, ValueError):
    """`data.command` cannot be turned into a PHP object; the message says why and where."""


def payload_dict(job: Job | Payload | Mapping[str, Any]) -> dict[str, Any]:
    """The decoded envelope of a job handle, a Payload or a plain dict."""
    if isinstance(job, dict):  # first: routing passes the dict per job, and `Job` is an ABC (a slow check)
        return dict(job)
    if isinstance(job, Job):
        return job.payload
    if isinstance(job, Mapping):
        return dict(job)
    return job.to_dict()  # a Payload


def decode_command(job: Job | Payload | Mapping[str, Any], encrypter: Encrypter | None = None) -> Any:
    """The command object of an object job (spec §4.1, §4.6), never running any PHP.

    `O:...` is unserialized directly; anything else is an encrypted command:
    decrypt, unserialize (a string), unserialize again. Eloquent model references
    come back as `laravel_queue.models.ModelIdentifier`.
    """
    payload = payload_dict(job)
    data = payload.get("data")
    command = data.get("command") if isinstance(data, dict) else None
    if not isinstance(command, str):
        raise CommandDecodeError(
            f"payload has no data.command string (job {payload.get('job')!r} is not a serialized-command job)"
        )
    serialized: str | bytes = command
    if command.startswith("O:"):
        value = _unserialize(command, "data.command")
    else:
        serialized = _unserialize(_decrypt(command, encrypter), "decrypted data.command")
        if not isinstance(serialized, (str, bytes)):
            raise CommandDecodeError("decrypted data.command is not a serialized string (expected s:...)")
        value = _unserialize(serialized, "decrypted data.command (inner)")
    if not isinstance(value, PhpObject):
        raise CommandDecodeError(f"data.command holds a {type(value).__name__}, not an object")
    # Every decoded object's class name stands verbatim in the text, so without this one
    # there is nothing to replace; the walk costs more than the C unserialize itself.
    if isinstance(serialized, str):
        mentions_models = MODEL_IDENTIFIER_CLASS in serialized
    else:
        mentions_models = MODEL_IDENTIFIER_CLASS.encode() in serialized
    if not mentions_models:
        return value
    return replace_model_identifiers(value)


def _decrypt(command: str, encrypter: Encrypter | None) -> bytes:
    from laravel_queue.bus.encryption import DecryptError

    if encrypter is None:
        raise CommandDecodeError(
            "data.command is encrypted (ShouldBeEncrypted) but no APP_KEY is configured to decrypt it"
        )
    try:
        return encrypter.decrypt(command)
    except DecryptError as exc:
        raise CommandDecodeError(f"cannot decrypt data.command: {exc}") from None


def _unserialize(data: str | bytes, what: str) -> Any:
    try:
        return loads(data)
    except PhpUnserializeError as exc:
        raise CommandDecodeError(f"{what} is not valid PHP serialize data: {exc}") from None
