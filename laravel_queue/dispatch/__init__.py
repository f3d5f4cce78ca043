"""Queue jobs from Python that a PHP worker (or ours) runs: Laravel's `dispatch()`.

The envelope is built as Laravel's `Queue::createPayloadArray` builds it (spec §2.1,
§4, §18 items 15-17): same fields in the same order, the command PHP-serialized (or
encrypted for `ShouldBeEncrypted`), knobs read from the command's public properties
and, where PHP would call a method, from what the registry declares for the class.

A command is described by its PHP class and properties, in one of three ways:

* a `PhpObject` (sent as given);
* an instance of a pydantic model or dataclass bound with `@handles("App\\Jobs\\Foo")`
  (field alias = PHP property name; visibility via `Annotated[..., Protected]`,
  `Annotated[..., Private]` or a class attribute `__php_visibility__ = {"field": "private"}`);
* `Command("App\\Jobs\\Foo", {"prop": value})`.

Modules: `command` (the command forms), `envelope` (the payload), `unique` (ShouldBeUnique at
dispatch), `push` (sending, and which connections).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from laravel_queue.dispatch.command import (
    Command,
    Delay,
    DispatchError,
    PhpProperty,
    Private,
    Protected,
    Public,
    Visibility,
    delay_seconds,
    queueable_defaults,
)
from laravel_queue.dispatch.envelope import command_payload
from laravel_queue.dispatch.push import Dispatcher, default_dispatcher, dispatch, push_raw, set_default_connections
from laravel_queue.payload_codec import string_job_payload

__all__ = [
    "Command",
    "Delay",
    "DispatchError",
    "Dispatcher",
    "PhpProperty",
    "Private",
    "Protected",
    "Public",
    "Visibility",
    "command_payload",
    "default_dispatcher",
    "delay_seconds",
    "dispatch",
    "push_raw",
    "queueable_defaults",
    "set_default_connections",
    "string_job_payload",
]


class _CallableModule(types.ModuleType):
    """`from laravel_queue import dispatch` may yield this module (Python binds a package's
    submodule under its name once imported); calling it is calling `dispatch()`."""

    def __call__(self, *args: Any, **kwargs: Any) -> str | int | None:
        return dispatch(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
