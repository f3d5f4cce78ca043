"""From a reserved job and its registration to a ready call: `PreparedJob` and `prepare_job`.

Preparation decodes the command, resolves its middleware and builds the class handler's
instance; `PreparedJob` then runs the handler through the middleware pipeline, sync or
async. Separate from the registry's table because this is the per-job hot path, and it
needs nothing of how registrations were made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laravel_queue.awaitables import is_async_callable, resolve, run_sync
from laravel_queue.job import Job
from laravel_queue.middleware.pipeline import asend_through, send_through
from laravel_queue.middleware.serialized import resolve_middleware
from laravel_queue.payload_codec import CALL_QUEUED_HANDLER, decode_command
from laravel_queue.registry.errors import CommandValidationError, UnknownMiddlewareError
from laravel_queue.registry.handler import Registration, call_failed_hook, call_flexible
from laravel_queue.registry.routing import WRAPPER_CLASSES, job_class_name

__all__ = ["PreparedJob", "prepare_job"]


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
            return call_flexible(self.instance.handle, self.job)
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
            return call_failed_hook(hook, self.job, self.command, exc)
        if self.handler.is_class and callable(getattr(self.instance, "failed", None)):
            return self.instance.failed(exc)
        return None


def prepare_job(registration: Registration, job: Job, *, encrypter: Any = None) -> PreparedJob:
    """Decode the job's command for `registration` and build what runs it.

    Raises UnknownMiddlewareError (middleware Python cannot honour), CommandDecodeError or
    CommandValidationError.
    """
    is_object_job = job.payload.get("job") == CALL_QUEUED_HANDLER
    command = decode_command(job, encrypter) if is_object_job else job.payload.get("data")
    middleware, unsupported = resolve_middleware(command, registration.options.middleware)
    if unsupported:
        raise UnknownMiddlewareError(job_class_name(job), unsupported)
    instance = None
    if registration.is_class:
        instance = registration.build(_properties_of(_inner_command(command)))
    return PreparedJob(job=job, handler=registration, command=command, instance=instance, middleware=middleware)


def _inner_command(command: Any) -> Any:
    """For wrapper classes, the object the PHP handler really receives."""
    from laravel_queue.php import PhpObject

    class_name = command.class_name if isinstance(command, PhpObject) else None
    if not isinstance(class_name, str) or class_name not in WRAPPER_CLASSES:
        return command
    prop = WRAPPER_CLASSES[class_name]
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
