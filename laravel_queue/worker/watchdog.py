"""Job timeouts the way Laravel enforces them: do the bookkeeping, then kill the process.

Python cannot safely stop a thread stuck in C code or a blocking call, and Laravel
does not try either: on SIGALRM it fails the job if the rules say so and sends
SIGKILL to its own process, leaving any other job reserved until `retry_after`.
A watchdog thread does the same here, so a handler that never returns control to
Python is still stopped. One thread serves every job: arming and disarming cost
a lock and a notify, not a thread start.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

from laravel_queue.job import Job

TIMEOUT_EXIT_SIGNAL = signal.SIGKILL


class Watchdog:
    """Calls `on_timeout(job)` and then SIGKILLs the process when an armed job overruns."""

    def __init__(self, on_timeout: Callable[[Job], None], kill: Callable[[], None] | None = None) -> None:
        self._on_timeout = on_timeout
        self._kill = kill or (lambda: os.kill(os.getpid(), TIMEOUT_EXIT_SIGNAL))
        self._condition = threading.Condition()
        self._deadline: float | None = None
        self._job: Job | None = None
        self._thread = threading.Thread(target=self._run, name="laravel-queue-watchdog", daemon=True)
        self._thread.start()

    def arm(self, job: Job, seconds: float) -> None:
        with self._condition:
            self._job = job
            self._deadline = time.monotonic() + seconds
            self._condition.notify()

    def disarm(self) -> None:
        with self._condition:
            self._job = None
            self._deadline = None

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._deadline is None:
                    self._condition.wait()
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._condition.wait(remaining)
                    continue
                job = self._job
                self._deadline = None
            if job is None:
                continue
            try:
                self._on_timeout(job)
            finally:
                self._kill()
