"""`async def` handlers and callbacks are awaited wherever a sync one is called (issue 25, item 1).

The worker used to call an async handler, get a coroutine back, and delete the job as
done without running it. Here: registration rejects what cannot run, the sync entry
points run coroutines to completion, and real worker processes on every driver run each
async job exactly once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, WorkerProcess, wait_for
from pydantic import BaseModel
from test_reliability_kill import backend_env, conns, log_lines, push  # noqa: F401 - fixtures

from laravel_queue.awaitables import run_sync
from laravel_queue.bus.batches import BatchCallbacks
from laravel_queue.bus.chains import ChainCallbacks
from laravel_queue.cache.array import ArrayStore
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import dispatch
from laravel_queue.job import Job
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.registry import Registry
from laravel_queue.schedule.event import ScheduleError
from laravel_queue.schedule.schedule import Schedule
from laravel_queue.worker.lifecycle import WorkerEvents

# -- registration rejects what calling cannot run ----------------------------------------------


async def _async_gen(job: Any, command: Any) -> Any:
    yield 1


def _gen(job: Any, command: Any) -> Any:
    yield 1


async def _coro_fn(job: Any, command: Any) -> None:
    return None


def test_async_generator_handler_is_rejected_saying_why() -> None:
    with pytest.raises(TypeError, match="async generator function: calling it runs none of its body"):
        Registry().register("App\\Jobs\\A", _async_gen)


def test_generator_handler_is_rejected_saying_why() -> None:
    with pytest.raises(TypeError, match="generator function"):
        Registry().register("App\\Jobs\\A", _gen)


def test_coroutine_object_instead_of_function_is_rejected_saying_why() -> None:
    coroutine = _coro_fn(None, None)
    try:
        with pytest.raises(TypeError, match="coroutine object, not a function: register the function itself"):
            Registry().register("App\\Jobs\\A", coroutine)  # type: ignore[arg-type]
    finally:
        coroutine.close()


def test_class_with_async_generator_handle_is_rejected() -> None:
    class Job_(BaseModel):
        async def handle(self) -> Any:
            yield 1

    with pytest.raises(TypeError, match=r"Job_.handle\(\) for App\\Jobs\\A is an async generator"):
        Registry().register("App\\Jobs\\A", Job_)


def test_async_generator_failed_hook_and_callbacks_are_rejected() -> None:
    async def bad(exc: Any) -> Any:
        yield exc

    with pytest.raises(TypeError, match="failed hook is an async generator"):
        Registry().handles("App\\Jobs\\A", failed=bad)
    with pytest.raises(TypeError, match="on_chain_catch callback is an async generator"):
        ChainCallbacks().on_chain_catch(bad)
    with pytest.raises(TypeError, match="async generator"):
        BatchCallbacks().on_batch("b", then=bad)
    with pytest.raises(ScheduleError, match="async generator"):
        Schedule().call(bad)


# -- the sync entry points run coroutines to completion -----------------------------------------


def _job(name: str = "App\\Jobs\\A", data: Any = None) -> Job:
    from laravel_queue.drivers.sync import SyncJob

    return SyncJob(
        raw_body=php_json_encode(string_job_payload(f"{name}@handle", data or {})), queue="q", connection_name="sync"
    )


def test_async_function_handler_and_failed_hook_run_through_prepared_job() -> None:
    ran: list[str] = []
    registry = Registry()

    async def failed(exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        ran.append(f"failed {exc}")

    @registry.handles("App\\Jobs\\A", failed=failed)
    async def handler(job: Any, data: Any) -> str:
        await asyncio.sleep(0)
        ran.append(f"ran {data['n']}")
        return "result"

    prepared = registry.prepare(_job(data={"n": 7}))
    assert prepared.is_async
    assert prepared.handle() == "result"
    prepared.failed(RuntimeError("x"))
    assert ran == ["ran 7", "failed x"]


def test_async_class_handle_and_failed_run_through_prepared_job() -> None:
    ran: list[str] = []
    registry = Registry()

    @registry.handles("App\\Jobs\\A")
    class Handler(BaseModel):
        n: int

        async def handle(self, job: Any) -> None:
            await asyncio.sleep(0)
            ran.append(f"ran {self.n} attempt {job.attempts()}")

        async def failed(self, exc: BaseException | None) -> None:
            ran.append("failed")

    prepared = registry.prepare(_job(data={"n": 3}))
    assert prepared.is_async
    prepared.handle()
    prepared.failed(None)
    assert ran == ["ran 3 attempt 1", "failed"]


def test_ahandle_awaits_on_the_running_loop() -> None:
    registry = Registry()

    @registry.handles("App\\Jobs\\A")
    async def handler(job: Any, data: Any) -> Any:
        return asyncio.get_running_loop()

    async def main() -> None:
        prepared = registry.prepare(_job())
        assert await prepared.ahandle() is asyncio.get_running_loop()

    asyncio.run(main())


def test_run_sync_reuses_one_loop_per_thread() -> None:
    async def current() -> Any:
        return asyncio.get_running_loop()

    first, second = run_sync(current()), run_sync(current())
    assert first is second
    other: list[Any] = []
    thread = threading.Thread(target=lambda: other.append(run_sync(current())))
    thread.start()
    thread.join()
    assert other[0] is not first


def test_run_sync_inside_a_running_loop_completes_on_a_helper_thread() -> None:
    async def value() -> int:
        await asyncio.sleep(0)
        return 5

    async def main() -> int:
        return int(run_sync(value()))  # sync code called from async code, e.g. the sync driver

    assert asyncio.run(main()) == 5


def test_async_worker_events_and_looping_hooks_are_awaited() -> None:
    seen: list[str] = []

    async def before(job: Any) -> None:
        seen.append("before")

    async def looping() -> bool:
        return False

    events = WorkerEvents(before=[before], looping=[looping])
    events.fire(events.before, _job())
    assert seen == ["before"]
    assert events.should_loop() is False


def test_async_schedule_callback_and_hooks_run(tmp_path: Path) -> None:
    from laravel_queue.schedule.context import ScheduleContext

    seen: list[str] = []

    async def task() -> str:
        await asyncio.sleep(0)
        seen.append("task")
        return "ok"

    async def after() -> None:
        seen.append("after")

    async def allowed() -> bool:
        return True

    schedule = Schedule()
    event = schedule.call(task).when(allowed).after(after)
    ctx = ScheduleContext(load_settings(environ={"APP_BASE_PATH": str(tmp_path)}), None, cache_store=ArrayStore())
    assert event.filters_pass(ctx)
    event.run(ctx)
    assert seen == ["task", "after"]
    assert event.result == "ok"


# -- the sync driver ------------------------------------------------------------------------------


def test_sync_driver_runs_async_handler_and_async_failed_hook(tmp_path: Path) -> None:
    from support import async_jobs  # noqa: F401 - registers the handlers

    log = tmp_path / "log"
    conns_ = Connections(load_settings(environ={"QUEUE_CONNECTION": "sync"}))
    try:
        conns_.queue().push_raw(
            php_json_encode(string_job_payload("Tests\\Async\\Record@handle", {"log": str(log), "n": 1}))
        )
        assert log_lines(log) == [line for line in log_lines(log) if line.startswith("done 1")]
        assert len(log_lines(log)) == 1
        with pytest.raises(RuntimeError, match="boom 2"):
            conns_.queue().push_raw(
                php_json_encode(string_job_payload("Tests\\Async\\Boom@handle", {"log": str(log), "n": 2}))
            )
        assert log_lines(log)[1:] == ["boom 2 attempt=1", "failed 2 RuntimeError"]
    finally:
        conns_.close()


# -- real worker processes on every driver: exactly once per job -----------------------------------

JOBS = 12


def test_async_handler_runs_exactly_once_per_job_on_every_driver(
    backend_env: dict[str, str],  # noqa: F811
    conns: Connections,  # noqa: F811
    spawn_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    log = tmp_path / "jobs.log"
    for n in range(JOBS):
        push(conns, "Tests\\Async\\Record", {"log": str(log), "n": n})
    push(conns, "Tests\\Async\\Boom", {"log": str(log), "n": "x"}, maxTries=2)
    workers = [spawn_worker(backend_env, jobs="tests.support.async_jobs") for _ in range(2)]
    wait_for(
        lambda: sum(line.startswith("done") for line in log_lines(log)) >= JOBS
        and any(line.startswith("failed x") for line in log_lines(log)),
        timeout=40,
        what=f"{JOBS} async jobs and one failure; worker output:\n{workers[0].text()}",
    )
    wait_for(lambda: conns.queue().size(None) == 0, timeout=15, what="the queue to drain")
    done = sorted(int(line.split()[1]) for line in log_lines(log) if line.startswith("done"))
    assert done == list(range(JOBS))  # each ran once: no coroutine dropped, none run twice
    assert [line for line in log_lines(log) if not line.startswith("done")] == [
        "boom x attempt=1",
        "boom x attempt=2",
        "failed x RuntimeError",
    ]
    assert len(conns.failed().all()) == 1
    for worker in workers:
        assert "never awaited" not in worker.text()


def test_once_mode_runs_an_async_class_handler(
    redis_env: dict[str, str], redis_client: Any, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    from support import async_jobs as jobs

    env = {**sqlite_env, **redis_env}
    connections = Connections(load_settings(environ=env))
    log = tmp_path / "log"
    try:
        dispatch(jobs.AsyncTypedJob(n=4, log=str(log)), connections=connections)
        done = subprocess.run(
            [sys.executable, "-m", "laravel_queue", "queue:work", "--once", "--jobs", "tests.support.async_jobs"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert log_lines(log) == [f"done 4 pid={log_lines(log)[0].split('pid=')[1].split()[0]} attempt=?"]
        assert connections.queue().size(None) == 0
    finally:
        connections.close()
