"""Issue 31: nothing a job or a hook raises stops the worker, and no finished job runs twice.

Real Redis and SQLite queues. Where the symptom is a duplicate, a second worker
(Python standing in for a PHP worker: same keys, same rows) takes what the first
left reserved once `retry_after` has passed.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, wait_for
from support.control import push

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerEvents, WorkerOptions
from laravel_queue.worker.control import paused_key
from laravel_queue.worker.output import WorkerOutput

RETRY_AFTER = 1


@pytest.fixture(params=["redis", "sqlite"])
def queue_env(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> dict[str, str]:
    """A queue whose reserved jobs come back after one second, so a duplicate shows at once."""
    env = dict(sqlite_env)
    if request.param == "redis":
        env.update(request.getfixturevalue("redis_env"))
        request.getfixturevalue("redis_client")
        env["REDIS_QUEUE_RETRY_AFTER"] = str(RETRY_AFTER)
    else:
        env["DB_QUEUE_RETRY_AFTER"] = str(RETRY_AFTER)
    return env


@pytest.fixture
def conns(queue_env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=queue_env))
    from laravel_queue.schema import migrate

    migrate(connections.db())
    yield connections
    connections.close()


@pytest.fixture(params=["redis", "sqlite"])
def crossed_conns(
    request: pytest.FixtureRequest, sqlite_env: dict[str, str], redis_env: dict[str, str], redis_client: Any
) -> Iterator[Connections]:
    """The cache on the other server (Redis queue + database cache, SQLite queue + Redis cache):
    restart and pause cannot ride on the pop, the worker reads them on their own."""
    env = {**sqlite_env, **redis_env, "REDIS_QUEUE_RETRY_AFTER": "1", "DB_QUEUE_RETRY_AFTER": "1"}
    env["QUEUE_CONNECTION"] = "redis" if request.param == "redis" else "database"
    env["CACHE_STORE"] = "database" if request.param == "redis" else "redis"
    connections = Connections(load_settings(environ=env))
    from laravel_queue.schema import migrate

    migrate(connections.db())
    yield connections
    connections.close()


def worker(conns: Connections, registry: Registry, events: WorkerEvents | None = None, **options: Any) -> Worker:
    return Worker(
        conns,
        registry=registry,
        events=events,
        options=WorkerOptions(**{"memory": 4096, "sleep": 0, "stop_when_empty": True, **options}),
        output=WorkerOutput(io.StringIO()),
    )


def reserved(conns: Connections) -> int:
    return conns.queue().reserved_size("default") or 0


def second_worker_runs(conns: Connections, registry: Registry) -> None:
    """What a PHP worker does after retry_after: take every job still reserved and run it."""
    time.sleep(RETRY_AFTER + 1.1)  # the reservation must be older than retry_after (whole seconds)
    fresh = Connections(conns.settings)
    try:
        worker(fresh, registry).daemon(None, ["default"])
    finally:
        fresh.close()


# -- 1. one guard per job ---------------------------------------------------------------------------
def test_a_raising_failed_method_is_logged_and_the_worker_goes_on(
    conns: Connections, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []
    registry = Registry()

    def broken_failed(exc: BaseException | None) -> None:
        raise RuntimeError("failed() is broken too")

    registry.register("Tests\\Bad", lambda job, data: (_ for _ in ()).throw(ValueError("bad")), failed=broken_failed)
    registry.register("Tests\\Ok", lambda job, data: ran.append("ok"))
    push(conns, "Tests\\Bad")
    push(conns, "Tests\\Ok")
    with caplog.at_level(logging.ERROR, logger="laravel_queue.worker"):
        assert worker(conns, registry).daemon(None, ["default"]) == 0
    assert ran == ["ok"]
    (record,) = conns.failed().all()
    assert "ValueError: bad" in record.exception
    assert conns.queue().size("default") == 0
    assert "failed() is broken too" in caplog.text


@pytest.mark.parametrize("hook", ["before", "after", "failing", "exception_occurred", "reserved", "finished"])
def test_a_raising_hook_never_stops_the_worker(conns: Connections, hook: str) -> None:
    ran: list[str] = []
    events = WorkerEvents()

    def broken(*args: Any) -> None:
        raise RuntimeError(f"{hook} hook bug")

    getattr(events, hook).append(broken)
    registry = Registry()
    registry.register("Tests\\Bad", lambda job, data: (_ for _ in ()).throw(ValueError("bad")))
    registry.register("Tests\\Ok", lambda job, data: ran.append("ok"))
    push(conns, "Tests\\Bad")
    push(conns, "Tests\\Ok")
    assert worker(conns, registry, events).daemon(None, ["default"]) == 0
    assert ran == ["ok"]
    assert [r.exception.split(":")[0] for r in conns.failed().all()] == ["ValueError"]
    assert conns.queue().size("default") == 0 and reserved(conns) == 0


def test_a_broken_max_exceptions_cache_still_routes_the_job(conns: Connections) -> None:
    """`cache.forget` used to sit outside the guard: a cache failing there ended the worker."""

    class ForgetFails:
        def __init__(self, store: Any) -> None:
            self.store = store

        def __getattr__(self, name: str) -> Any:
            return getattr(self.store, name)

        def forget(self, key: str) -> bool:
            raise ConnectionError("cache went away")

    registry = Registry()
    registry.register("Tests\\Bad", lambda job, data: (_ for _ in ()).throw(ValueError("bad")))
    push(conns, "Tests\\Bad", maxExceptions=1, maxTries=5)
    w = worker(conns, registry)
    w.control._cache = ForgetFails(conns.cache())  # the real store, whose forget fails
    assert w.daemon(None, ["default"]) == 0
    (record,) = conns.failed().all()
    assert "ValueError: bad" in record.exception
    assert conns.queue().size("default") == 0 and reserved(conns) == 0


def test_the_daemon_loop_survives_an_unexpected_error_in_an_iteration(conns: Connections) -> None:
    ran: list[str] = []
    calls = {"n": 0}
    events = WorkerEvents()

    def looping_breaks_once() -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("iteration bug")
        return True

    events.looping.append(looping_breaks_once)
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: ran.append("ok"))
    push(conns, "Tests\\Ok")
    assert worker(conns, registry, events).daemon(None, ["default"]) == 0
    assert ran == ["ok"]


# -- 2. acks never wait across a sleep, a pause or a stop -------------------------------------------
def _run_until(w: Worker, condition: Any, what: str) -> None:
    thread = threading.Thread(target=w.daemon, args=(None, ["default"]), daemon=True)
    thread.start()
    try:
        wait_for(condition, timeout=10, what=what)
    finally:
        w.should_quit = True
        w._wake.set()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.parametrize("sleep_option", [{"rest": 30}, {"sleep": 30}])
def test_a_finished_job_is_deleted_before_the_worker_sleeps(conns: Connections, sleep_option: dict[str, Any]) -> None:
    runs: list[int] = []
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: runs.append(1))
    push(conns, "Tests\\Ok")
    w = worker(conns, registry, stop_when_empty=False, **sleep_option)
    _run_until(w, lambda: runs and reserved(conns) == 0, "the delete before a 30 s sleep")


def test_a_finished_job_is_deleted_when_every_queue_gets_paused(crossed_conns: Connections) -> None:
    """The pause is read outside the pop (no shared control keys): no pop carries the ack."""
    conns = crossed_conns
    runs: list[int] = []
    registry = Registry()

    def pause_the_queue(job: Any, data: Any) -> None:
        runs.append(1)
        conns.cache().forever(paused_key(conns.queue().connection_name, "default"), True)

    registry.register("Tests\\Pause", pause_the_queue)
    push(conns, "Tests\\Pause")
    w = worker(conns, registry, stop_when_empty=False, sleep=0)
    _run_until(w, lambda: runs and reserved(conns) == 0, "the delete while every queue is paused")
    second_worker_runs(conns, registry)
    assert runs == [1]


def test_a_finished_job_is_deleted_when_the_worker_is_paused_by_a_signal(conns: Connections) -> None:
    runs: list[int] = []
    registry = Registry()
    w = worker(conns, registry, stop_when_empty=False, sleep=0)

    def pause_the_worker(job: Any, data: Any) -> None:
        runs.append(1)
        w.paused = True  # what SIGUSR2 sets

    registry.register("Tests\\Pause", pause_the_worker)
    push(conns, "Tests\\Pause")
    _run_until(w, lambda: runs and reserved(conns) == 0, "the delete while paused by SIGUSR2")
    second_worker_runs(conns, registry)
    assert runs == [1]


def test_a_finished_job_is_deleted_when_maintenance_mode_begins(conns: Connections, tmp_path: Any) -> None:
    app = conns.settings.app.model_copy(update={"base_path": tmp_path})
    down = Connections(conns.settings.model_copy(update={"app": app}))
    (tmp_path / "storage" / "framework").mkdir(parents=True)
    runs: list[int] = []
    registry = Registry()

    def go_down(job: Any, data: Any) -> None:
        runs.append(1)
        (tmp_path / "storage" / "framework" / "down").write_text("{}")

    registry.register("Tests\\Down", go_down)
    push(down, "Tests\\Down")
    try:
        w = worker(down, registry, stop_when_empty=False, sleep=0)
        w.control._maintenance_checked_at = -1e9
        w.events.after.append(lambda job: setattr(w.control, "_maintenance_checked_at", -1e9))
        _run_until(w, lambda: runs and reserved(down) == 0, "the delete in maintenance mode")
    finally:
        down.close()
    second_worker_runs(conns, registry)
    assert runs == [1]


# -- 3./4. timeouts ---------------------------------------------------------------------------------
def timeout_worker(env: dict[str, str], scenario: str, log: Any) -> int | None:
    """Run tests/support/timeout_worker.py to its end (a SIGKILL); its exit status, None if it hung."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.timeout_worker", scenario, str(log)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def logged(log: Any) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def recording_registry(log: Any) -> Registry:
    registry = Registry()
    registry.register("Tests\\Timed", lambda job, data: log.open("a").write(f"handle attempt={job.attempts()}\n"))
    return registry


def test_a_timeout_after_the_handler_returned_does_not_run_the_job_again(
    queue_env: dict[str, str], conns: Connections, tmp_path: Any
) -> None:
    """The handler returned, an `after` hook overran: the deferred delete must not be lost."""
    log = tmp_path / "log"
    push(conns, "Tests\\Timed", maxTries=3)
    assert timeout_worker(queue_env, "after-success", log) == -signal.SIGKILL
    assert reserved(conns) == 0 and conns.queue().size("default") == 0
    second_worker_runs(conns, recording_registry(log))
    assert logged(log) == ["handle attempt=1", "after hook"]
    assert conns.failed().all() == []


def test_timeout_bookkeeping_does_not_share_the_handlers_connection(mysql_env: dict[str, str], tmp_path: Any) -> None:
    """The handler is inside a query on the worker's MariaDB connection at the deadline: the watchdog
    records the failure on a connection of its own, and never runs failed() beside handle()."""
    log = tmp_path / "log"
    conns = Connections(load_settings(environ=mysql_env))
    try:
        from laravel_queue.schema import migrate

        migrate(conns.db())
        payload = push(conns, "Tests\\Timed", maxTries=3, failOnTimeout=True)
        assert timeout_worker(mysql_env, "busy-connection", log) == -signal.SIGKILL
        (record,) = conns.failed().all()
        assert record.uuid == payload["uuid"]
        assert record.exception.startswith("Illuminate\\Queue\\TimeoutExceededException: Tests\\Timed has timed out.")
        assert conns.queue().size("default") == 0 and reserved(conns) == 0
        assert logged(log) == ["handle attempt=1"]  # no failed() while handle() still runs
    finally:
        conns.close()
