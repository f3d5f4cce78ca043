"""Scheduled events: the shell-command event (`command`/`exec`) every event is built on.

Mirrors Laravel's Event: the same attributes, filters, callbacks and run sequence
(spec §14.4-14.5), and the same mutex names (§14.1) so Python and PHP schedulers
share locks for the same task. The in-process events (`call`/`job`) live in
`callback_event`; `CallbackEvent`, `JobEvent` and `job_display_name` are still
importable from here.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from laravel_queue.awaitables import run_sync
from laravel_queue.errors import ConfigurationError
from laravel_queue.schedule.commands import escape_argument, normalize_command
from laravel_queue.schedule.frequencies import ManagesFrequencies
from laravel_queue.schedule.timing import is_due, validate_expression, zone

if TYPE_CHECKING:
    from typing_extensions import Self

    from laravel_queue.schedule.callback_event import CallbackEvent as CallbackEvent
    from laravel_queue.schedule.callback_event import JobEvent as JobEvent
    from laravel_queue.schedule.callback_event import job_display_name as job_display_name
    from laravel_queue.schedule.context import ScheduleContext
    from laravel_queue.schedule.schedule import Schedule

log = logging.getLogger("laravel_queue.schedule")

DEFAULT_OUTPUT = "/dev/null"
Condition = Callable[[], Any] | bool


class ScheduleError(ConfigurationError, ValueError):
    """A schedule definition that Laravel would also reject (message as Laravel's)."""


@dataclass(frozen=True)
class _AfterCallback:
    callback: Callable[..., Any]
    only_if: Callable[[int | None], bool] | None = None


_MOVED_TO_CALLBACK_EVENT = frozenset({"CallbackEvent", "JobEvent", "job_display_name"})


def __getattr__(name: str) -> Any:
    """The old import path of the in-process events, without an import circle with `callback_event`."""
    if name in _MOVED_TO_CALLBACK_EVENT:
        from laravel_queue.schedule import callback_event

        return getattr(callback_event, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _truthy(condition: Condition) -> bool:
    return bool(run_sync(condition()) if callable(condition) else condition)


def _call(callback: Callable[..., Any], event: Event) -> Any:
    """Call with the event when the callback takes an argument, else with none."""
    try:
        wants_event = bool(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        wants_event = False
    return run_sync(callback(event) if wants_event else callback())


class Event(ManagesFrequencies):
    """A shell command run on a cron expression (`schedule.exec(...)` / `schedule.command(...)`)."""

    def __init__(
        self,
        schedule: Schedule,
        command: str | None,
        *,
        php_binary: str = "php",
        artisan_binary: str = "artisan",
    ) -> None:
        self.schedule = schedule
        self.command = command
        self.php_binary = php_binary
        self.artisan_binary = artisan_binary
        self.expression = "* * * * *"
        self.repeat_seconds: int | None = None
        self._timezone: str | None = None
        self.event_description: str | None = None
        self.event_environments: list[str] = []
        self.runs_even_in_maintenance_mode = False
        self.prevents_overlapping = False
        self.expires_at = 1440
        self.runs_on_one_server = False
        self.runs_in_background = False
        self.output = DEFAULT_OUTPUT
        self.should_append_output = False
        self.exit_code: int | None = None
        self.last_checked: datetime | None = None
        self._filters: list[Condition] = []
        self._rejects: list[Condition] = []
        self._before: list[Callable[..., Any]] = []
        self._after: list[_AfterCallback] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.expression!r} {self.summary()!r}>"

    def _now(self) -> datetime:
        return self.schedule.now()

    # -- definition helpers (chainable) ------------------------------------------------------

    def cron(self, expression: str) -> Self:
        self.expression = validate_expression(expression)
        return self

    def name(self, description: str) -> Self:
        return self.description(description)

    def description(self, description: str) -> Self:
        self.event_description = description
        return self

    def environments(self, *environments: str | Iterable[str]) -> Self:
        names: list[str] = []
        for item in environments:
            names.extend([item] if isinstance(item, str) else item)
        self.event_environments = names
        return self

    def even_in_maintenance_mode(self) -> Self:
        self.runs_even_in_maintenance_mode = True
        return self

    def without_overlapping(self, expires_minutes: int = 1440) -> Self:
        self.prevents_overlapping = True
        self.expires_at = int(expires_minutes)
        return self.skip(lambda: self.schedule.context().event_mutex.exists(self))

    def on_one_server(self) -> Self:
        self.runs_on_one_server = True
        return self

    def run_in_background(self) -> Self:
        self.runs_in_background = True
        return self

    def when(self, condition: Condition) -> Self:
        self._filters.append(condition)
        return self

    def skip(self, condition: Condition) -> Self:
        self._rejects.append(condition)
        return self

    def before(self, callback: Callable[..., Any]) -> Self:
        self._before.append(callback)
        return self

    def after(self, callback: Callable[..., Any]) -> Self:
        self._after.append(_AfterCallback(callback))
        return self

    def then(self, callback: Callable[..., Any]) -> Self:
        return self.after(callback)

    def on_success(self, callback: Callable[..., Any]) -> Self:
        self._after.append(_AfterCallback(callback, lambda code: code == 0))
        return self

    def on_failure(self, callback: Callable[..., Any]) -> Self:
        self._after.append(_AfterCallback(callback, lambda code: code != 0))
        return self

    def send_output_to(self, location: str, append: bool = False) -> Self:
        self.output = str(location)
        self.should_append_output = append
        return self

    def append_output_to(self, location: str) -> Self:
        return self.send_output_to(location, append=True)

    def store_output(self) -> Self:
        """Laravel's `storeOutput()`: append to storage/logs/schedule-<sha1(mutex name)>.log."""
        return self.append_output_to(self._default_log_path())

    def _default_log_path(self) -> str:
        digest = hashlib.sha1(self.mutex_name().encode()).hexdigest()
        return f"storage/logs/schedule-{digest}.log"

    # -- identity -------------------------------------------------------------------------

    def is_repeatable(self) -> bool:
        return self.repeat_seconds is not None

    def timezone_name(self) -> str:
        return self._timezone or self.schedule.timezone_name()

    def tz(self) -> tzinfo:
        return zone(self.timezone_name())

    def _now_in_event_zone(self) -> datetime:
        return self._now().astimezone(self.tz())

    def mutex_name(self) -> str:
        """`framework/schedule-` + sha1(expression + normalized command) (Laravel 11.36+)."""
        normalized = normalize_command(self.command or "", self.php_binary, self.artisan_binary)
        return "framework/schedule-" + hashlib.sha1((self.expression + normalized).encode()).hexdigest()

    def normalized_command(self) -> str:
        return normalize_command(self.command or "", self.php_binary, self.artisan_binary)

    def summary(self) -> str:
        """`getSummaryForDisplay`: the description, else the full shell command."""
        return self.event_description if self.event_description is not None else self.build_command()

    def display_command(self) -> str:
        """What `schedule:run` prints in `Running [...]`: the command without the PHP binary."""
        return (self.command or "").replace(escape_argument(self.php_binary), "").strip()

    def command_without_binaries(self) -> str:
        """How `schedule:test --name` matches: the command without `'<php>' 'artisan'`."""
        binaries = f"{escape_argument(self.php_binary)} {escape_argument(self.artisan_binary)}"
        return (self.command or "").replace(binaries, "").strip()

    # -- shell command ---------------------------------------------------------------------

    def build_command(self, finish_command: str | None = None) -> str:
        """Laravel's CommandBuilder (POSIX): foreground or background shell line."""
        redirect = " >> " if self.should_append_output else " > "
        output = escape_argument(self.output)
        if self.runs_in_background and finish_command is not None:
            return (
                f"({self.command}{redirect}{output} 2>&1 ; {finish_command} \"{self.mutex_name()}\" \"$?\")"
                f" > {escape_argument(DEFAULT_OUTPUT)} 2>&1 &"
            )
        return f"{self.command}{redirect}{output} 2>&1"

    # -- due-ness and filters ----------------------------------------------------------------

    def is_due(self, ctx: ScheduleContext, now: datetime) -> bool:
        if not self.runs_even_in_maintenance_mode and ctx.is_down_for_maintenance():
            return False
        return is_due(self.expression, now, self.tz()) and self.runs_in_environment(ctx.environment)

    def runs_in_environment(self, environment: str) -> bool:
        return not self.event_environments or environment in self.event_environments

    def filters_pass(self, ctx: ScheduleContext) -> bool:
        self.last_checked = ctx.now()
        if not all(_truthy(condition) for condition in self._filters):
            return False
        return not any(_truthy(condition) for condition in self._rejects)

    def should_repeat_now(self, now: datetime) -> bool:
        if self.repeat_seconds is None or self.last_checked is None:
            return False
        return (now - self.last_checked).total_seconds() >= self.repeat_seconds

    # -- running ---------------------------------------------------------------------------

    def should_skip_due_to_overlapping(self, ctx: ScheduleContext) -> bool:
        return self.prevents_overlapping and not ctx.event_mutex.create(self)

    def run(self, ctx: ScheduleContext) -> None:
        """Laravel's `Event::run`: take the overlap mutex, before-callbacks, execute, finish."""
        if self.should_skip_due_to_overlapping(ctx):
            return
        try:
            for callback in self._before:
                _call(callback, self)
            exit_code = self._execute(ctx)
        except BaseException:
            self.remove_mutex(ctx)
            raise
        if not self.runs_in_background:
            self.finish(ctx, exit_code)

    def _execute(self, ctx: ScheduleContext) -> int:
        if self.command is None:
            raise ScheduleError("this event has no command to run")
        if self.runs_in_background:
            return self._start_in_background(ctx)
        completed = subprocess.run(self.build_command(), shell=True, cwd=ctx.base_path, check=False)
        return completed.returncode

    def _start_in_background(self, ctx: ScheduleContext) -> int:
        if ctx.finish_command is not None:
            # The shell detaches the command; `schedule:finish` runs the after-callbacks later.
            launcher = subprocess.run(
                self.build_command(ctx.finish_command), shell=True, cwd=ctx.base_path, check=False
            )
            return launcher.returncode
        process = subprocess.Popen(self.build_command(), shell=True, cwd=ctx.base_path)
        threading.Thread(
            target=lambda: self.finish(ctx, process.wait()), name=f"schedule-{self.mutex_name()}", daemon=False
        ).start()
        return 0

    def finish(self, ctx: ScheduleContext, exit_code: int | None) -> None:
        """Record the exit code, run the after-callbacks, then release the overlap mutex."""
        self.exit_code = None if exit_code is None else int(exit_code)
        try:
            for after in self._after:
                if after.only_if is None or after.only_if(self.exit_code):
                    _call(after.callback, self)
        finally:
            self.remove_mutex(ctx)

    def remove_mutex(self, ctx: ScheduleContext) -> None:
        if self.prevents_overlapping:
            ctx.event_mutex.forget(self)
