"""Middleware across real worker processes: one rate-limit counter, one overlap lock (Redis and database stores)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WorkerProcess, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import dispatch
from laravel_queue.php import PhpObject
from laravel_queue.registry import Registry
from laravel_queue.schema import migrate

LIMITED = "App\\Jobs\\LimitedBackup"
EXCLUSIVE = "App\\Jobs\\ExclusiveImport"
JOBS = "tests.support.middleware_jobs"


@pytest.fixture(params=["redis", "database"])
def env(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> dict[str, str]:
    merged = dict(sqlite_env)
    if request.param == "redis":
        merged.update(request.getfixturevalue("redis_env"))
        request.getfixturevalue("redis_client")  # cleans this test's keys afterwards
    connections = Connections(load_settings(environ=merged))
    migrate(connections.db())
    connections.close()
    return merged


@pytest.fixture
def conns(env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=env))
    yield connections
    connections.close()


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def push(conns: Connections, php_class: str, count: int, **props: Any) -> None:
    registry = Registry()  # dispatch only: the workers have the handlers
    for n in range(count):
        dispatch(PhpObject(php_class, {"n": n, **props}), connections=conns, registry=registry)


def start_two(spawn_worker: Callable[..., WorkerProcess], env: dict[str, str]) -> list[WorkerProcess]:
    return [spawn_worker(env, "--tries", "0", jobs=JOBS) for _ in range(2)]


def test_five_per_minute_is_one_counter_across_two_workers(
    env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    push(conns, LIMITED, 12, customer="acme", log=str(log))
    workers = start_two(spawn_worker, env)
    wait_for(lambda: conns.queue().size("default") == 0, timeout=30, what="the queue to drain")
    # dont_release: the rest were dropped as done. Laravel's RateLimited checks (tooManyAttempts)
    # and then counts (hit) without a lock in between, so each extra worker may slip one job
    # through when both read the counter at 4; PHP's workers share that window. One counter still.
    assert 5 <= len(lines(log)) <= 6, lines(log)
    assert all(worker.alive() for worker in workers), [w.text() for w in workers]
    assert conns.failed().all() == []


def test_without_overlapping_never_runs_two_at_once_across_processes(
    env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    push(conns, EXCLUSIVE, 6, log=str(log))
    workers = start_two(spawn_worker, env)
    wait_for(lambda: sum(line.startswith("end") for line in lines(log)) == 6, timeout=60, what="six runs")
    events = sorted((float(line.split()[1]), line.split()[0]) for line in lines(log))
    running = 0
    for _, kind in events:
        running += 1 if kind == "start" else -1
        assert running <= 1, events
    assert all(worker.alive() for worker in workers)


def test_middleware_benchmark_counts_the_round_trips_it_reports() -> None:
    """benchmarks/bench_middleware.py counting only: the round trips BENCHMARKS.md quotes."""
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_middleware", "--runs", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in out.splitlines() if line.count("|") > 3}
    assert rows["no middleware (NoopJob)"] == "0.00"
    assert rows["RateLimited, under the limit"] == "2.00"  # GET, then add/add/INCRBY pipelined
    assert rows["RateLimitedWithRedis, under the limit"] == "1.00"
    assert rows["RateLimited over the limit, dont_release()"] == "2.00"
