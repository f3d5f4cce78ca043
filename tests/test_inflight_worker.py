"""`queue:work --in-flight N` with real worker processes and services (issue 25, items 2 and 3).

Each test pushes Laravel-shaped string jobs, runs `laravel-queue queue:work --in-flight`
and asserts the final state Laravel's rules give: done once, retried then in
failed_jobs, released then done, returned after retry_after with the attempt counted,
timed out (failed or left reserved) while the neighbours finish; and an idle worker
woken by a push long before its `--sleep` (issue 26).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import WorkerProcess, wait_for
from support.processes import ProcessRun, migrated_connections
from test_reliability_kill import backend_env, conns  # noqa: F401 - fixtures

from laravel_queue.connections import Connections

JOBS = "tests.support.async_jobs"


@pytest.fixture
def backend_run(
    backend_env: dict[str, str],  # noqa: F811
    conns: Connections,  # noqa: F811
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> ProcessRun:
    """Every queue driver (test_reliability_kill's backends, retry_after 2 s)."""
    return ProcessRun(backend_env, conns, tmp_path / "jobs.log", spawn_worker, JOBS)


@pytest.fixture
def redis_run(
    redis_env: dict[str, str],
    sqlite_env: dict[str, str],
    redis_client: object,
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> Iterator[ProcessRun]:
    """Redis queue and cache (retry_after 3 s), failed_jobs in SQLite."""
    env = {**sqlite_env, **redis_env, "REDIS_QUEUE_RETRY_AFTER": "3"}
    with migrated_connections(env) as connections:
        yield ProcessRun(env, connections, tmp_path / "jobs.log", spawn_worker, JOBS)


def _numbers(lines: list[str]) -> list[int]:
    return sorted(int(line.split()[1]) for line in lines)


def test_mix_of_ok_failing_releasing_and_slow_jobs_ends_in_laravels_state(backend_run: ProcessRun) -> None:
    run = backend_run
    expected_done: list[int] = []
    for n in range(60):
        kind = n % 6
        if kind == 0:
            run.push("Tests\\Async\\Boom", {"n": n}, maxTries=2)
            continue
        if kind == 1:
            run.push("Tests\\Async\\ReleaseOnce", {"n": n}, maxTries=3)
        elif kind == 2:
            run.push("Tests\\Async\\Record", {"n": n, "seconds": 0.6})  # slow (retry_after is 2 s)
        elif kind == 3:
            run.push("Tests\\Async\\SyncRecord", {"n": n, "seconds": 0.2})  # thread pool
        else:
            run.push("Tests\\Async\\Record", {"n": n})
        expected_done.append(n)
    worker = run.start("--in-flight", "50", "--stop-when-empty")
    wait_for(lambda: not worker.alive(), timeout=60, what=f"the worker to stop when empty:\n{worker.text()}")
    assert worker.proc.returncode == 0, worker.text()
    assert _numbers(run.lines("done")) == expected_done  # every job that succeeds ran exactly once
    boom = [n for n in range(0, 60, 6)]
    lines = run.lines()
    for n in boom:  # tries=2: attempt 1 released, attempt 2 failed, the async failed hook ran
        assert [line for line in lines if line.split()[1] == str(n)] == [
            f"boom {n} attempt=1", f"boom {n} attempt=2", f"failed {n} RuntimeError"
        ]
    for n in range(1, 60, 6):  # released itself on attempt 1, done on attempt 2
        assert f"release {n}" in lines
        assert any(line.startswith(f"done {n} ") and line.endswith("attempt=2") for line in lines)
    assert run.conns.queue().size(None) == 0
    failed = run.conns.failed().all()
    assert len(failed) == len(boom), [r.exception[:300] for r in failed]
    assert all("RuntimeError" in record.exception and "boom" in record.exception for record in failed)


def test_sigkill_with_50_in_flight_every_job_returns_after_retry_after_and_runs_once_more(
    backend_run: ProcessRun,
) -> None:
    run = backend_run
    for n in range(50):
        run.push("Tests\\Async\\StallFirst", {"n": n, "seconds": 120}, maxTries=3)
    first = run.start("--in-flight", "50", "--timeout", "0")
    wait_for(lambda: len(run.lines("start")) == 50, timeout=30, what=f"50 jobs in flight; output:\n{first.text()}")
    first.kill()
    second = run.start("--in-flight", "50", "--timeout", "0")
    wait_for(lambda: len(run.lines("done")) == 50, timeout=40, what=f"50 jobs done again:\n{second.text()}")
    assert _numbers(run.lines("done")) == list(range(50))
    assert all(line.endswith(f"pid={second.pid} attempt=2") for line in run.lines("done"))
    wait_for(lambda: run.conns.queue().size(None) == 0, timeout=10, what="the queue to be empty")
    assert run.conns.failed().all() == []


def test_sigterm_drains_every_in_flight_job_and_exits_0(redis_run: ProcessRun) -> None:
    run = redis_run
    worker = _stall_in_flight(run, count=30, seconds=1.5)
    for n in range(30, 40):  # waiting behind them (every slot is taken): never reserved after SIGTERM
        run.push("Tests\\Async\\Record", {"n": n})
    os.kill(worker.pid, signal.SIGTERM)
    wait_for(lambda: not worker.alive(), timeout=20, what="the worker to drain and exit")
    assert worker.proc.returncode == 0, worker.text()
    assert _numbers(run.lines("done")) == list(range(30))  # every in-flight job finished
    assert run.conns.queue().size(None) == 10  # nothing new was reserved
    assert run.conns.queue().reserved_size(None) == 0


def test_timed_out_async_job_is_cancelled_failed_or_left_reserved_while_neighbours_finish(
    redis_run: ProcessRun,
) -> None:
    run = redis_run
    run.push("Tests\\Async\\Hang", {"n": "fail"}, timeout=1, maxTries=1)
    run.push("Tests\\Async\\Hang", {"n": "flag"}, timeout=1, maxTries=5, failOnTimeout=True)
    run.push("Tests\\Async\\Hang", {"n": "again"}, timeout=1, maxTries=2)
    for n in range(10):
        run.push("Tests\\Async\\Record", {"n": n, "seconds": 2})
    worker = run.start("--in-flight", "20")
    wait_for(lambda: len(run.conns.failed().all()) == 3, timeout=30,
             what=f"three timed-out jobs failed:\n{worker.text()}")
    lines = run.lines()
    assert _numbers(run.lines("done")) == list(range(10))  # the neighbours ran to the end
    assert {"cancelled fail", "cancelled flag", "cancelled again"} <= set(lines)
    # "again": tries=2 -> attempt 1 timed out and stayed reserved, came back after retry_after
    assert run.lines("start again") == ["start again attempt=1", "start again attempt=2"]
    for record in run.conns.failed().all():
        assert record.exception.startswith(
            "Illuminate\\Queue\\TimeoutExceededException: Tests\\Async\\Hang has timed out."
        )
    assert worker.alive()
    # the failed job's delete rides the worker's next pop, just after its failed_jobs row
    wait_for(lambda: run.conns.queue().size(None) == 0, timeout=10, what="the failed jobs deleted")


def test_sync_code_holding_the_loop_is_named_and_killed_past_its_timeout(redis_run: ProcessRun) -> None:
    run = redis_run
    run.push("Tests\\Async\\BlockLoop", {"n": 1, "seconds": 30}, timeout=2, maxTries=1)
    worker = run.start("--in-flight", "5")
    wait_for(lambda: not worker.alive(), timeout=20, what=f"the watch to stop the worker:\n{worker.text()}")
    assert worker.proc.returncode == -signal.SIGKILL
    assert "Tests\\Async\\BlockLoop" in worker.text() and "held the event loop" in worker.text()
    failed = run.conns.failed().all()
    assert len(failed) == 1 and "has timed out" in failed[0].exception


def test_queue_restart_stops_reserving_and_drains(redis_run: ProcessRun) -> None:
    run = redis_run
    worker = _stall_in_flight(run, count=10, seconds=1.5)
    run.conns.cache().forever("illuminate:queue:restart", int(time.time()) + 100)
    run.push("Tests\\Async\\Record", {"n": 99})
    wait_for(lambda: not worker.alive(), timeout=20, what="the worker to restart")
    assert worker.proc.returncode == 0
    assert _numbers(run.lines("done")) == list(range(10))
    assert run.conns.queue().size(None) == 1  # pushed after the restart: left for the next worker


def test_concurrency_times_in_flight(redis_run: ProcessRun) -> None:
    run = redis_run
    for n in range(40):
        run.push("Tests\\Async\\Record", {"n": n, "seconds": 1})
    worker = run.start("--in-flight", "20", "--concurrency", "2")
    wait_for(lambda: len(run.lines("done")) == 40, timeout=30, what=f"40 jobs:\n{worker.text()}")
    assert _numbers(run.lines("done")) == list(range(40))
    assert len({line.split("pid=")[1].split()[0] for line in run.lines("done")}) == 2  # two processes
    os.kill(worker.pid, signal.SIGTERM)
    wait_for(lambda: not worker.alive(), timeout=20, what="the supervisor to stop")
    assert worker.proc.returncode == 0


def _stall_in_flight(run: ProcessRun, *, count: int, seconds: float, in_flight: int | None = None) -> WorkerProcess:
    """A worker with `count` StallFirst jobs running (their first attempt sleeps `seconds`)."""
    for n in range(count):
        run.push("Tests\\Async\\StallFirst", {"n": n, "seconds": seconds})
    worker = run.start("--in-flight", str(in_flight or count))
    wait_for(lambda: len(run.lines("start")) == count, timeout=20, what=f"{count} jobs in flight:\n{worker.text()}")
    return worker


def test_sigusr2_pauses_reserving_lets_in_flight_jobs_finish_and_sigcont_resumes(redis_run: ProcessRun) -> None:
    run = redis_run
    worker = _stall_in_flight(run, count=5, in_flight=10, seconds=1)
    os.kill(worker.pid, signal.SIGUSR2)  # arrives while they run
    for n in range(5, 8):
        run.push("Tests\\Async\\Record", {"n": n})
    wait_for(lambda: len(run.lines("done")) == 5, timeout=20, what="the in-flight jobs to finish while paused")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # a bounded observation window: the paused worker reserves nothing
        assert len(run.lines("done")) == 5
        time.sleep(0.1)
    os.kill(worker.pid, signal.SIGCONT)
    wait_for(lambda: len(run.lines("done")) == 8, timeout=20, what="the queued jobs after SIGCONT")
    os.kill(worker.pid, signal.SIGTERM)
    wait_for(lambda: not worker.alive(), timeout=20, what="the worker to exit")
    assert worker.proc.returncode == 0


def test_sqs_long_polling_in_flight_runs_each_job_once(
    request: pytest.FixtureRequest,
    sqlite_env: dict[str, str],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    from test_reliability_kill import _sqs_env

    env = {**_sqs_env(request, sqlite_env), "SQS_WAIT_TIME": "1"}  # each empty pop waits 1 s on its own thread
    with migrated_connections(env) as connections:
        run = ProcessRun(env, connections, tmp_path / "jobs.log", spawn_worker, JOBS)
        for n in range(20):
            run.push("Tests\\Async\\Record", {"n": n, "seconds": 0.3})
        worker = run.start("--in-flight", "10", "--stop-when-empty")
        wait_for(lambda: not worker.alive(), timeout=60, what=f"the worker to stop when empty:\n{worker.text()}")
        assert worker.proc.returncode == 0, worker.text()
        assert _numbers(run.lines("done")) == list(range(20))


@pytest.fixture
def pgsql_notify_run(
    pgsql_env: dict[str, str], spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> Iterator[ProcessRun]:
    """PostgreSQL with `migrate --notify`'s insert trigger: an idle worker LISTENs (drivers/database/notify.py)."""
    pytest.importorskip("psycopg")
    from laravel_queue.drivers.database import notify

    with migrated_connections(pgsql_env) as connections:
        notify.install_trigger(connections.db(), "jobs")
        yield ProcessRun(pgsql_env, connections, tmp_path / "jobs.log", spawn_worker, JOBS)


@pytest.fixture(params=["redis", "pgsql-notify"])
def waking_run(request: pytest.FixtureRequest) -> ProcessRun:
    """A driver whose idle worker waits for a push: Redis (`:notify` lists) and PostgreSQL (LISTEN)."""
    run: ProcessRun = request.getfixturevalue({"redis": "redis_run", "pgsql-notify": "pgsql_notify_run"}[request.param])
    return run


def test_idle_in_flight_worker_is_woken_by_a_push_long_before_its_sleep(waking_run: ProcessRun) -> None:
    """With `--sleep 30` a sleeping worker would start a pushed job after up to 30 s; the driver's
    push wait (drivers/wake.py, off the loop thread) starts it at once. The bounds are behavioural,
    not speed targets (BENCHMARKS.md has the figure)."""
    run = waking_run
    worker = run.start("--in-flight", "4", "--sleep", "30")
    run.push("Tests\\Async\\Record", {"n": 0})
    wait_for(lambda: len(run.lines("done")) == 1, timeout=20, what=f"the first job:\n{worker.text()}")
    for n in (1, 2, 3):
        time.sleep(0.3)  # back in the idle wait
        pushed = time.monotonic()
        run.push("Tests\\Async\\Record", {"n": n})
        wait_for(lambda n=n: len(run.lines("done")) == n + 1, timeout=15, what=f"job {n} before the 30 s sleep ends")
        assert time.monotonic() - pushed < 15
    assert worker.alive()


def test_a_push_wakes_the_in_flight_worker_while_a_long_job_holds_a_slot(redis_run: ProcessRun) -> None:
    """On Redis the wait runs beside the jobs (its own thread and pooled connection)."""
    run = redis_run
    worker = run.start("--in-flight", "4", "--sleep", "30")
    run.push("Tests\\Async\\StallFirst", {"n": "long", "seconds": 60})
    wait_for(lambda: run.lines("start long"), timeout=20, what=f"the long job to start:\n{worker.text()}")
    for n in (1, 2):
        time.sleep(0.3)  # back in the idle wait
        pushed = time.monotonic()
        run.push("Tests\\Async\\Record", {"n": n})
        wait_for(lambda n=n: len(run.lines("done")) == n, timeout=15, what=f"job {n} before the 30 s sleep ends")
        assert time.monotonic() - pushed < 15
    assert worker.alive()


def test_stop_is_prompt_while_the_in_flight_worker_waits_for_a_push(waking_run: ProcessRun) -> None:
    run = waking_run
    worker = run.start("--in-flight", "4", "--sleep", "30")
    run.push("Tests\\Async\\Record", {"n": 0})
    wait_for(lambda: len(run.lines("done")) == 1, timeout=20, what=f"the first job:\n{worker.text()}")
    time.sleep(0.3)  # into the idle wait
    stopping = time.monotonic()
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.proc.wait(15) == 0
    assert time.monotonic() - stopping < 15
