"""Job timeouts the way Laravel enforces them: do the bookkeeping, then kill the process.

Python cannot safely stop a thread stuck in C code or a blocking call, and Laravel
does not try either: on SIGALRM it fails the job if the rules say so and sends
SIGKILL to its own process. A watchdog thread does the same here.

What can be interrupted: anything, since the process is killed: a handler looping
in Python, sleeping, blocked in a system call, or in C code that releases the GIL.
What cannot: C code that holds the GIL for the whole overrun (a pure-C loop that
never releases it) keeps the watchdog thread from running, so its bookkeeping and
the kill wait until that call returns. The bookkeeping itself (worker/timeout.py)
runs on the watchdog's own connections and never calls the job's code.
One thread serves every job: arming and disarming cost a lock and a notify, not a
thread start.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

TIMEOUT_EXIT_SIGNAL = signal.SIGKILL

Armed = TypeVar("Armed")
"""What `arm` is given and `on_timeout` receives (the worker's `JobRun`)."""


class Watchdog(Generic[Armed]):
    """Calls `on_timeout(armed)` and then SIGKILLs the process when an armed job overruns.

    Arming is cheap on purpose (it runs once per job): the thread is woken only when it
    is idle or the new deadline is earlier than the one it sleeps towards; otherwise it
    wakes at its old deadline, finds the current job's later deadline, and sleeps again.
    Disarming keeps the last deadline, so a thread that wakes between two jobs sleeps on
    towards it instead of going idle (then the next arm would have to wake it: a thread
    wake-up per job). It goes idle only once that deadline has passed with no job armed.
    """

    def __init__(self, on_timeout: Callable[[Armed], None], kill: Callable[[], None] | None = None) -> None:
        self._on_timeout = on_timeout
        self._kill = kill or (lambda: os.kill(os.getpid(), TIMEOUT_EXIT_SIGNAL))
        self._condition = threading.Condition()
        self._deadline: float | None = None
        self._sleeping_until: float | None = None
        self._job: Armed | None = None
        self._thread = threading.Thread(target=self._run, name="laravel-queue-watchdog", daemon=True)
        self._thread.start()

    def arm(self, job: Armed, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._condition:
            self._job = job
            self._deadline = deadline
            if self._sleeping_until is None or deadline < self._sleeping_until:
                self._condition.notify()

    def disarm(self) -> None:
        with self._condition:
            self._job = None

    def _run(self) -> None:
        while True:
            with self._condition:
                job, deadline = self._job, self._deadline
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining > 0:
                    self._sleeping_until = deadline
                    self._condition.wait(remaining)
                    continue
                if remaining is None or job is None:  # no deadline, or it passed with no job armed
                    self._deadline = None
                    self._sleeping_until = None
                    self._condition.wait()
                    continue
                self._job = None
            try:
                self._on_timeout(job)
            finally:
                self._kill()
