"""A finished in-flight job is deleted promptly even while its neighbours keep running.

The in-flight worker lets a finished job's delete ride on its next pop; the next pop
waits for a quarter of the slots to free up. Without a bound, a fast job among slow
ones stayed reserved until they finished, and past retry_after (SQS: the visibility
timeout) it would be reserved again although it had succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import WorkerProcess, wait_for
from test_reliability_kill import log_lines, push

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.schema import migrate


@pytest.fixture(params=["redis", "sqlite"])
def long_reservation_env(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> dict[str, str]:
    if request.param == "redis":
        request.getfixturevalue("redis_client")  # deletes this test's keys afterwards
        return {**sqlite_env, **request.getfixturevalue("redis_env"), "REDIS_QUEUE_RETRY_AFTER": "120"}
    return {**sqlite_env, "DB_QUEUE_RETRY_AFTER": "120", "CACHE_STORE": "array"}


def test_a_fast_job_among_slow_ones_is_deleted_long_before_they_finish(
    long_reservation_env: dict[str, str],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    conns = Connections(load_settings(environ=long_reservation_env))
    migrate(conns.db())
    try:
        log = tmp_path / "jobs.log"
        push(conns, "Tests\\Async\\Record", {"log": str(log), "n": 0})
        for n in range(1, 8):
            push(conns, "Tests\\Async\\Record", {"log": str(log), "n": n, "seconds": 60})
        worker = spawn_worker(long_reservation_env, "--in-flight", "8", jobs="tests.support.async_jobs")
        wait_for(
            lambda: any(line.startswith("done 0 ") for line in log_lines(log)),
            timeout=30,
            what=f"the fast job to finish:\n{worker.text()}",
        )
        # 8 slots want 2 free before the next pop: only the bounded ack delay deletes it now
        wait_for(
            lambda: conns.queue().size(None) == 7,
            timeout=10,
            what=f"the fast job's delete while 7 slow jobs run:\n{worker.text()}",
        )
        assert [line for line in log_lines(log) if line.startswith("done")] == [
            line for line in log_lines(log) if line.startswith("done 0 ")
        ]
        worker.kill()
    finally:
        conns.close()
