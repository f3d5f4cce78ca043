"""Middleware across real worker processes: one rate-limit counter, one overlap lock (Redis and
database stores), with the sync loop and with `--in-flight` (the middleware then run on the
event loop around handlers in the thread pool, on connections of their own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WorkerProcess, wait_for
from support.processes import ProcessRun, migrated_connections

from laravel_queue.connections import Connections
from laravel_queue.dispatch import dispatch
from laravel_queue.php import PhpObject
from laravel_queue.registry import Registry

LIMITED = "App\\Jobs\\LimitedBackup"
EXCLUSIVE = "App\\Jobs\\ExclusiveImport"
JOBS = "tests.support.middleware_jobs"


@pytest.fixture(params=["redis", "database"])
def run(
    request: pytest.FixtureRequest,
    sqlite_env: dict[str, str],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> Iterator[ProcessRun]:
    env = dict(sqlite_env)
    if request.param == "redis":
        env.update(request.getfixturevalue("redis_env"))
        request.getfixturevalue("redis_client")  # cleans this test's keys afterwards
    with migrated_connections(env) as connections:
        yield ProcessRun(env, connections, tmp_path / "jobs.log", spawn_worker, JOBS)


def push(conns: Connections, php_class: str, count: int, **props: Any) -> None:
    registry = Registry()  # dispatch only: the workers have the handlers
    for n in range(count):
        dispatch(PhpObject(php_class, {"n": n, **props}), connections=conns, registry=registry)


def start_two(run: ProcessRun, mode: tuple[str, ...]) -> list[WorkerProcess]:
    return [run.start("--tries", "0", *mode) for _ in range(2)]


MODES = pytest.mark.parametrize("mode", [(), ("--in-flight", "4")], ids=["sync", "in-flight"])


@MODES
def test_five_per_minute_is_one_counter_across_two_workers(run: ProcessRun, mode: tuple[str, ...]) -> None:
    push(run.conns, LIMITED, 12, customer="acme", log=str(run.log))
    workers = start_two(run, mode)
    wait_for(lambda: run.conns.queue().size("default") == 0, timeout=30, what="the queue to drain")
    # dont_release: the rest were dropped as done. Laravel's RateLimited checks (tooManyAttempts)
    # and then counts (hit) without a lock in between, so each extra worker may slip one job
    # through when both read the counter at 4; PHP's workers share that window. In flight, one
    # job's check and hit run on the loop with no await between them. One counter still.
    ran = run.lines()
    assert 5 <= len(ran) <= 6, ran
    assert all(worker.alive() for worker in workers), [w.text() for w in workers]
    assert run.conns.failed().all() == []


@MODES
def test_without_overlapping_never_runs_two_at_once_across_processes(run: ProcessRun, mode: tuple[str, ...]) -> None:
    push(run.conns, EXCLUSIVE, 6, log=str(run.log))
    workers = start_two(run, mode)
    wait_for(lambda: len(run.lines("end")) == 6, timeout=60, what="six runs")
    events = sorted((float(line.split()[1]), line.split()[0]) for line in run.lines())
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
