"""Handlers for the reliability and security tests (`--jobs tests.support.reliability_jobs`).

Every handler appends one short line to the file named by `data.log` with a single
O_APPEND write, so several worker processes can share one log without interleaving
and a test can wait on the file instead of sleeping.

When RELIABILITY_AUDIT_LOG names a file, an audit hook records every import attempt
and every process-spawning or code-loading event into it. Tests push payloads that
name Python modules (`os.system`, `subprocess`, ...) and then assert the worker never
tried to import or call them.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from pydantic import BaseModel

from laravel_queue import handles

_WATCHED_EVENTS = (
    "import",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.startfile",
    "subprocess.Popen",
    "ctypes.",
    "pickle.find_class",
    "builtins.input",
)


def _write_line(path: str, line: str) -> None:
    """One write() on an O_APPEND descriptor: lines from many processes never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def _install_audit_hook(path: str) -> None:
    """Record watched audit events; the descriptor is opened once so the hook never re-enters."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if not event.startswith(_WATCHED_EVENTS):
            return
        detail = args[0] if args else ""
        os.write(fd, f"{event}\t{detail!s:.200}\n".encode("utf-8", "replace"))

    sys.addaudithook(hook)


if os.environ.get("RELIABILITY_AUDIT_LOG"):
    _install_audit_hook(os.environ["RELIABILITY_AUDIT_LOG"])


@handles("Tests\\Rel\\Record")
def record(job: Any, data: dict[str, Any]) -> None:
    """`done <n> pid=<pid> attempt=<k>`: the load and outage tests count these."""
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")


@handles("Tests\\Rel\\StallFirst")
def stall_first(job: Any, data: dict[str, Any]) -> None:
    """The first attempt announces itself and stalls (to be SIGKILLed); later attempts finish."""
    if job.attempts() == 1:
        _write_line(data["log"], f"start {data['n']} pid={os.getpid()} attempt=1")
        time.sleep(float(data.get("seconds", 120)))
    _write_line(data["log"], f"done {data['n']} pid={os.getpid()} attempt={job.attempts()}")


@handles("App\\Jobs\\TypedJob")
class TypedJob(BaseModel):
    """A class handler whose model a hostile command may not fit."""

    user_id: int
    email: str
    log: str

    def handle(self) -> None:
        _write_line(self.log, f"typed {self.user_id} pid={os.getpid()}")


@handles("App\\Jobs\\Canary")
def canary(job: Any, command: Any) -> None:
    """An object job that is known and harmless: proves the worker is still running."""
    log = command.get("log") if hasattr(command, "get") else None
    _write_line(str(log), f"canary {command.get('n')} pid={os.getpid()}")
