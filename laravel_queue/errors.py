"""One exception tree for the whole package.

Every exception laravel_queue raises on purpose derives from `LaravelQueueError`.
`UserError` and its branches mean "the input or the environment is wrong": the CLI
prints them as one line (a traceback only with `-v`). Everything else that escapes
is a bug and keeps its traceback. Existing classes keep their old builtin bases
(`ValueError`, `LookupError`, ...) beside these, so callers that caught those still do.

This module is a leaf: it imports nothing from the package.
"""

from __future__ import annotations


class LaravelQueueError(Exception):
    """Root of every exception the package raises on purpose."""


class UserError(LaravelQueueError):
    """Wrong input or environment; shown to the user as one line."""

    #: a hint printed after the message, e.g. "run `laravel-queue migrate`"
    hint: str | None = None


class ConfigurationError(UserError):
    """Settings, .env files, command-line options or registrations that cannot work."""


class JobImportError(UserError):
    """A `--jobs` / `--schedule` module that cannot be imported."""


class ServiceConnectionError(UserError):
    """Redis, a database, SQS or another service cannot be reached or is not set up."""


class PayloadError(UserError):
    """A job payload or serialized value that cannot be read."""


class JobOutcomeError(LaravelQueueError):
    """Why a job or scheduled task ended as it did (attempts, timeout, `fail()`, a missing model):
    recorded in failed_jobs or the log with Laravel's class name, not a fault of the package."""


class InternalError(LaravelQueueError):
    """A condition inside the package (not the user's input); keeps its traceback."""
