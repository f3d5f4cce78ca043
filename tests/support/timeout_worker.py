"""A worker process for the timeout tests: `python -m tests.support.timeout_worker <scenario> <log>`.

Scenarios (each job is killed by its 1-second timeout):
- `after-success`: the handler returns at once, then an `after` hook overruns the timeout.
- `busy-connection`: the handler sleeps inside a query on the worker's own database connection.
Every handler call and failed() call is appended to <log>.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerEvents, WorkerOptions


def main(scenario: str, log_path: str) -> int:
    log = Path(log_path)

    def record(line: str) -> None:
        with log.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    connections = Connections(load_settings())
    registry = Registry()
    events = WorkerEvents()

    def handle(job: Any, data: Any) -> None:
        record(f"handle attempt={job.attempts()}")
        if scenario == "busy-connection":
            job._driver.db.fetch_one("SELECT SLEEP(30)")

    def failed(exc: BaseException | None) -> None:
        record("failed() called")

    def overrun(job: Any) -> None:
        record("after hook")
        time.sleep(30)

    registry.register("Tests\\Timed", handle, failed=failed)
    if scenario == "after-success":
        events.after.append(overrun)
    worker = Worker(
        connections,
        registry=registry,
        events=events,
        options=WorkerOptions(memory=4096, sleep=0.05, timeout=1, max_tries=3),
    )
    return worker.daemon(None, ["default"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
