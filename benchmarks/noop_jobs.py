"""The benchmark job: Laravel's `App\\Jobs\\NoopJob` (Queueable, one int ctor prop `n`, empty handle()).

Imported by the worker under test (`queue:work --jobs benchmarks.noop_jobs`), so the
handler runs through the real registry and the command is really PHP-unserialized:
decoding costs are part of every number. Payloads are built by `laravel_queue.dispatch`,
byte-for-byte what PHP's `dispatch(new NoopJob($n))` stores.

Set `LQ_BENCH_TALLY=/path/file` to have every worker process append `"<n> <monotonic_ns>\\n"`
per job started: the harness counts jobs that ran (and measures push-to-start latency)
without trusting the worker's own bookkeeping. One `os.write` on an O_APPEND descriptor
per job: atomic across processes and survives `os._exit` in `--concurrency` children.
"""

from __future__ import annotations

import os
import time
from typing import Any

from laravel_queue import handles
from laravel_queue.dispatch import Command, command_payload

NOOP_CLASS = "App\\Jobs\\NoopJob"
TALLY_ENV = "LQ_BENCH_TALLY"

_tally_path = os.environ.get(TALLY_ENV)
_tally_fd: int | None = None
_tally_pid = -1


def noop_payload(n: int) -> dict[str, Any]:
    """The envelope (before driver fields) of `dispatch(new NoopJob($n))`."""
    return command_payload(Command(NOOP_CLASS, {"n": n}))


def _record(n: int) -> None:
    global _tally_fd, _tally_pid
    if _tally_path is None:
        return
    if _tally_pid != os.getpid():  # opened per process: forked children get their own descriptor
        _tally_fd = os.open(_tally_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _tally_pid = os.getpid()
    assert _tally_fd is not None
    os.write(_tally_fd, f"{n} {time.monotonic_ns()}\n".encode())


@handles(NOOP_CLASS)
def noop(job: Any, command: Any) -> None:
    """Does nothing but read `n` (as a PHP handle() touching its property would)."""
    n = command.n
    if not isinstance(n, int):
        raise TypeError(f"NoopJob.n should be an int, got {type(n).__name__}")
    _record(n)
