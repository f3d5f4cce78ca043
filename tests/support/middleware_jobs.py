"""Handlers for the cross-process middleware tests (`--jobs tests.support.middleware_jobs`).

Each handler appends one line to the file named by the command's `log` property with a
single O_APPEND write, so several worker processes share one log without interleaving.
"""

from __future__ import annotations

import os
import time
from typing import Any

from laravel_queue import handles
from laravel_queue.middleware import Limit, RateLimited, WithoutOverlapping, rate_limiter

LIMITED = "App\\Jobs\\LimitedBackup"
EXCLUSIVE = "App\\Jobs\\ExclusiveImport"


def append_line(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@rate_limiter("backups")
def backups(job: Any, command: Any) -> Limit:
    return Limit.per_minute(5).by(command.customer)


@handles(LIMITED, middleware=(RateLimited("backups").dont_release(),))
def limited_backup(job: Any, command: Any) -> None:
    append_line(command.log, f"ran {command.n} pid={os.getpid()}")


@handles(EXCLUSIVE, middleware=(WithoutOverlapping("import").release_after(0).expire_after(30),))
def exclusive_import(job: Any, command: Any) -> None:
    append_line(command.log, f"start {time.time():.6f} {command.n} pid={os.getpid()}")
    time.sleep(0.15)
    append_line(command.log, f"end {time.time():.6f} {command.n} pid={os.getpid()}")
