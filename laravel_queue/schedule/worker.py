"""`schedule:work`: start one `schedule:run` child at the top of every minute.

Like Laravel's ScheduleWorkCommand: poll every 100 ms, spawn when the wall-clock
second is 0 and this minute has not been started; children run in parallel so a
slow minute never delays the next one. On SIGTERM/SIGINT it stops spawning and
waits for running children (Laravel 13 behaviour).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from laravel_queue.schedule.context import utc_now

POLL_SECONDS = 0.1

Spawn = Callable[[], Any]  # returns something with .poll() and .wait()


class ScheduleWorker:
    def __init__(
        self,
        spawn: Spawn,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spawn = spawn
        self.clock = clock
        self.sleep = sleep
        self.stopping = threading.Event()
        self.children: list[Any] = []
        self.started_minutes: list[datetime] = []

    def stop(self, *_: Any) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def tick(self) -> None:
        """One 100 ms step: maybe spawn this minute's run, reap finished children."""
        now = self.clock()
        minute = now.replace(second=0, microsecond=0)
        if now.second == 0 and (not self.started_minutes or self.started_minutes[-1] != minute):
            self.children.append(self.spawn())
            self.started_minutes.append(minute)
        self.children = [child for child in self.children if child.poll() is None]

    def run(self, max_ticks: int | None = None) -> int:
        ticks = 0
        while not self.stopping.is_set() and (max_ticks is None or ticks < max_ticks):
            self.sleep(POLL_SECONDS)
            if self.stopping.is_set():
                break
            self.tick()
            ticks += 1
        for child in self.children:
            child.wait()
        return 0


def spawn_command(argv: Sequence[str], output_file: str | None = None) -> Spawn:
    """A spawner for `argv`, output inherited or appended to `output_file`."""

    def spawn() -> subprocess.Popen[bytes]:
        if output_file is None:
            return subprocess.Popen(list(argv))
        with open(output_file, "ab") as sink:
            return subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT)

    return spawn
