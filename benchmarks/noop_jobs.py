"""The benchmark job: Laravel's `App\\Jobs\\NoopJob` (Queueable, one int ctor prop `n`, empty handle()).

Imported by the worker under test (`queue:work --jobs benchmarks.noop_jobs`), so the
handler runs through the real registry and the command is really PHP-unserialized:
decoding costs are part of every number. Payloads are built by `laravel_queue.dispatch`,
byte-for-byte what PHP's `dispatch(new NoopJob($n))` stores.

Set `LQ_BENCH_TALLY=/path/file` (a file the harness sized with `measure.Tally.reset`) to
have every worker process record each job it starts: the harness counts jobs that ran
(and measures push-to-start latency) without trusting the worker's own bookkeeping.
The file is a shared memory map of 16-byte slots, slot n + 1 = (first start, in
`time.monotonic_ns()`, and how many times job n started): no system call per job (a
write per job cost 5-9% of a Redis run on this machine), visible to the harness at
once, shared with `--concurrency` children across fork, and kept by the kernel when a
worker exits by `os._exit` or SIGKILL.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from typing import Any

from laravel_queue import handles
from laravel_queue.dispatch import Command, command_payload

NOOP_CLASS = "App\\Jobs\\NoopJob"
TALLY_ENV = "LQ_BENCH_TALLY"

SLOT = struct.Struct("<qq")  # first start (monotonic ns), number of starts

_tally_path = os.environ.get(TALLY_ENV)
_tally_map: mmap.mmap | None = None


def noop_payload(n: int) -> dict[str, Any]:
    """The envelope (before driver fields) of `dispatch(new NoopJob($n))`."""
    return command_payload(Command(NOOP_CLASS, {"n": n}))


def _record(n: int) -> None:
    global _tally_map
    if _tally_path is None:
        return
    if _tally_map is None:
        fd = os.open(_tally_path, os.O_RDWR)
        try:
            _tally_map = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
    offset = (n + 1) * SLOT.size  # IndexError/struct.error past the sized file: the job fails loudly
    started, count = SLOT.unpack_from(_tally_map, offset)
    SLOT.pack_into(_tally_map, offset, started if count else time.monotonic_ns(), count + 1)


@handles(NOOP_CLASS)
def noop(job: Any, command: Any) -> None:
    """Does nothing but read `n` (as a PHP handle() touching its property would)."""
    n = command.n
    if not isinstance(n, int):
        raise TypeError(f"NoopJob.n should be an int, got {type(n).__name__}")
    _record(n)


SLEEP_CLASS = "App\\Jobs\\SleepJob"
"""An I/O-bound job: `handle()` awaits `seconds` (a stand-in for an HTTP call to a model API)."""


def sleep_payload(n: int, seconds: float) -> dict[str, Any]:
    """The envelope of `dispatch(new SleepJob($n, $seconds))`."""
    return command_payload(Command(SLEEP_CLASS, {"n": n, "seconds": seconds}))


@handles(SLEEP_CLASS)
async def sleep_job(job: Any, command: Any) -> None:
    """Awaits its `seconds`, then records its start like the no-op job (benchmarks/bench_inflight.py)."""
    import asyncio

    _record(command.n)
    await asyncio.sleep(float(command.seconds))


ASYNC_NOOP_CLASS = "App\\Jobs\\AsyncNoopJob"


def async_noop_payload(n: int) -> dict[str, Any]:
    """The envelope of `dispatch(new AsyncNoopJob($n))`: a no-op whose Python handler is `async def`."""
    return command_payload(Command(ASYNC_NOOP_CLASS, {"n": n}))


@handles(ASYNC_NOOP_CLASS)
async def async_noop(job: Any, command: Any) -> None:
    """The no-op job as `async def`: the in-flight worker runs it on its loop, not in a thread."""
    _record(command.n)
