"""The `Registry`: PHP class name (and method) -> `Registration`, filled by `register`/`@handles`.

This is the table and its two sides: registering (`register`, `handles`, failure hooks,
`import_job_modules` for the CLI's `--jobs`) and looking up (`get`, `for_type`, `lookup`).
`prepare` is the worker's entry point: look up before decoding, then hand over to
`preparation`, which owns the per-job work.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from laravel_queue.job import Job
from laravel_queue.payload_codec import payload_dict
from laravel_queue.registry.errors import UnknownJobError
from laravel_queue.registry.handler import FailedHook, Registration, check_failed_hook, check_target
from laravel_queue.registry.options import JobOptions
from laravel_queue.registry.preparation import PreparedJob, prepare_job
from laravel_queue.registry.routing import handler_candidates, job_class_name

__all__ = ["Handles", "Registry", "default_registry", "handles", "import_job_modules"]


class Handles:
    """What `handles(...)` returns: a decorator, plus `.failed` to decorate the failure hook."""

    def __init__(self, registry: Registry, php_class: str, method: str | None, options: JobOptions) -> None:
        self._registry = registry
        self._php_class = php_class
        self._method = method
        self._options = options

    def __call__(self, target: Any) -> Any:
        self._registry.register(self._php_class, target, method=self._method, options=self._options)
        return target

    def failed(self, hook: FailedHook) -> FailedHook:
        self._registry.set_failed_hook(self._php_class, hook, method=self._method)
        return hook


class Registry:
    """PHP class name (and optional method) -> Python handler."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str | None], Registration] = {}
        self._by_type: dict[type, Registration] = {}

    # -- registering --------------------------------------------------------------------------
    def register(
        self,
        php_class: str,
        target: Callable[..., Any] | type | None,
        *,
        method: str | None = None,
        failed: FailedHook | None = None,
        options: JobOptions | None = None,
        **knobs: Any,
    ) -> Registration:
        """Bind `php_class` (optionally `php_class@method`) to `target`; returns the registration."""
        if not php_class or not isinstance(php_class, str):
            raise ValueError("php_class must be a non-empty PHP class name")
        php_class = php_class.lstrip("\\")
        if "@" in php_class and method is None:
            php_class, method = php_class.split("@", 1)
        options = dataclasses.replace(options or JobOptions(), **knobs) if knobs else options or JobOptions()
        check_target(php_class, target)
        if failed is not None:
            check_failed_hook(failed)
        existing = self._entries.get((php_class, method))
        registration = Registration(
            php_class=php_class,
            target=target,
            method=method,
            options=options,
            failed_hook=failed or (existing.failed_hook if existing else None),
        )
        self._entries[(php_class, method)] = registration
        if isinstance(target, type):
            self._by_type[target] = registration
        return registration

    def set_failed_hook(self, php_class: str, hook: FailedHook, *, method: str | None = None) -> None:
        check_failed_hook(hook)
        key = (php_class.lstrip("\\"), method)
        if key not in self._entries:  # hook declared before the handler: keep it for later
            self._entries[key] = Registration(php_class=key[0], target=None, method=method)
        self._entries[key].failed_hook = hook

    def handles(
        self,
        php_class: str,
        method: str | None = None,
        *,
        failed: FailedHook | None = None,
        **knobs: Any,
    ) -> Handles:
        """Decorator form of `register`; knobs are `JobOptions` fields."""
        options = JobOptions(**knobs)
        decorator = Handles(self, php_class.lstrip("\\"), method, options)
        if failed is not None:
            decorator.failed(failed)
        return decorator

    def unregister(self, php_class: str, method: str | None = None) -> None:
        registration = self._entries.pop((php_class.lstrip("\\"), method), None)
        if registration is not None and isinstance(registration.target, type):
            self._by_type.pop(registration.target, None)

    # -- looking up ---------------------------------------------------------------------------
    def get(self, php_class: str, method: str | None = None) -> Registration | None:
        """The registration for a class (and method, falling back to the class-wide one)."""
        php_class = php_class.lstrip("\\")
        if method is not None and (php_class, method) in self._entries:
            return self._entries[(php_class, method)]
        return self._entries.get((php_class, None))

    def for_type(self, cls: type) -> Registration | None:
        """The registration a model/dataclass was bound with (used by `dispatch`)."""
        for klass in cls.__mro__:
            if klass in self._by_type:
                return self._by_type[klass]
        return None

    def options_for(self, php_class: str) -> JobOptions:
        registration = self.get(php_class)
        return registration.options if registration else JobOptions()

    def resolve_name(self, job: Job | Mapping[str, Any]) -> str:
        """The class a job routes on: commandName, a wrapper's inner class, or `Class` of `Class@method`."""
        return job_class_name(job)

    def lookup(self, job: Job | Mapping[str, Any]) -> Registration:
        """The registration for a job, or UnknownJobError. Never decodes the command."""
        payload = payload_dict(job)
        name = self.resolve_name(payload)
        candidates = handler_candidates(payload, name)
        for php_class, method in candidates:
            registration = self.get(php_class, method)
            if registration is not None and registration.can_handle:
                return registration
        registration = self.get(*candidates[0])
        dispatch_only = registration is not None and registration.target is not None
        detail = " (registered for dispatching only: the class has no handle() method)" if dispatch_only else ""
        raise UnknownJobError(name, detail)

    # -- the worker's entry point ---------------------------------------------------------------
    def prepare(self, job: Job, *, encrypter: Any = None) -> PreparedJob:
        """Find the handler (before decoding, so an unknown job stays untouched), then decode.

        Raises UnknownJobError (UnknownMiddlewareError for middleware Python cannot honour),
        CommandDecodeError or CommandValidationError.
        """
        return prepare_job(self.lookup(job), job, encrypter=encrypter)

    def __contains__(self, php_class: object) -> bool:
        return isinstance(php_class, str) and self.get(php_class) is not None

    def __len__(self) -> int:
        return len(self._entries)


def import_job_modules(modules: str | Sequence[str]) -> list[Any]:
    """Import the user's handler modules (the CLI's `--jobs mod1,mod2`) so they register."""
    names = modules.split(",") if isinstance(modules, str) else list(modules)
    imported = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        try:
            imported.append(importlib.import_module(name))
        except ImportError as exc:
            raise ImportError(f"cannot import job module {name!r} (from --jobs): {exc}") from exc
    return imported


default_registry = Registry()
"""The registry `@handles` and the worker use unless told otherwise."""


def handles(
    php_class: str,
    method: str | None = None,
    *,
    failed: FailedHook | None = None,
    registry: Registry | None = None,
    **knobs: Any,
) -> Handles:
    """Register a function or class for a PHP job class: `@handles("App\\\\Jobs\\\\Foo", tries=3)`."""
    return (default_registry if registry is None else registry).handles(php_class, method, failed=failed, **knobs)
