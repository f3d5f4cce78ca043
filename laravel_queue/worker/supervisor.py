"""`--concurrency N`: N worker processes under one command, each a complete Laravel worker.

Processes, not threads: a handler that hangs in C code or hits its timeout is
stopped by killing its process (Laravel's own timeout behaviour), which a thread
pool cannot do, and CPU-bound handlers run in parallel. Every rule of the worker
holds per job because each child runs the same loop. The parent forwards stop
signals, waits for every child to finish its current job, and starts a new child
in place of one killed by a timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger("laravel_queue.worker")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_FORWARDED = (*_STOP_SIGNALS, signal.SIGUSR2, signal.SIGCONT)


def run_children(count: int, work: Callable[[], int]) -> int:
    """Fork `count` children running `work()`; return the worst exit status once all have stopped."""
    children: dict[int, int] = {}
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
        children[pid] = slot

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        if signum in _STOP_SIGNALS:
            stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    for slot in range(count):
        spawn(slot)
    worst = 0
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot = children.pop(pid, None)
        if slot is None:
            continue
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and not stopping:
            log.warning("worker process %d was killed (job timeout); starting a new one", pid)
            spawn(slot)
            continue
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        worst = max(worst, code)
    return worst
