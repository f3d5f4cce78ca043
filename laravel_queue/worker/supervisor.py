"""`--concurrency N`: N worker processes under one command, each a complete Laravel worker.

Processes, not threads: a handler that hangs in C code or hits its timeout is
stopped by killing its process (Laravel's own timeout behaviour), which a thread
pool cannot do, and CPU-bound handlers run in parallel. Every rule of the worker
holds per job because each child runs the same loop. The parent forwards stop
signals and waits for every child to finish its current job.

A child that stops because it was asked to (a stop signal, `queue:restart`,
`--max-jobs`, `--max-time`, `--stop-when-empty`: exit status 0) is not replaced;
the command ends when the last child has stopped, so a process manager restarts it
with fresh code. Any other end (killed by its job timeout or another signal, the
memory limit, an error) gets a new child in its slot, after a back-off that doubles
with each quick failure in a row so a crash loop does not spin.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger("laravel_queue.worker")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_FORWARDED = (*_STOP_SIGNALS, signal.SIGUSR2, signal.SIGCONT)
FIRST_BACKOFF = 0.1  # seconds before replacing a child that failed quickly
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 10.0  # a child that ran this long resets its slot's back-off


def restart_delay(quick_failures: int) -> float:
    """Seconds to wait before replacing a child after `quick_failures` quick failures in a row."""
    if quick_failures <= 0:
        return 0.0
    return min(FIRST_BACKOFF * 2.0 ** (quick_failures - 1), MAX_BACKOFF)


def run_children(count: int, work: Callable[[], int]) -> int:
    """Fork `count` children running `work()`; return the worst exit status once all have stopped."""
    children: dict[int, tuple[int, float]] = {}  # pid -> (slot, started)
    quick_failures = [0] * count
    respawn_at: dict[int, float] = {}  # slot -> when to start its new child
    stopping = False

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            for sig in _FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                code = work()
            finally:
                os._exit(code)
        children[pid] = (slot, time.monotonic())

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        if signum in _STOP_SIGNALS:
            stopping = True
            respawn_at.clear()
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    for slot in range(count):
        spawn(slot)
    worst = 0
    while children or respawn_at:
        for slot, due in list(respawn_at.items()):
            if time.monotonic() >= due and not stopping and respawn_at.pop(slot, None) is not None:
                spawn(slot)
        try:
            pid, status = os.waitpid(-1, os.WNOHANG if respawn_at else 0)
        except ChildProcessError:
            if respawn_at and not stopping:
                time.sleep(0.05)
                continue
            break
        except InterruptedError:
            continue
        if pid == 0:  # a respawn is due soon and no child has ended
            time.sleep(0.05)
            continue
        entry = children.pop(pid, None)
        if entry is None:
            continue
        slot, started = entry
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        if stopping or (os.WIFEXITED(status) and code == 0):
            worst = max(worst, code)
            continue
        quick_failures[slot] = 0 if time.monotonic() - started >= HEALTHY_AFTER else quick_failures[slot] + 1
        delay = restart_delay(quick_failures[slot])
        log.warning("worker process %d ended (%s); starting a new one in %.1fs", pid, _describe(status), delay)
        respawn_at[slot] = time.monotonic() + delay
    return worst


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        reason = " (job timeout)" if signum == signal.SIGKILL else ""
        return f"killed by {signal.Signals(signum).name}{reason}"
    return f"exit status {os.WEXITSTATUS(status)}"
