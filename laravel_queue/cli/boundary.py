"""Where exceptions leave the CLI: a user error becomes one line, a bug keeps its traceback.

`main()` runs the click app inside `run()`. Anything deriving from `UserError` (the
package's exception tree in `laravel_queue.errors`) is printed as one line on stderr,
plus its hint, with exit status 2 for wrong input (configuration, options, job modules)
and 1 for the environment (a service down, tables missing); click's usage errors (bad
option values) become one line with status 2. `user_error_from` also recognises the existing exception classes
that mean "wrong input or environment" (configuration, Redis/database/SQS unreachable,
missing tables) while they still derive from builtins; a bare ValueError is never one.
With `-v`/`--verbose` the traceback is printed above the line.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from click import exceptions as click_exceptions

from laravel_queue.errors import ConfigurationError, JobImportError, ServiceConnectionError, UserError

MIGRATE_HINT = "Run `laravel-queue migrate` to create the queue tables (or `php artisan migrate` in the Laravel app)."
_VERBOSE_FLAGS = {"-v", "-vv", "-vvv", "--verbose"}
_UNREACHABLE = ("cannot connect", "directory does not exist", "access denied", "unknown database", "authentication")
_MISCONFIGURED = ("unsupported sqlite setting", "db_transaction_mode must be", "invalid db_charset", "is not supported")
_AWS_ERRORS = {"botocore.exceptions.BotoCoreError", "botocore.exceptions.ClientError"}


def wants_traceback(args: Sequence[str]) -> bool:
    """`-v`/`--verbose` anywhere before a `--`: the root option or a command's own."""
    for arg in args:
        if arg == "--":
            return False
        if arg in _VERBOSE_FLAGS:
            return True
    return False


def _classes(exc: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def _database_error(exc: BaseException, names: set[str]) -> UserError | None:
    """A database that cannot be reached or lacks its tables; any other SQL error is a bug."""
    if "laravel_queue.db.errors.DatabaseError" not in names:
        return None
    text = f"{exc} {exc.__cause__ or ''}".lower()
    if "no such table" in text or (("table" in text or "relation" in text) and "exist" in text):
        error: UserError = ServiceConnectionError(f"Database: {exc}")
        error.hint = MIGRATE_HINT
        return error
    if "laravel_queue.db.errors.LostConnectionError" in names or any(marker in text for marker in _UNREACHABLE):
        return ServiceConnectionError(f"Database: {exc}")
    if any(marker in text for marker in _MISCONFIGURED):  # DB_* values the driver refuses
        return ConfigurationError(f"Database: {exc}")
    return None


def user_error_from(exc: BaseException) -> UserError | None:
    """`exc` as a UserError when it means wrong input or environment; None for a bug."""
    if isinstance(exc, UserError):
        return exc
    names = _classes(exc)
    if names & {"laravel_queue.config.errors.ConfigError", "laravel_queue.config.dotenv.DotenvError"}:
        return ConfigurationError(str(exc))
    if names & {"laravel_queue.dispatch.command.DispatchError", "laravel_queue.schedule.event.ScheduleError"}:
        return ConfigurationError(str(exc))
    if "laravel_queue.schedule.loader.ScheduleLoadError" in names:
        return JobImportError(str(exc))
    if "redis.exceptions.ConnectionError" in names or "redis.exceptions.TimeoutError" in names:
        return ServiceConnectionError(f"Redis: {exc}")
    if "laravel_queue.drivers.sqs.SqsQueueError" in names:
        return ServiceConnectionError(str(exc))
    if names & _AWS_ERRORS:
        return ServiceConnectionError(f"AWS: {exc}")
    return _database_error(exc, names)


def describe(exc: BaseException) -> str:
    """`NameError: name 'x' is not defined (jobs.py, line 3)`: an error and where it was raised."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def report(error: UserError, *, stream: Any = None) -> None:
    """One line (artisan's ERROR badge), then the hint if there is one."""
    from laravel_queue.style import Style

    out = stream or sys.stderr
    style = Style.for_stream(out)
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    out.write(f"  {style.badge('ERROR', 'red')} {message}\n")
    if error.hint:
        out.write(f"{style.grey(error.hint)}\n")
    out.flush()


def exit_code_for(error: UserError) -> int:
    """2 for wrong input (usage, configuration, job modules), 1 for the environment."""
    return 2 if isinstance(error, (ConfigurationError, JobImportError)) else 1


def run(invoke: Callable[[], Any], args: Sequence[str]) -> int:
    """Run the app in click's non-standalone mode and turn its outcome into an exit status."""
    verbose = wants_traceback(args)
    try:
        result = invoke()
    except click_exceptions.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            return 0
        if verbose:
            traceback.print_exc()
        report(_usage_error(exc))
        return exc.exit_code
    except click_exceptions.Abort:
        sys.stderr.write("Aborted.\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        error = user_error_from(exc)
        if error is None:
            raise
        if verbose:
            traceback.print_exc()
        report(error)
        return exit_code_for(error)
    return result if isinstance(result, int) else 0


def _usage_error(exc: Any) -> UserError:
    """click's message on one line, naming the command to ask for help."""
    error = ConfigurationError(" ".join(exc.format_message().split()))
    context = getattr(exc, "ctx", None)
    if context is not None:
        error.hint = f"See `{context.command_path} --help`."
    return error
