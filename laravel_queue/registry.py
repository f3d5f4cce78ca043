"""Which Python code runs a job, keyed by the PHP class name Laravel queued.

Two handler forms, one registry:

* a function `fn(job, command)`: `job` is the reserved-job handle, `command` the
  decoded command (a `PhpObject` for object jobs, the `data` value for
  `Class@method` jobs);
* a pydantic model or dataclass with `handle(self)` or `handle(self, job)`: an
  instance is validated from the command's properties (bare names), so a command
  that doesn't fit fails with a message naming the field. The same class can be
  given to `dispatch()` to queue that PHP job.

Failure hooks mirror Laravel's `failed($e)`: a class's `failed(self, exc)` method, or
for functions `handles(..., failed=fn)` / `@handles(...).failed`, called as `fn(exc)`
or `fn(job, command, exc)`.

Any of these may be `async def` (function, `handle`, `failed`): the worker awaits
it. What calling cannot run (a generator, an async generator, a coroutine object
given instead of its function) is rejected when registered.

Registrations may also declare what PHP computes from methods Python cannot run
(`tries()`, `backoff()`, `retryUntil()`, `displayName()`, `uniqueId()`, middleware):
`@handles("App\\Jobs\\Foo", tries=3, backoff=[1, 5])` (decisions 2 and 3).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from laravel_queue.awaitables import check_runnable, is_async_callable, resolve, run_sync
from laravel_queue.errors import ConfigurationError, PayloadError
from laravel_queue.job import Job
from laravel_queue.middleware.pipeline import asend_through, send_through
from laravel_queue.middleware.serialized import resolve_middleware
from laravel_queue.payload import CALL_QUEUED_HANDLER, decode_command, payload_dict, validation_summary

__all__ = [
    "WRAPPER_CLASSES",
    "CommandValidationError",
    "Handles",
    "JobOptions",
    "PreparedJob",
    "Registration",
    "Registry",
    "UnknownJobError",
    "UnknownMiddlewareError",
    "default_registry",
    "handles",
    "import_job_modules",
]

CALL_QUEUED_LISTENER = "Illuminate\\Events\\CallQueuedListener"

WRAPPER_CLASSES: Mapping[str, str | None] = {
    CALL_QUEUED_LISTENER: None,  # inner object: the event, data[0]
    "Illuminate\\Notifications\\SendQueuedNotifications": "notification",
    "Illuminate\\Mail\\SendQueuedMailable": "mailable",
    "Illuminate\\Broadcasting\\BroadcastEvent": "event",
}
"""Laravel classes that queue another object; jobs route by the wrapped object's class."""


class UnknownJobError(ConfigurationError, LookupError):
    """No Python handler is registered for the job's PHP class."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        hint = (
            f"no Python handler is registered for [{name}]{detail}; register one with "
            f'@handles("{name}") (from laravel_queue import handles) in a module passed to --jobs'
        )
        super().__init__(hint)


class UnknownMiddlewareError(UnknownJobError):
    """The job carries middleware Python cannot honour; like an unknown job it follows `--unknown`."""

    def __init__(self, name: str, middleware: Sequence[str]) -> None:
        self.name = name
        self.middleware = list(middleware)
        LookupError.__init__(
            self,
            f"job [{name}] uses middleware the Python worker cannot honour: {'; '.join(self.middleware)} "
            "(run it on a PHP worker with --unknown=release, or declare a Python equivalent)",
        )


class CommandValidationError(PayloadError, ValueError):
    """The command's properties do not fit the handler's model; the message names the field."""


@dataclass(frozen=True)
class JobOptions:
    """Laravel job knobs PHP may compute from methods, declared for a PHP class in Python.

    `retry_until` is seconds from dispatch; `backoff` seconds (one value or a list);
    `unique_id` a string or `fn(command) -> str`; `middleware` what the class's
    `middleware()` returns in PHP: `laravel_queue.middleware` instances (same keys and
    counters as PHP's) or your own `mw(job, command, next)`.
    """

    tries: int | None = None
    backoff: int | Sequence[int] | str | None = None
    timeout: int | None = None
    retry_until: int | None = None
    max_exceptions: int | None = None
    fail_on_timeout: bool | None = None
    display_name: str | None = None
    unique_id: str | Callable[[Any], str] | None = None
    unique_for: int | None = None
    unique: bool | str | None = None
    """True for ShouldBeUnique, "until_processing" for ShouldBeUniqueUntilProcessing."""
    unique_via: str | None = None
    middleware: tuple[Any, ...] = ()
    should_be_encrypted: bool = False
    serializes_models: bool = True
    delete_when_missing_models: bool | None = None
    debounce_for: int | None = None
    """Laravel 13 `#[DebounceFor(seconds)]`: only the newest dispatch of a burst runs (bus/debounce.py)."""
    debounce_max_wait: int | None = None
    debounce_id: str | Callable[[Any], str] | None = None
    debounce_via: str | None = None
    dont_retry: tuple[type[BaseException], ...] = ()
    """Exceptions that fail the job at once instead of releasing it (Laravel 13's `dontRetry`)."""


FailedHook = Callable[..., Any]


@dataclass
class Registration:
    """One PHP class (and optional `@method`) bound to a Python function or class."""

    php_class: str
    target: Callable[..., Any] | type | None
    method: str | None = None
    options: JobOptions = field(default_factory=JobOptions)
    failed_hook: FailedHook | None = None
    _adapter: TypeAdapter[Any] | None = field(default=None, repr=False)

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
        try:
            if issubclass(self.target, BaseModel):
                return self.target.model_validate(dict(properties))
            if self._adapter is None:
                self._adapter = TypeAdapter(self.target)
            return self._adapter.validate_python(dict(properties))
        except ValidationError as exc:
            raise CommandValidationError(
                f"command {self.php_class} does not fit {self.target.__name__}: {validation_summary(exc)}"
            ) from None


@dataclass
class PreparedJob:
    """A reserved job with its handler and decoded command, ready for the worker to run.

    `handle()`/`failed()` are the sync entry points (an async handler is run to completion
    on the thread's event loop); `ahandle()`/`afailed()` are the async worker's, awaited
    on its loop. `call_handler()` is the one place the handler is called.
    """

    job: Job
    handler: Registration
    command: Any
    instance: Any = None
    middleware: list[Any] = field(default_factory=list)
    """Laravel's order: the registration's declared `middleware()`, then the serialized property."""

    def call_handler(self) -> Any:
        """The handler alone, without middleware (the pipeline's innermost step); a coroutine for an async handler."""
        if self.handler.is_class:
            return _call_flexible(self.instance.handle, self.job)
        assert self.handler.target is not None
        return self.handler.target(self.job, self.command)

    @property
    def is_async(self) -> bool:
        """True when the handler is `async def` (the async worker runs it on its loop, not in a thread)."""
        if self.handler.is_class:
            return is_async_callable(getattr(self.instance, "handle", None))
        return is_async_callable(self.handler.target)

    def handle(self) -> Any:
        if self.middleware and self.is_async:  # the pipeline must wait for the coroutine, not wrap it
            return run_sync(asend_through(self.job, self.command, self.middleware, self._innermost))
        if self.middleware:
            return run_sync(send_through(self.job, self.command, self.middleware, self._innermost))
        return run_sync(self.call_handler())

    async def ahandle(self) -> Any:
        if self.middleware:
            return await asend_through(self.job, self.command, self.middleware, self._innermost)
        return await resolve(self.call_handler())

    def _innermost(self, job: Job, command: Any) -> Any:
        return self.call_handler()

    def failed(self, exc: BaseException | None) -> None:
        """Laravel's `failed($e)`: the class's own hook or the registered function; else nothing."""
        run_sync(self._call_failed(exc))

    async def afailed(self, exc: BaseException | None) -> None:
        await resolve(self._call_failed(exc))

    def _call_failed(self, exc: BaseException | None) -> Any:
        hook = self.handler.failed_hook
        if hook is not None:
            return _call_failed_hook(hook, self.job, self.command, exc)
        if self.handler.is_class and callable(getattr(self.instance, "failed", None)):
            return self.instance.failed(exc)
        return None


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
        _check_target(php_class, target)
        if failed is not None:
            _check_failed_hook(failed)
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
        _check_failed_hook(hook)
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
        payload = payload_dict(job)
        data = payload.get("data")
        if payload.get("job") == CALL_QUEUED_HANDLER and isinstance(data, dict):
            command_name = data.get("commandName")
            if isinstance(command_name, str) and command_name:
                if command_name in WRAPPER_CLASSES and payload.get("displayName"):
                    return str(payload["displayName"])
                return command_name
            return str(payload.get("displayName") or CALL_QUEUED_HANDLER)
        return str(payload.get("job") or "").partition("@")[0]

    def lookup(self, job: Job | Mapping[str, Any]) -> Registration:
        """The registration for a job, or UnknownJobError. Never decodes the command."""
        payload = payload_dict(job)
        name = self.resolve_name(payload)
        if payload.get("job") == CALL_QUEUED_HANDLER:
            candidates: list[tuple[str, str | None]] = [(name, None)]
            data = payload.get("data")
            command_name = data.get("commandName") if isinstance(data, dict) else None
            if isinstance(command_name, str) and command_name != name:
                candidates.append((command_name, None))  # a handler for the wrapper itself
        else:
            _, _, method = str(payload.get("job") or "").partition("@")
            candidates = [(name, method or "fire")]
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
        registration = self.lookup(job)
        is_object_job = job.payload.get("job") == CALL_QUEUED_HANDLER
        command = decode_command(job, encrypter) if is_object_job else job.payload.get("data")
        middleware, unsupported = resolve_middleware(command, registration.options.middleware)
        if unsupported:
            raise UnknownMiddlewareError(self.resolve_name(job), unsupported)
        instance = None
        if registration.is_class:
            instance = registration.build(_properties_of(_inner_command(command)))
        return PreparedJob(job=job, handler=registration, command=command, instance=instance, middleware=middleware)

    def __contains__(self, php_class: object) -> bool:
        return isinstance(php_class, str) and self.get(php_class) is not None

    def __len__(self) -> int:
        return len(self._entries)


def _inner_command(command: Any) -> Any:
    """For wrapper classes, the object the PHP handler really receives."""
    from laravel_queue.php import PhpObject

    if not isinstance(command, PhpObject) or command.class_name not in WRAPPER_CLASSES:
        return command
    prop = WRAPPER_CLASSES[command.class_name]
    if prop is None:  # CallQueuedListener: the listener's handle() arguments
        data = command.get("data")
        args = list(data.values()) if isinstance(data, dict) else list(data or [])
        return args[0] if len(args) == 1 else command
    return command.get(prop, command)


def _properties_of(command: Any) -> dict[str, Any]:
    from laravel_queue.php import PhpObject

    if isinstance(command, PhpObject):
        return {str(k): v for k, v in command.to_dict().items() if isinstance(k, str)}
    if isinstance(command, Mapping):
        return {str(k): v for k, v in command.items()}
    raise CommandValidationError(
        f"a class handler needs an object or a JSON object as command, got {type(command).__name__}"
    )


def _check_target(php_class: str, target: Any) -> None:
    if target is None or not isinstance(target, type):
        if target is not None:
            check_runnable(target, f"the handler for {php_class}")
        if target is not None and not callable(target):
            raise TypeError(f"handler for {php_class} must be a function or a class, got {target!r}")
        return
    if not (issubclass(target, BaseModel) or dataclasses.is_dataclass(target)):
        raise TypeError(
            f"class handler {target.__name__} for {php_class} must be a pydantic BaseModel or a dataclass "
            "(its instance is validated from the command's properties)"
        )
    for method in ("handle", "failed"):
        if callable(getattr(target, method, None)):
            check_runnable(getattr(target, method), f"{target.__name__}.{method}() for {php_class}")


def _positional_count(fn: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _check_failed_hook(hook: FailedHook) -> None:
    check_runnable(hook, "the failed hook")
    if not callable(hook):
        raise TypeError(f"failed hook must be callable, got {hook!r}")
    if _positional_count(hook) not in (None, 1, 3):
        raise TypeError("a failed hook takes (exc) or (job, command, exc)")


def _call_failed_hook(hook: FailedHook, job: Job, command: Any, exc: BaseException | None) -> Any:
    if _positional_count(hook) == 1:
        return hook(exc)
    return hook(job, command, exc)


def _call_flexible(method: Callable[..., Any], job: Job) -> Any:
    """`handle(self)` or `handle(self, job)`: pass the job handle only when asked for."""
    return method(job) if _positional_count(method) not in (0,) else method()


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
