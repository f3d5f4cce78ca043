"""Load with faults: 3 worker processes, thousands of jobs, random SIGKILLs.

Every job must be completed at least once, and a job may run twice only if a worker
that ran it was killed (its handler finished but the delete, which rides on the next
pop, never happened; or it was killed mid-handler). Killed workers are replaced at
once, as a supervisor would. RELIABILITY_JOBS scales the default run; the `slow`
variant runs 20,000 jobs (numbers in RELIABILITY.md).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WorkerProcess, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.schema import migrate

WORKERS = 3
KILLS = 6


@pytest.fixture
def env(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> dict[str, str]:
    merged = {**sqlite_env, **redis_env, "REDIS_QUEUE_RETRY_AFTER": "2"}
    connections = Connections(load_settings(environ=merged))
    migrate(connections.db())
    connections.close()
    return merged


@pytest.fixture
def conns(env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=env))
    yield connections
    connections.close()


def push_many(conns: Connections, log: Path, count: int) -> None:
    queue = conns.queue()
    redis = conns.redis()
    keys = queue.keys(None)  # type: ignore[attr-defined]
    with redis.pipeline(transaction=False) as pipe:
        for n in range(count):
            payload = queue.prepare_payload(string_job_payload("Tests\\Rel\\Record@handle", {"log": str(log), "n": n}))
            pipe.rpush(keys.queue, php_json_encode(payload))
            pipe.rpush(keys.notify, 1)
            if n % 1000 == 999:
                pipe.execute()
        pipe.execute()


def executions(log: Path) -> list[tuple[int, int]]:
    """(job number, pid) for every `done` line."""
    result = []
    for line in log.read_text().splitlines() if log.exists() else []:
        _, n, pid, _ = line.split()
        result.append((int(n), int(pid.removeprefix("pid="))))
    return result


def done_count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def run_load_with_kills(
    env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], log: Path, jobs: int
) -> dict[str, Any]:
    rng = random.Random(jobs)
    push_many(conns, log, jobs)
    started = time.monotonic()
    args = ("--timeout", "0", "--tries", "0", "--sleep", "0.2", "--memory", "512")
    workers = [spawn_worker(env, *args) for _ in range(WORKERS)]
    killed: set[int] = set()
    step = max(jobs // (KILLS + 2), 1)
    for kill in range(KILLS):
        target = min(done_count(log) + rng.randint(step // 2, step), jobs - 1)
        wait_for(lambda t=target: done_count(log) >= t, timeout=120, what=f"{target} jobs done before kill {kill}")
        victim = workers.pop(rng.randrange(len(workers)))
        victim.kill()
        killed.add(victim.pid)
        workers.append(spawn_worker(env, *args))
    wait_for(
        lambda: {n for n, _ in executions(log)} == set(range(jobs)),
        timeout=300,
        what=f"all {jobs} jobs done; {len({n for n, _ in executions(log)})} so far",
    )
    elapsed = time.monotonic() - started
    wait_for(lambda: conns.queue().size(None) == 0, timeout=30, what="every reservation acknowledged")
    return check_executions(executions(log), killed, jobs, elapsed, conns)


def check_executions(
    runs: list[tuple[int, int]], killed: set[int], jobs: int, elapsed: float, conns: Connections
) -> dict[str, Any]:
    per_job: dict[int, list[int]] = defaultdict(list)
    for n, pid in runs:
        per_job[n].append(pid)
    assert set(per_job) == set(range(jobs))
    duplicated = {n: pids for n, pids in per_job.items() if len(pids) > 1}
    for n, pids in duplicated.items():
        survivors = [pid for pid in pids if pid not in killed]
        assert len(survivors) <= 1, f"job {n} ran {len(pids)} times with no kill to explain it: {pids}"
    assert conns.failed().all() == []
    report = {
        "jobs": jobs,
        "executions": len(runs),
        "duplicated_jobs": len(duplicated),
        "kills": len(killed),
        "max_runs_of_one_job": max(Counter(n for n, _ in runs).values()),
        "seconds": round(elapsed, 1),
        "jobs_per_second": round(jobs / elapsed),
    }
    print(f"\nRELIABILITY load: {report}")
    return report


def test_load_with_random_sigkills_loses_nothing(
    env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    jobs = int(os.environ.get("RELIABILITY_JOBS", "2000"))
    report = run_load_with_kills(env, conns, spawn_worker, tmp_path / "jobs.log", jobs)
    assert report["kills"] == KILLS
    assert report["duplicated_jobs"] <= 2 * KILLS  # at most the running job and the unacked one per kill


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RELIABILITY_SLOW") != "1", reason="20,000-job run: set RELIABILITY_SLOW=1")
def test_load_20000_jobs_with_random_sigkills(
    env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    report = run_load_with_kills(env, conns, spawn_worker, tmp_path / "jobs.log", 20000)
    assert report["duplicated_jobs"] <= 2 * KILLS
