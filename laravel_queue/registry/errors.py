"""Why a reserved job has no Python handler to run, or its command does not fit the handler.

Separate from the registry so the worker and the dispatch side can name these errors
without reaching into how registrations are stored or prepared.
"""

from __future__ import annotations

from collections.abc import Sequence

from laravel_queue.errors import ConfigurationError, PayloadError

__all__ = ["CommandValidationError", "UnknownJobError", "UnknownMiddlewareError"]


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
