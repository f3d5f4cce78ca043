"""One PHP class bound to one Python handler (`Registration`), and the shapes a handler may take.

The signature rules live here twice over: checked when a handler is registered (so a
wrong shape fails at import, not on the first job) and applied when it is called. Kept
apart from the registry's table and from preparation, which both use them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from laravel_queue.awaitables import check_runnable
from laravel_queue.job import Job
from laravel_queue.lazy_pydantic import is_model_class
from laravel_queue.registry.errors import CommandValidationError
from laravel_queue.registry.options import JobOptions
from laravel_queue.signatures import positional

__all__ = [
    "FailedHook",
    "Registration",
    "call_failed_hook",
    "call_flexible",
    "check_failed_hook",
    "check_target",
]

if TYPE_CHECKING:
    from pydantic import ValidationError

FailedHook = Callable[..., Any]
Validator = Callable[[dict[str, Any]], Any]


@dataclass
class Registration:
    """One PHP class (and optional `@method`) bound to a Python function or class."""

    php_class: str
    target: Callable[..., Any] | type | None
    method: str | None = None
    options: JobOptions = field(default_factory=JobOptions)
    failed_hook: FailedHook | None = None
    _validate: Validator | None = field(default=None, repr=False)

    @property
    def is_class(self) -> bool:
        return isinstance(self.target, type)

    @property
    def can_handle(self) -> bool:
        if self.target is None:
            return False
        return not self.is_class or callable(getattr(self.target, "handle", None))

    def build(self, properties: Mapping[str, Any]) -> Any:
        """An instance of the class form, validated from the command's properties."""
        assert isinstance(self.target, type)
        validate = self._validate or self._make_validator()
        try:
            return validate(dict(properties))
        except _validation_error() as exc:  # evaluated only once something was raised
            from laravel_queue.payload import validation_summary

            raise CommandValidationError(
                f"command {self.php_class} does not fit {self.target.__name__}: {validation_summary(exc)}"
            ) from None

    def _make_validator(self) -> Validator:
        """The class's pydantic validation, made at the first build (pydantic is imported here, once)."""
        assert isinstance(self.target, type)
        if is_model_class(self.target):
            self._validate = self.target.model_validate
        else:
            from pydantic import TypeAdapter

            self._validate = TypeAdapter(self.target).validate_python
        return self._validate


def _validation_error() -> type[ValidationError]:
    from pydantic import ValidationError

    return ValidationError


def check_target(php_class: str, target: Any) -> None:
    """A function, or a pydantic model / dataclass; nothing calling cannot run (generators, coroutine objects)."""
    if target is None or not isinstance(target, type):
        if target is not None:
            check_runnable(target, f"the handler for {php_class}")
        if target is not None and not callable(target):
            raise TypeError(f"handler for {php_class} must be a function or a class, got {target!r}")
        return
    if not (is_model_class(target) or dataclasses.is_dataclass(target)):
        raise TypeError(
            f"class handler {target.__name__} for {php_class} must be a pydantic BaseModel or a dataclass "
            "(its instance is validated from the command's properties)"
        )
    for method in ("handle", "failed"):
        if callable(getattr(target, method, None)):
            check_runnable(getattr(target, method), f"{target.__name__}.{method}() for {php_class}")


def _positional_count(fn: Callable[..., Any]) -> int | None:
    """The exact number of positional parameters; None for `*args` or an unreadable signature."""
    found = positional(fn)
    return None if found is None or found.var else found.fixed


def check_failed_hook(hook: FailedHook) -> None:
    """A failure hook takes `(exc)` or `(job, command, exc)`; anything else fails when registered."""
    check_runnable(hook, "the failed hook")
    if not callable(hook):
        raise TypeError(f"failed hook must be callable, got {hook!r}")
    if _positional_count(hook) not in (None, 1, 3):
        raise TypeError("a failed hook takes (exc) or (job, command, exc)")


def call_failed_hook(hook: FailedHook, job: Job, command: Any, exc: BaseException | None) -> Any:
    """The hook with the arguments it asked for; a coroutine for an async hook."""
    if _positional_count(hook) == 1:
        return hook(exc)
    return hook(job, command, exc)


def call_flexible(method: Callable[..., Any], job: Job) -> Any:
    """`handle(self)` or `handle(self, job)`: pass the job handle only when asked for."""
    return method(job) if _positional_count(method) not in (0,) else method()
