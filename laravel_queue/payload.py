"""The JSON job envelope Laravel stores for every job (spec §2), as a pydantic model.

`Payload` gives typed access to every field Laravel 10 to 13 writes while keeping
the document it came from: unknown keys (Horizon's, payload hooks', a newer
Laravel's) and the original values of fields nobody changed are written back as
they were when a payload is re-pushed (retry, chain, release).

The pydantic-free helpers (`php_json_encode`, `string_job_payload`, `decode_command`...)
live in `payload_codec.py`, so `dispatch` does not import pydantic; they are re-exported
here, where callers have always imported them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from laravel_queue.job import CALL_QUEUED_HANDLER, InvalidPayloadError
from laravel_queue.payload_codec import (
    CONTEXT_KEY,
    CommandDecodeError,
    decode_command,
    new_uuid,
    payload_dict,
    php_json_encode,
    php_json_encode_escaped,
    string_job_payload,
)

__all__ = [  # with payload_codec's names: importing them from here has always worked
    "CALL_QUEUED_HANDLER",
    "CONTEXT_KEY",
    "CommandDecodeError",
    "InvalidPayloadError",
    "Payload",
    "decode_command",
    "new_uuid",
    "payload_dict",
    "php_json_encode",
    "php_json_encode_escaped",
    "string_job_payload",
    "validation_summary",
]


# -- the envelope ---------------------------------------------------------------------------


def _loose_int(value: Any) -> Any:
    """Laravel reads these with PHP's loose typing: numeric strings and whole floats count."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


class Payload(BaseModel):
    """One job envelope. Field order is Laravel's; missing fields mean what they mean in PHP.

    Build from storage with `Payload.parse(raw)`; write back with `to_dict()` /
    `encode()`, which keep unknown keys, key order and untouched values.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True, defer_build=True)

    uuid: str | None = None
    display_name: str | None = Field(default=None, alias="displayName")
    job: str
    max_tries: int | None = Field(default=None, alias="maxTries")
    max_exceptions: int | None = Field(default=None, alias="maxExceptions")
    fail_on_timeout: bool = Field(default=False, alias="failOnTimeout")
    backoff: str | None = None
    timeout: int | None = None
    retry_until: int | None = Field(default=None, alias="retryUntil")
    delete_when_missing_models: bool | None = Field(default=None, alias="deleteWhenMissingModels")
    timeout_at: int | None = Field(default=None, alias="timeoutAt")
    """Laravel 7's name for `retryUntil`; still read as its fallback."""
    data: Any = None
    created_at: int | None = Field(default=None, alias="createdAt")
    context: dict[str, Any] | list[Any] | None = Field(default=None, alias="illuminate:log:context")  # CONTEXT_KEY
    id: str | int | None = None
    attempts: int | None = None
    delay: int | None = None
    tags: list[Any] | None = None

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _snapshot: dict[str, Any] = PrivateAttr(default_factory=dict)

    _int_fields = field_validator(
        "max_tries",
        "max_exceptions",
        "timeout",
        "retry_until",
        "timeout_at",
        "created_at",
        "attempts",
        "delay",
        mode="before",
    )(_loose_int)

    @field_validator("backoff", mode="before")
    @classmethod
    def _backoff_as_string(cls, value: Any) -> Any:
        """PHP writes backoff comma-joined; older or hand-made payloads may hold an int or a list."""
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return str(_loose_int(value))
        if isinstance(value, list):
            return ",".join(str(_loose_int(item)) for item in value)
        return value

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def parse(cls, raw: str | bytes | Mapping[str, Any]) -> Payload:
        """Validate a stored payload; raises InvalidPayloadError naming the bad field."""
        if isinstance(raw, (str, bytes, bytearray)):
            try:
                decoded = json.loads(raw)
            except ValueError as exc:
                raise InvalidPayloadError(f"job payload is not valid JSON: {exc}") from None
        else:
            decoded = dict(raw)
        if not isinstance(decoded, dict):
            raise InvalidPayloadError(f"job payload is not a JSON object (got {type(decoded).__name__})")
        try:
            model = cls.model_validate(decoded)
        except ValidationError as exc:
            raise InvalidPayloadError(f"job payload is invalid: {validation_summary(exc)}") from None
        model._raw = decoded
        model._snapshot = model.model_dump(by_alias=True, exclude_unset=True)
        return model

    @property
    def is_object_job(self) -> bool:
        """True for `CallQueuedHandler@call` jobs (a serialized command in `data.command`)."""
        return self.job == CALL_QUEUED_HANDLER

    @property
    def command_name(self) -> str | None:
        return self.data.get("commandName") if isinstance(self.data, dict) else None

    @property
    def command(self) -> str | None:
        """The serialized (or encrypted) command string, if this is an object job."""
        value = self.data.get("command") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) else None

    @property
    def batch_id(self) -> str | None:
        return self.data.get("batchId") if isinstance(self.data, dict) else None

    @property
    def job_class_and_method(self) -> tuple[str, str]:
        """`Class@method` split as Laravel's `JobName::parse` does (method defaults to `fire`)."""
        cls_name, _, method = self.job.partition("@")
        return cls_name, method or "fire"

    # -- writing ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict: original order and values unless changed here."""
        current = self.model_dump(by_alias=True, exclude_unset=True)
        merged: dict[str, Any] = {}
        for key, original in self._raw.items():
            if key in current:
                unchanged = key in self._snapshot and current[key] == self._snapshot[key]
                merged[key] = original if unchanged else current[key]
        for key, value in current.items():
            merged.setdefault(key, value)
        return merged

    def encode(self) -> str:
        """JSON exactly as PHP's `json_encode(..., JSON_UNESCAPED_UNICODE)` would write it."""
        return php_json_encode(self.to_dict())


def validation_summary(exc: ValidationError) -> str:
    """Pydantic errors as `field: message; ...` without echoing input values (may be secret)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)
