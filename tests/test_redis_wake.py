"""Redis with `block_for` unset: an idle worker waits on the queues' `:notify` lists, so a push
wakes it at once instead of after `--sleep` (drivers/wake.py). Real Redis, real worker process.

The bounds are behavioural, not speed targets: with `--sleep 30` a sleeping worker would
start a pushed job after up to 30 s; a woken one starts it within seconds even on a busy
machine (the push-to-start figure itself is in BENCHMARKS.md, from bench_worker).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import WorkerProcess, wait_for
from support.control import push
from support.processes import start_idle_worker

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.wake import push_wait_for


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def conns(redis_env: dict[str, str]) -> Connections:
    connections = Connections(load_settings(environ=redis_env))
    yield connections
    connections.close()


@pytest.fixture
def idle_worker(
    redis_env: dict[str, str], conns: Connections, spawn_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> tuple[WorkerProcess, Path]:
    """A `--sleep 30` worker that has run one job and is back in its idle wait."""
    log = tmp_path / "jobs.log"
    return start_idle_worker(redis_env, conns, spawn_worker, log), log


def test_a_push_wakes_an_idle_worker_long_before_its_sleep(
    idle_worker: tuple[WorkerProcess, Path], conns: Connections
) -> None:
    worker, log = idle_worker
    for n in (2, 3):
        pushed = time.monotonic()
        push(conns, "Tests\\Rel\\Record", {"log": str(log), "n": n})
        wait_for(lambda n=n: len(log_lines(log)) == n, timeout=15, what=f"job {n} before the 30 s sleep ends")
        assert time.monotonic() - pushed < 15
        time.sleep(0.3)
    assert worker.alive()


def test_a_stop_signal_ends_the_idle_wait(idle_worker: tuple[WorkerProcess, Path]) -> None:
    worker, _ = idle_worker
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(15) == 0


def test_block_for_and_other_drivers_keep_laravels_wait(redis_env: dict[str, str], sqlite_env: dict[str, str]) -> None:
    with_block_for = Connections(load_settings(environ={**redis_env, "REDIS_QUEUE_BLOCK_FOR": "5"}))
    database = Connections(load_settings(environ=sqlite_env))
    try:
        assert push_wait_for(with_block_for.queue("redis")) is None  # the pop itself blocks, as in Laravel
        assert push_wait_for(database.queue("database")) is None  # polls every --sleep seconds
    finally:
        with_block_for.close()
        database.close()


def test_the_wait_consumes_one_token_as_laravels_blpop_does(conns: Connections) -> None:
    queue = conns.queue("redis")
    wait = push_wait_for(queue)
    assert wait is not None
    notify = queue.keys("default").notify
    queue.client.rpush(notify, 1, 1)
    assert wait(["default"], 5, lambda: False) is True
    assert queue.client.llen(notify) == 1
    started = time.monotonic()
    assert wait(["other"], 0.3, lambda: False) is False  # nothing pushed there: waits the whole time
    assert time.monotonic() - started >= 0.3
    assert wait(["other"], 30, lambda: True) is False  # a stop ends it before any BLPOP
