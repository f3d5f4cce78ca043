"""`queue:work --in-flight N` with real worker processes and services (issue 25, items 2 and 3).

Each test pushes Laravel-shaped string jobs, runs `laravel-queue queue:work --in-flight`
and asserts the final state Laravel's rules give: done once, retried then in
failed_jobs, released then done, returned after retry_after with the attempt counted,
timed out (failed or left reserved) while the neighbours finish.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import WorkerProcess, wait_for
from test_reliability_kill import backend_env, conns, log_lines, push  # noqa: F401 - fixtures

from laravel_queue.connections import Connections

JOBS = "tests.support.async_jobs"


def _done(log: Path) -> list[str]:
    return [line for line in log_lines(log) if line.startswith("done")]


def _numbers(lines: list[str]) -> list[int]:
    return sorted(int(line.split()[1]) for line in lines)


def test_mix_of_ok_failing_releasing_and_slow_jobs_ends_in_laravels_state(
    backend_env: dict[str, str],  # noqa: F811
    conns: Connections,  # noqa: F811
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    log = tmp_path / "jobs.log"
    expected_done: list[int] = []
    for n in range(60):
        kind = n % 6
        if kind == 0:
            push(conns, "Tests\\Async\\Boom", {"log": str(log), "n": n}, maxTries=2)
            continue
        if kind == 1:
            push(conns, "Tests\\Async\\ReleaseOnce", {"log": str(log), "n": n}, maxTries=3)
        elif kind == 2:
            push(conns, "Tests\\Async\\Record", {"log": str(log), "n": n, "seconds": 0.6})  # slow (retry_after is 2 s)
        elif kind == 3:
            push(conns, "Tests\\Async\\SyncRecord", {"log": str(log), "n": n, "seconds": 0.2})  # thread pool
        else:
            push(conns, "Tests\\Async\\Record", {"log": str(log), "n": n})
        expected_done.append(n)
    worker = spawn_worker(backend_env, "--in-flight", "50", "--stop-when-empty", jobs=JOBS)
    wait_for(lambda: not worker.alive(), timeout=60, what=f"the worker to stop when empty:\n{worker.text()}")
    assert worker.proc.returncode == 0, worker.text()
    assert _numbers(_done(log)) == expected_done  # every job that succeeds ran exactly once
    boom = [n for n in range(0, 60, 6)]
    lines = log_lines(log)
    for n in boom:  # tries=2: attempt 1 released, attempt 2 failed, the async failed hook ran
        assert [line for line in lines if line.split()[1] == str(n)] == [
            f"boom {n} attempt=1", f"boom {n} attempt=2", f"failed {n} RuntimeError"
        ]
    for n in range(1, 60, 6):  # released itself on attempt 1, done on attempt 2
        assert f"release {n}" in lines
        assert any(line.startswith(f"done {n} ") and line.endswith("attempt=2") for line in lines)
    assert conns.queue().size(None) == 0
    failed = conns.failed().all()
    assert len(failed) == len(boom), [r.exception[:300] for r in failed]
    assert all("RuntimeError" in record.exception and "boom" in record.exception for record in failed)


def test_sigkill_with_50_in_flight_every_job_returns_after_retry_after_and_runs_once_more(
    backend_env: dict[str, str],  # noqa: F811
    conns: Connections,  # noqa: F811
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    log = tmp_path / "jobs.log"
    for n in range(50):
        push(conns, "Tests\\Async\\StallFirst", {"log": str(log), "n": n, "seconds": 120}, maxTries=3)
    first = spawn_worker(backend_env, "--in-flight", "50", "--timeout", "0", jobs=JOBS)
    wait_for(
        lambda: sum(line.startswith("start") for line in log_lines(log)) == 50,
        timeout=30,
        what=f"50 jobs in flight; worker output:\n{first.text()}",
    )
    first.kill()
    second = spawn_worker(backend_env, "--in-flight", "50", "--timeout", "0", jobs=JOBS)
    wait_for(lambda: len(_done(log)) == 50, timeout=40, what=f"50 jobs done again:\n{second.text()}")
    assert _numbers(_done(log)) == list(range(50))
    assert all(line.endswith(f"pid={second.pid} attempt=2") for line in _done(log))
    wait_for(lambda: conns.queue().size(None) == 0, timeout=10, what="the queue to be empty")
    assert conns.failed().all() == []


def test_sigterm_drains_every_in_flight_job_and_exits_0(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    worker = _stall_in_flight(env, connections, spawn_worker, log, count=30, seconds=1.5)
    for n in range(30, 40):  # waiting behind them (every slot is taken): never reserved after SIGTERM
        push(connections, "Tests\\Async\\Record", {"log": str(log), "n": n})
    os.kill(worker.pid, signal.SIGTERM)
    wait_for(lambda: not worker.alive(), timeout=20, what="the worker to drain and exit")
    assert worker.proc.returncode == 0, worker.text()
    assert _numbers(_done(log)) == list(range(30))  # every in-flight job finished
    assert connections.queue().size(None) == 10  # nothing new was reserved
    assert connections.queue().reserved_size(None) == 0


def test_timed_out_async_job_is_cancelled_failed_or_left_reserved_while_neighbours_finish(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    push(connections, "Tests\\Async\\Hang", {"log": str(log), "n": "fail"}, timeout=1, maxTries=1)
    push(connections, "Tests\\Async\\Hang", {"log": str(log), "n": "flag"}, timeout=1, maxTries=5,
         failOnTimeout=True)
    push(connections, "Tests\\Async\\Hang", {"log": str(log), "n": "again"}, timeout=1, maxTries=2)
    for n in range(10):
        push(connections, "Tests\\Async\\Record", {"log": str(log), "n": n, "seconds": 2})
    worker = spawn_worker(env, "--in-flight", "20", jobs=JOBS)
    wait_for(lambda: len(connections.failed().all()) == 3, timeout=30,
             what=f"three timed-out jobs failed:\n{worker.text()}")
    lines = log_lines(log)
    assert _numbers(_done(log)) == list(range(10))  # the neighbours ran to the end
    assert {"cancelled fail", "cancelled flag", "cancelled again"} <= set(lines)
    # "again": tries=2 -> attempt 1 timed out and stayed reserved, came back after retry_after
    assert [line for line in lines if line.startswith("start again")] == [
        "start again attempt=1", "start again attempt=2"
    ]
    for record in connections.failed().all():
        assert record.exception.startswith(
            "Illuminate\\Queue\\TimeoutExceededException: Tests\\Async\\Hang has timed out."
        )
    assert worker.alive()
    assert connections.queue().size(None) == 0


def test_sync_code_holding_the_loop_is_named_and_killed_past_its_timeout(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    push(connections, "Tests\\Async\\BlockLoop", {"log": str(log), "n": 1, "seconds": 30}, timeout=2,
         maxTries=1)
    worker = spawn_worker(env, "--in-flight", "5", jobs=JOBS)
    wait_for(lambda: not worker.alive(), timeout=20, what=f"the watch to stop the worker:\n{worker.text()}")
    assert worker.proc.returncode == -signal.SIGKILL
    assert "Tests\\Async\\BlockLoop" in worker.text() and "held the event loop" in worker.text()
    failed = connections.failed().all()
    assert len(failed) == 1 and "has timed out" in failed[0].exception


def test_queue_restart_stops_reserving_and_drains(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    worker = _stall_in_flight(env, connections, spawn_worker, log, count=10, seconds=1.5)
    connections.cache().forever("illuminate:queue:restart", int(time.time()) + 100)
    push(connections, "Tests\\Async\\Record", {"log": str(log), "n": 99})
    wait_for(lambda: not worker.alive(), timeout=20, what="the worker to restart")
    assert worker.proc.returncode == 0
    assert _numbers(_done(log)) == list(range(10))
    assert connections.queue().size(None) == 1  # pushed after the restart: left for the next worker


def test_concurrency_times_in_flight(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    for n in range(40):
        push(connections, "Tests\\Async\\Record", {"log": str(log), "n": n, "seconds": 1})
    worker = spawn_worker(env, "--in-flight", "20", "--concurrency", "2", jobs=JOBS)
    wait_for(lambda: len(_done(log)) == 40, timeout=30, what=f"40 jobs:\n{worker.text()}")
    assert _numbers(_done(log)) == list(range(40))
    assert len({line.split("pid=")[1].split()[0] for line in _done(log)}) == 2  # two processes
    os.kill(worker.pid, signal.SIGTERM)
    wait_for(lambda: not worker.alive(), timeout=20, what="the supervisor to stop")
    assert worker.proc.returncode == 0


def _stall_in_flight(
    env: dict[str, str],
    connections: Connections,
    spawn_worker: Callable[..., WorkerProcess],
    log: Path,
    *,
    count: int,
    seconds: float,
    in_flight: int | None = None,
) -> WorkerProcess:
    """A worker with `count` StallFirst jobs running (their first attempt sleeps `seconds`)."""
    for n in range(count):
        push(connections, "Tests\\Async\\StallFirst", {"log": str(log), "n": n, "seconds": seconds})
    worker = spawn_worker(env, "--in-flight", str(in_flight or count), jobs=JOBS)
    wait_for(lambda: sum(line.startswith("start") for line in log_lines(log)) == count, timeout=20,
             what=f"{count} jobs in flight:\n{worker.text()}")
    return worker


@pytest.fixture
def redis_run(
    redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: object
) -> Iterator[tuple[dict[str, str], Connections]]:
    """Redis queue and cache (retry_after 3 s), failed_jobs in SQLite: the env and connections."""
    from laravel_queue.config import load_settings
    from laravel_queue.schema import migrate

    env = {**sqlite_env, **redis_env, "REDIS_QUEUE_RETRY_AFTER": "3"}
    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    yield env, connections
    connections.close()


def test_sigusr2_pauses_reserving_lets_in_flight_jobs_finish_and_sigcont_resumes(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    worker = _stall_in_flight(env, connections, spawn_worker, log, count=5, in_flight=10, seconds=1)
    os.kill(worker.pid, signal.SIGUSR2)  # arrives while they run
    for n in range(5, 8):
        push(connections, "Tests\\Async\\Record", {"log": str(log), "n": n})
    wait_for(lambda: len(_done(log)) == 5, timeout=20, what="the in-flight jobs to finish while paused")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # a bounded observation window: the paused worker reserves nothing
        assert len(_done(log)) == 5
        time.sleep(0.1)
    os.kill(worker.pid, signal.SIGCONT)
    wait_for(lambda: len(_done(log)) == 8, timeout=20, what="the queued jobs after SIGCONT")
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

    from laravel_queue.config import load_settings
    from laravel_queue.schema import migrate

    env = {**_sqs_env(request, sqlite_env), "SQS_WAIT_TIME": "1"}  # each empty pop waits 1 s on its own thread
    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    log = tmp_path / "jobs.log"
    try:
        for n in range(20):
            push(connections, "Tests\\Async\\Record", {"log": str(log), "n": n, "seconds": 0.3})
        worker = spawn_worker(env, "--in-flight", "10", "--stop-when-empty", jobs=JOBS)
        wait_for(lambda: not worker.alive(), timeout=60, what=f"the worker to stop when empty:\n{worker.text()}")
        assert worker.proc.returncode == 0, worker.text()
        assert _numbers(_done(log)) == list(range(20))
    finally:
        connections.close()


def test_idle_in_flight_worker_is_woken_by_a_push_long_before_its_sleep(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    """With `--sleep 30` a sleeping worker would start a pushed job after up to 30 s; the push
    wait (drivers/wake.py, on the source's wait thread) starts it at once, also while a long job
    holds a slot. The bounds are behavioural, not speed targets (BENCHMARKS.md has the figure)."""
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    worker = spawn_worker(env, "--in-flight", "4", "--sleep", "30", jobs=JOBS)
    push(connections, "Tests\\Async\\Record", {"log": str(log), "n": 0})
    wait_for(lambda: len(_done(log)) == 1, timeout=20, what=f"the first job:\n{worker.text()}")
    push(connections, "Tests\\Async\\StallFirst", {"log": str(log), "n": "long", "seconds": 60})
    wait_for(lambda: "start long" in " ".join(log_lines(log)), timeout=15, what="the long job to start")
    for n in (1, 2, 3):
        time.sleep(0.3)  # back in the idle wait
        pushed = time.monotonic()
        push(connections, "Tests\\Async\\Record", {"log": str(log), "n": n})
        wait_for(lambda n=n: len(_done(log)) == n + 1, timeout=15, what=f"job {n} before the 30 s sleep ends")
        assert time.monotonic() - pushed < 15
    assert worker.alive()


def test_stop_is_prompt_while_the_in_flight_worker_waits_for_a_push(
    redis_run: tuple[dict[str, str], Connections],
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env, connections = redis_run
    log = tmp_path / "jobs.log"
    worker = spawn_worker(env, "--in-flight", "4", "--sleep", "30", jobs=JOBS)
    push(connections, "Tests\\Async\\Record", {"log": str(log), "n": 0})
    wait_for(lambda: len(_done(log)) == 1, timeout=20, what=f"the first job:\n{worker.text()}")
    time.sleep(0.3)  # into the idle wait
    stopping = time.monotonic()
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.proc.wait(15) == 0
    assert time.monotonic() - stopping < 15
