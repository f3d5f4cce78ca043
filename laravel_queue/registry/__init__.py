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

Modules: `registration` (the `Registry` table, `@handles`, the default registry), `handler`
(one `Registration` and the handler shapes), `preparation` (`PreparedJob`: decode, middleware,
call), `routing` (which class a payload routes on), `options` (`JobOptions`), `errors`.
"""

from __future__ import annotations

from laravel_queue.registry.errors import CommandValidationError, UnknownJobError, UnknownMiddlewareError
from laravel_queue.registry.handler import FailedHook, Registration
from laravel_queue.registry.options import JobOptions
from laravel_queue.registry.preparation import PreparedJob
from laravel_queue.registry.registration import Handles, Registry, default_registry, handles, import_job_modules
from laravel_queue.registry.routing import CALL_QUEUED_LISTENER, WRAPPER_CLASSES

__all__ = [
    "CALL_QUEUED_LISTENER",
    "WRAPPER_CLASSES",
    "CommandValidationError",
    "FailedHook",
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
