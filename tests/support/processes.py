"""Set-up shared by the tests that run real `queue:work` processes (tests/test_inflight_worker.py,
tests/test_middleware_processes.py): connections on the test's services with the tables
migrated, and one bundle of what each such test starts from (env, connections, job log, spawner).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.schema import migrate

if TYPE_CHECKING:
    from conftest import WorkerProcess


@contextmanager
def migrated_connections(env: dict[str, str]) -> Iterator[Connections]:
    """`Connections` for `env` with Laravel's tables migrated on its database; closed afterwards."""
    connections = Connections(load_settings(environ=env))
    try:
        migrate(connections.db())
        yield connections
    finally:
        connections.close()


def log_lines(path: Path) -> list[str]:
    """The lines the test handlers appended to their log (none before the first job ran)."""
    return path.read_text().splitlines() if path.exists() else []


@dataclass
class ProcessRun:
    """A worker-process test's environment, connections and job log, with `spawn_worker` bound to them."""

    env: dict[str, str]
    conns: Connections
    log: Path
    spawn_worker: Callable[..., WorkerProcess]
    jobs: str
    """The handler module the workers load (`--jobs`)."""

    def start(self, *args: str) -> WorkerProcess:
        """A `queue:work` process with `args`, killed at teardown if still running."""
        return self.spawn_worker(self.env, *args, jobs=self.jobs)

    def push(self, job: str, data: dict[str, Any], **fields: Any) -> None:
        """A string job `<job>@handle` on the connection's default queue, logging to this run's log;
        `fields` are payload keys (maxTries, timeout, ...)."""
        queue = self.conns.queue()
        envelope = string_job_payload(f"{job}@handle", {"log": str(self.log), **data})
        payload = queue.prepare_payload({**envelope, **fields})
        queue.push_raw(php_json_encode(payload), None)

    def lines(self, prefix: str = "") -> list[str]:
        return [line for line in log_lines(self.log) if line.startswith(prefix)]


def start_idle_worker(
    env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], log: Path
) -> WorkerProcess:
    """A `--sleep 30` worker that has run one job and is back in its idle wait (the wake tests)."""
    from conftest import wait_for

    from support.control import push

    worker = spawn_worker(env, "--sleep", "30")
    push(conns, "Tests\\Rel\\Record", {"log": str(log), "n": 1})
    wait_for(lambda: len(log_lines(log)) == 1, timeout=20, what=f"the first job; output:\n{worker.text()}")
    time.sleep(0.3)  # past the first job's bookkeeping, into the wait (a push before it is found anyway)
    return worker
