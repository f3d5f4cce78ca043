"""Where exceptions leave the CLI: a user error becomes one line, a bug keeps its traceback.

`main()` runs the typer app inside `run()`. Anything deriving from `UserError` (the
package's exception tree in `laravel_queue.errors`) is printed as one line on stderr,
plus its hint, with exit status 2 for wrong input (configuration, options, job modules)
and 1 for the environment (a service down, tables missing); click's usage errors (bad
option values) become one line with status 2. Besides the tree, `user_error_from` knows by
type the client libraries' "cannot reach" errors that got past the drivers (redis-py,
botocore) and a `DatabaseError` whose text says the database is unreachable, unmigrated or
misconfigured; a bare ValueError is never one.
With `-v`/`--verbose` the traceback is printed above the line.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import typer

from laravel_queue.errors import ConfigurationError, JobImportError, ServiceConnectionError, UserError

if TYPE_CHECKING:
    from typer._click.exceptions import ClickException

    from laravel_queue.db.errors import DatabaseError

MIGRATE_HINT = "Run `laravel-queue migrate` to create the queue tables (or `php artisan migrate` in the Laravel app)."
_VERBOSE_FLAGS = {"-v", "-vv", "-vvv", "--verbose"}
_UNREACHABLE = ("cannot connect", "directory does not exist", "access denied", "unknown database", "authentication")
_MISCONFIGURED = ("unsupported sqlite setting", "db_transaction_mode must be", "invalid db_charset", "is not supported")


def wants_traceback(args: Sequence[str]) -> bool:
    """`-v`/`--verbose` anywhere before a `--`: the root option or a command's own."""
    for arg in args:
        if arg == "--":
            return False
        if arg in _VERBOSE_FLAGS:
            return True
    return False


def _database_error(exc: DatabaseError) -> UserError | None:
    """A database that cannot be reached or lacks its tables; any other SQL error is a bug."""
    text = f"{exc} {exc.__cause__ or ''}".lower()
    if "no such table" in text or (("table" in text or "relation" in text) and "exist" in text):
        error: UserError = ServiceConnectionError(f"Database: {exc}")
        error.hint = MIGRATE_HINT
        return error
    if any(marker in text for marker in _UNREACHABLE):
        return ServiceConnectionError(f"Database: {exc}")
    if any(marker in text for marker in _MISCONFIGURED):  # DB_* values the driver refuses
        return ConfigurationError(f"Database: {exc}")
    return None


def _aws_error(exc: BaseException) -> UserError | None:
    """A botocore failure outside the SQS/DynamoDB drivers' own translation (`aws_errors`).

    botocore is only looked up, not imported: an exception can only be one of its classes
    once it has been imported."""
    botocore_errors = sys.modules.get("botocore.exceptions")
    if botocore_errors is not None and isinstance(exc, (botocore_errors.BotoCoreError, botocore_errors.ClientError)):
        return ServiceConnectionError(f"AWS: {exc}")
    return None


def user_error_from(exc: BaseException) -> UserError | None:
    """`exc` as a UserError when it means wrong input or environment; None for a bug."""
    from laravel_queue.db.errors import DatabaseError
    from laravel_queue.service_errors import redis_unavailable

    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, DatabaseError):
        return _database_error(exc)
    return redis_unavailable(exc) or _aws_error(exc)


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


def _click_exceptions() -> tuple[type[ClickException], type[ClickException] | None]:
    """click's base exception and `NoArgsIsHelpError` (None before click 8.2), from the copy
    of click typer raises: its own since typer 0.20, click itself before."""
    try:
        from typer._click import exceptions as bundled
    except ImportError:  # typer < 0.20: click's classes, whose API typer's copy keeps
        import click.exceptions as click_exceptions

        no_args_is_help = getattr(click_exceptions, "NoArgsIsHelpError", None)
        return cast("type[ClickException]", click_exceptions.ClickException), no_args_is_help
    return bundled.ClickException, bundled.NoArgsIsHelpError


def exit_code_for(error: UserError) -> int:
    """2 for wrong input (usage, configuration, job modules), 1 for the environment."""
    return 2 if isinstance(error, (ConfigurationError, JobImportError)) else 1


def run(invoke: Callable[[], Any], args: Sequence[str]) -> int:
    """Run the app in click's non-standalone mode and turn its outcome into an exit status."""
    click_exception, no_args_is_help = _click_exceptions()
    verbose = wants_traceback(args)
    try:
        result = invoke()
    except click_exception as exc:
        if no_args_is_help is not None and isinstance(exc, no_args_is_help):
            exc.show()
            return 0
        if verbose:
            traceback.print_exc()
        report(_usage_error(exc))
        return exc.exit_code
    except typer.Abort:
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


def _usage_error(exc: ClickException) -> UserError:
    """click's message on one line, naming the command to ask for help."""
    error = ConfigurationError(" ".join(exc.format_message().split()))
    context = getattr(exc, "ctx", None)
    if context is not None:
        error.hint = f"See `{context.command_path} --help`."
    return error
