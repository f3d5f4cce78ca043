"""The worker's rules (spec §8, §9) against real Redis and SQLite queues.

Jobs are pushed as Laravel stores them, the real Worker runs them, and the
assertions read what Laravel would read: the queue keys/rows and failed_jobs.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import laravel_fixture, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.output import WorkerOutput, runtime_for_humans
from laravel_queue.worker.worker import RESTART_KEY, backoff_for, paused_key


@pytest.fixture(params=["redis", "sqlite"])
def conns(request: pytest.FixtureRequest, sqlite_env: dict[str, str]) -> Iterator[Connections]:
    """Connections for a redis or a database queue; failed_jobs and cache on SQLite/Redis as Laravel's skeleton."""
    env = dict(sqlite_env)
    if request.param == "redis":
        env.update(request.getfixturevalue("redis_env"))
        request.getfixturevalue("redis_client")  # cleans this test's keys afterwards
    connections = Connections(load_settings(environ=env))
    from laravel_queue.schema import migrate

    migrate(connections.db())
    yield connections
    connections.close()


def push(conns: Connections, job: str, data: Any = None, *, queue: str = "default", **fields: Any) -> dict[str, Any]:
    """Push a string job (`Class@handle`) the way Laravel's Queue::push stores it."""
    q = conns.queue()
    payload = string_job_payload(f"{job}@handle", data)
    payload.update(fields)
    payload = q.prepare_payload(payload)
    q.push_raw(php_json_encode(payload), queue)
    return payload


def run_until_empty(conns: Connections, registry: Registry, queues: list[str] | None = None, **options: Any) -> str:
    out = io.StringIO()
    worker = Worker(
        conns,
        registry=registry,
        options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True, **options),
        output=WorkerOutput(out, width=80),
    )
    assert worker.daemon(None, queues or ["default"]) == 0
    return out.getvalue()


def failed_records(conns: Connections) -> list[Any]:
    return conns.failed().all()


def test_success_runs_once_and_deletes(conns: Connections) -> None:
    seen: list[tuple[int, Any]] = []
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: seen.append((job.attempts(), data)))
    for n in range(3):
        push(conns, "Tests\\Ok", {"n": n})
    output = run_until_empty(conns, registry)
    assert seen == [(1, {"n": 0}), (1, {"n": 1}), (1, {"n": 2})]
    assert conns.queue().size("default") == 0
    assert failed_records(conns) == []
    assert output.count("RUNNING") == 3 and output.count(" DONE") == 3


def test_exception_with_tries_left_is_released_with_backoff(conns: Connections) -> None:
    registry = Registry()
    registry.register("Tests\\Boom", lambda job, data: (_ for _ in ()).throw(RuntimeError("boom")))
    push(conns, "Tests\\Boom", maxTries=3, backoff="7,20")
    before = int(time.time())
    output = run_until_empty(conns, registry)
    queue = conns.queue()
    assert queue.size("default") == 1
    assert queue.delayed_size("default") == 1
    assert failed_records(conns) == []
    assert " FAIL" in output
    # released for 7 s (attempt 1 -> first backoff value): it cannot be popped before then
    assert queue.pop("default") is None
    if hasattr(queue, "client"):
        ((member, score),) = queue.client.zrange(queue.keys("default").delayed, 0, -1, withscores=True)
        assert before + 7 <= score <= int(time.time()) + 7
        assert json.loads(member)["attempts"] == 1


def test_exception_on_last_try_fails_into_failed_jobs(conns: Connections) -> None:
    registry = Registry()
    failed_hook: list[BaseException] = []

    def handler(job: Any, data: Any) -> None:
        raise ValueError("bad input 42")

    registry.register("Tests\\Bad", handler, failed=lambda exc: failed_hook.append(exc))
    payload = push(conns, "Tests\\Bad")
    run_until_empty(conns, registry)
    (record,) = failed_records(conns)
    assert record.uuid == payload["uuid"]
    assert record.connection == conns.queue().connection_name
    assert record.queue == "default"
    assert record.exception.startswith("ValueError: bad input 42 in ")
    assert "Stack trace:" in record.exception
    assert json.loads(record.payload)["uuid"] == payload["uuid"]
    assert [str(e) for e in failed_hook] == ["bad input 42"]
    assert conns.queue().size("default") == 0


def test_job_past_its_tries_fails_without_running(conns: Connections) -> None:
    ran: list[int] = []
    registry = Registry()
    registry.register("Tests\\Once", lambda job, data: ran.append(1))
    queue = conns.queue()
    payload = push(conns, "Tests\\Once", maxTries=2)
    # Make the job come back as if it had already been tried twice (a worker died each time).
    for _ in range(2):
        job = queue.pop("default")
        assert job is not None
        job.release(0)
    run_until_empty(conns, registry)
    assert ran == []
    (record,) = failed_records(conns)
    assert record.exception.startswith(
        "Illuminate\\Queue\\MaxAttemptsExceededException: Tests\\Once has been attempted too many times."
    )
    assert record.uuid == payload["uuid"]


def test_retry_until_in_the_past_fails_on_exception_despite_tries(conns: Connections) -> None:
    registry = Registry()
    registry.register("Tests\\Late", lambda job, data: (_ for _ in ()).throw(RuntimeError("late")))
    push(conns, "Tests\\Late", maxTries=10, retryUntil=int(time.time()) - 5)
    run_until_empty(conns, registry, max_tries=10)
    assert len(failed_records(conns)) == 1


def test_max_exceptions_counts_in_the_shared_cache(conns: Connections) -> None:
    registry = Registry()
    registry.register("Tests\\Flaky", lambda job, data: (_ for _ in ()).throw(RuntimeError("flaky")))
    payload = push(conns, "Tests\\Flaky", maxTries=10, maxExceptions=2)
    queue = conns.queue()
    worker = Worker(
        conns, registry=registry, options=WorkerOptions(memory=4096, sleep=0), output=WorkerOutput(io.StringIO())
    )
    worker.run_next_job(None, ["default"])
    assert conns.cache().get(f"job-exceptions:{payload['uuid']}") == 1
    assert failed_records(conns) == []
    # bring the released job back now instead of waiting for its backoff
    job = _pop_delayed_now(conns)
    job.release(0)
    worker.run_next_job(None, ["default"])
    assert len(failed_records(conns)) == 1
    assert conns.cache().get(f"job-exceptions:{payload['uuid']}") is None
    assert queue.size("default") == 0


def _pop_delayed_now(conns: Connections) -> Any:
    queue = conns.queue()
    original_clock = getattr(queue, "clock", None)
    if original_clock is not None:
        queue.clock = lambda: time.time() + 3600  # type: ignore[attr-defined]
    try:
        job = queue.pop("default")
    finally:
        if original_clock is not None:
            queue.clock = original_clock  # type: ignore[attr-defined]
    if job is None:  # database driver: read the delayed row directly
        db = conns.db()
        db.execute("UPDATE jobs SET available_at = 0 WHERE reserved_at IS NULL")
        job = queue.pop("default")
    assert job is not None
    return job


def test_handler_release_puts_it_back_with_delay(conns: Connections) -> None:
    registry = Registry()
    registry.register("Tests\\Later", lambda job, data: job.release(30))
    push(conns, "Tests\\Later")
    output = run_until_empty(conns, registry)
    queue = conns.queue()
    assert queue.delayed_size("default") == 1
    assert " DONE" in output  # Laravel prints DONE for a job that released itself


def test_handler_can_fail_the_job_itself(conns: Connections) -> None:
    registry = Registry()
    registry.register("Tests\\Gives", lambda job, data: job.fail(RuntimeError("gave up")))
    push(conns, "Tests\\Gives", maxTries=5)
    run_until_empty(conns, registry)
    (record,) = failed_records(conns)
    assert record.exception.startswith("RuntimeError: gave up")
    assert conns.queue().size("default") == 0


def test_unknown_class_fails_by_default_with_a_clear_message(conns: Connections) -> None:
    push(conns, "App\\Jobs\\NotInPython")
    run_until_empty(conns, Registry())
    (record,) = failed_records(conns)
    assert "App\\Jobs\\NotInPython" in record.exception.splitlines()[0]


def test_unknown_class_release_policy_gives_it_back_unchanged(conns: Connections) -> None:
    payload = push(conns, "App\\Jobs\\PhpOnly")
    options = WorkerOptions(memory=4096, sleep=0, unknown="release")
    worker = Worker(conns, registry=Registry(), options=options, output=WorkerOutput(io.StringIO()))
    worker.run_next_job(None, ["default"])
    queue = conns.queue()
    assert failed_records(conns) == []
    job = queue.pop("default")
    assert job is not None
    assert job.attempts() == 1  # the give-back did not consume an attempt
    assert job.payload["uuid"] == payload["uuid"]


def test_unreadable_payload_goes_to_failed_jobs_and_the_worker_goes_on(conns: Connections) -> None:
    seen: list[int] = []
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: seen.append(data["n"]))
    queue = conns.queue()
    queue.push_raw('{"uuid": "x", "job": truncated', "default")
    push(conns, "Tests\\Ok", {"n": 1})
    run_until_empty(conns, registry)
    assert seen == [1]
    (record,) = failed_records(conns)
    assert "not valid JSON" in record.exception.splitlines()[0]
    assert queue.size("default") == 0


def test_queue_priority_order(conns: Connections) -> None:
    order: list[str] = []
    registry = Registry()
    registry.register("Tests\\P", lambda job, data: order.append(data))
    push(conns, "Tests\\P", "low-1", queue="low")
    push(conns, "Tests\\P", "high-1", queue="high")
    push(conns, "Tests\\P", "low-2", queue="low")
    push(conns, "Tests\\P", "high-2", queue="high")
    run_until_empty(conns, registry, queues=["high", "low"])
    assert order == ["high-1", "high-2", "low-1", "low-2"]


def test_paused_queue_is_skipped(conns: Connections) -> None:
    order: list[str] = []
    registry = Registry()
    registry.register("Tests\\P", lambda job, data: order.append(data))
    push(conns, "Tests\\P", "a", queue="paused")
    push(conns, "Tests\\P", "b", queue="open")
    conns.cache().forever(paused_key(conns.queue().connection_name, "paused"), True)
    run_until_empty(conns, registry, queues=["paused", "open"])
    assert order == ["b"]
    assert conns.queue().size("paused") == 1


def test_restart_signal_stops_the_daemon(conns: Connections) -> None:
    registry = Registry()
    cache = conns.cache()

    def restart(job: Any, data: Any) -> None:
        cache.forever(RESTART_KEY, int(time.time()) + 1)

    registry.register("Tests\\Restart", restart)
    registry.register("Tests\\Ok", lambda job, data: None)
    push(conns, "Tests\\Restart")
    push(conns, "Tests\\Ok")
    worker = Worker(
        conns, registry=registry, options=WorkerOptions(memory=4096, sleep=0), output=WorkerOutput(io.StringIO())
    )
    assert worker.daemon(None, ["default"]) == 0
    assert conns.queue().size("default") == 1  # stopped after the job that signalled the restart


def test_max_jobs_and_memory_limits(conns: Connections) -> None:
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: None)
    for _ in range(3):
        push(conns, "Tests\\Ok")
    out = WorkerOutput(io.StringIO())
    assert (
        Worker(conns, registry=registry, options=WorkerOptions(memory=4096, sleep=0, max_jobs=2), output=out).daemon(
            None, ["default"]
        )
        == 0
    )
    assert conns.queue().size("default") == 1
    assert (
        Worker(conns, registry=registry, options=WorkerOptions(sleep=0, memory=1), output=out).daemon(None, ["default"])
        == 12
    )


def test_real_laravel_payload_runs_with_its_command(conns: Connections) -> None:
    driver = "redis" if conns.queue().connection_name == "redis" else "sqlite"
    fixture = laravel_fixture(f"{driver}/retry_options.json")
    seen: list[Any] = []
    registry = Registry()
    registry.register("App\\Jobs\\RetryOptionsJob", lambda job, command: seen.append((job.max_tries, job.timeout)))
    conns.queue().push_raw(fixture["raw_payload"], "default")
    run_until_empty(conns, registry)
    assert seen == [(5, 30)]


def test_backoff_rules() -> None:
    class FakeAttempts:
        def __init__(self, attempts: int, backoff: str | None) -> None:
            self._attempts, self.backoff = attempts, backoff

        def attempts(self) -> int:
            return self._attempts

    options = WorkerOptions(memory=4096, backoff="3")
    assert backoff_for(FakeAttempts(1, "1,5,10"), options) == 1  # type: ignore[arg-type]
    assert backoff_for(FakeAttempts(3, "1,5,10"), options) == 10  # type: ignore[arg-type]
    assert backoff_for(FakeAttempts(7, "1,5,10"), options) == 10  # type: ignore[arg-type]
    assert backoff_for(FakeAttempts(2, None), options) == 3  # type: ignore[arg-type]
    assert backoff_for(FakeAttempts(2, None), WorkerOptions(memory=4096, backoff="2,4")) == 4  # type: ignore[arg-type]


def test_runtime_format() -> None:
    assert runtime_for_humans(12.3456) == "12.35ms"
    assert runtime_for_humans(1234) == "1s 234ms"
    assert runtime_for_humans(125000) == "2m 5s"


def test_json_output_has_laravels_fields(conns: Connections) -> None:
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: None)
    registry.register("Tests\\Bad", lambda job, data: (_ for _ in ()).throw(RuntimeError("nope")))
    ok = push(conns, "Tests\\Ok")
    push(conns, "Tests\\Bad")
    out = io.StringIO()
    options = WorkerOptions(memory=4096, sleep=0, stop_when_empty=True, json=True)
    Worker(conns, registry=registry, options=options, output=WorkerOutput(out, json_mode=True)).daemon(
        None, ["default"]
    )
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["job"], e["status"]) for e in events] == [
        ("Tests\\Ok", "starting"),
        ("Tests\\Ok", "success"),
        ("Tests\\Bad", "starting"),
        ("Tests\\Bad", "failed"),
    ]
    assert events[0]["uuid"] == ok["uuid"] and events[0]["level"] == "info" and events[0]["attempts"] == 1
    assert events[1]["result"] == "deleted" and "duration" in events[1]
    assert events[3]["level"] == "warning" and events[3]["exception"] == "RuntimeError"
    assert events[3]["message"] == "nope" and events[3]["result"] == "failed"


class _CountingFile(io.RawIOBase):
    """A file-like sink that counts the writes reaching it (what a system call would be)."""

    def __init__(self) -> None:
        self.writes = 0
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: Any) -> int:
        self.writes += 1
        self.data += bytes(chunk)
        return len(chunk)


def _file_output() -> tuple[_CountingFile, WorkerOutput]:
    sink = _CountingFile()
    return sink, WorkerOutput(io.TextIOWrapper(io.BufferedWriter(sink), encoding="utf-8"), width=80)


def test_console_lines_cost_one_write_per_job_on_a_file(conns: Connections) -> None:
    """The DONE line rides with the next RUNNING line; the last one is written at exit."""
    registry = Registry()
    registry.register(r"Tests\Ok", lambda job, data: None)
    for n in range(20):
        push(conns, r"Tests\Ok", n)
    sink, output = _file_output()
    options = WorkerOptions(memory=4096, sleep=0, stop_when_empty=True)
    assert Worker(conns, registry=registry, options=options, output=output).daemon(None, ["default"]) == 0
    text = sink.data.decode()
    assert text.count("RUNNING") == 20 and text.count(" DONE") == 20
    assert text.rstrip().endswith("DONE")
    assert sink.writes <= 21, sink.writes


def test_done_line_is_written_before_the_worker_waits(conns: Connections) -> None:
    registry = Registry()
    ran = threading.Event()
    registry.register(r"Tests\Ok", lambda job, data: ran.set())
    push(conns, r"Tests\Ok")
    sink, output = _file_output()
    worker = Worker(conns, registry=registry, options=WorkerOptions(memory=4096, sleep=5), output=output)
    thread = threading.Thread(target=worker.daemon, args=(None, ["default"]), daemon=True)
    thread.start()
    try:
        wait_for(lambda: b" DONE" in sink.data, what="the DONE line while the worker sleeps")
        assert thread.is_alive()  # written before the idle sleep, not at exit
    finally:
        worker.should_quit = True
        worker._wake.set()
        thread.join(10)


def test_user_hooks_fire_around_jobs(conns: Connections) -> None:
    from laravel_queue.worker import WorkerEvents

    calls: list[str] = []
    events = WorkerEvents()
    events.before.append(lambda job: calls.append(f"before {job.display_name}"))
    events.after.append(lambda job: calls.append(f"after {job.display_name}"))
    events.exception_occurred.append(lambda job, exc: calls.append(f"exception {exc}"))
    events.failing.append(lambda job, exc: calls.append(f"failing {exc}"))
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: None)
    registry.register("Tests\\Bad", lambda job, data: (_ for _ in ()).throw(RuntimeError("x")))
    push(conns, "Tests\\Ok")
    push(conns, "Tests\\Bad")
    worker = Worker(
        conns,
        registry=registry,
        events=events,
        output=WorkerOutput(io.StringIO()),
        options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True),
    )
    worker.daemon(None, ["default"])
    assert calls == ["before Tests\\Ok", "after Tests\\Ok", "before Tests\\Bad", "failing x", "exception x"]


def test_reserved_and_finished_listeners_see_each_outcome_once(conns: Connections) -> None:
    from laravel_queue.worker import WorkerEvents

    seen: list[tuple[str, str, str | None]] = []
    events = WorkerEvents()
    events.reserved.append(lambda job: seen.append(("reserved", job.display_name, None)))
    events.before.append(lambda job: seen.append(("before", job.display_name, None)))
    events.finished.append(
        lambda job, outcome, ms, exc: seen.append((outcome, job.display_name, type(exc).__name__ if exc else None))
    )
    registry = Registry()
    registry.register("Tests\\Ok", lambda job, data: None)
    registry.register("Tests\\Bad", lambda job, data: (_ for _ in ()).throw(RuntimeError("x")))
    registry.register("Tests\\Later", lambda job, data: job.release(60))
    push(conns, "Tests\\Ok")
    push(conns, "Tests\\Bad", maxTries=2)
    push(conns, "Tests\\Bad")
    push(conns, "Tests\\Later")
    push(conns, "Tests\\Php")
    worker = Worker(
        conns,
        registry=registry,
        events=events,
        output=WorkerOutput(io.StringIO()),
        options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True, unknown="release", max_jobs=5),
    )
    worker.daemon(None, ["default"])
    finished = [entry for entry in seen if entry[0] not in ("reserved", "before")]
    assert finished == [
        ("processed", "Tests\\Ok", None),
        ("released_after_exception", "Tests\\Bad", "RuntimeError"),
        ("failed", "Tests\\Bad", "RuntimeError"),
        ("released", "Tests\\Later", None),
        ("given_back", "Tests\\Php", None),
    ]
    assert seen[:3] == [("reserved", "Tests\\Ok", None), ("before", "Tests\\Ok", None), finished[0]]


def test_maintenance_mode_idles_without_force(conns: Connections, tmp_path: Any) -> None:
    settings = conns.settings.model_copy(update={"app": conns.settings.app.model_copy(update={"base_path": tmp_path})})
    (tmp_path / "storage" / "framework").mkdir(parents=True)
    (tmp_path / "storage" / "framework" / "down").write_text("{}")
    down = Connections(settings)
    try:
        ran: list[int] = []
        registry = Registry()
        registry.register("Tests\\Ok", lambda job, data: ran.append(1))
        push(down, "Tests\\Ok")
        idle = Worker(
            down, registry=registry, options=WorkerOptions(memory=4096, sleep=0), output=WorkerOutput(io.StringIO())
        )
        assert idle.run_next_job(None, ["default"]) == 0
        assert ran == []
        forced = Worker(
            down,
            registry=registry,
            options=WorkerOptions(memory=4096, sleep=0, force=True),
            output=WorkerOutput(io.StringIO()),
        )
        forced.run_next_job(None, ["default"])
        assert ran == [1]
    finally:
        down.close()


def test_watchdog_fires_for_an_overrunning_job_and_not_after_disarm() -> None:
    from conftest import wait_for

    from laravel_queue.worker.watchdog import Watchdog

    events: list[Any] = []
    watchdog = Watchdog(lambda job: events.append(job), kill=lambda: events.append("kill"))
    watchdog.arm("long", 60)  # the thread now sleeps towards a far deadline ...
    watchdog.disarm()
    watchdog.arm("short", 0.2)  # ... and must be woken for an earlier one
    wait_for(lambda: events == ["short", "kill"], timeout=5, what="the short job's timeout")
    events.clear()
    watchdog.arm("finished in time", 0.2)
    watchdog.disarm()
    watchdog.arm("next", 60)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # bounded observation: nothing fires for a disarmed job
        assert events == []
        time.sleep(0.05)


def _thread_status(native_id: int, field: str) -> str:
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":"))


def test_watchdog_thread_is_not_woken_for_every_job() -> None:
    """The worker arms and disarms once per job, and the watchdog thread, once woken,
    often runs only after the disarm (while the worker waits for Redis). It must then
    sleep on towards the deadline, not go idle: an idle thread needs waking by the next
    arm, which again runs after that job's disarm, and so on: a thread wake-up per job."""
    from laravel_queue.worker.watchdog import Watchdog

    events: list[Any] = []
    watchdog = Watchdog(lambda job: events.append(job), kill=lambda: events.append("kill"))
    native_id = watchdog._thread.native_id
    assert native_id is not None
    wait_for(lambda: _thread_status(native_id, "State") == "S", timeout=5, what="the idle watchdog to wait")
    before = int(_thread_status(native_id, "voluntary_ctxt_switches"))
    for n in range(100):
        watchdog.arm(n, 60)
        watchdog.disarm()
        time.sleep(0.002)  # the thread may run now, with no job armed
    woken = int(_thread_status(native_id, "voluntary_ctxt_switches")) - before
    assert woken <= 5, f"watchdog thread woke {woken} times for 100 jobs"
    watchdog.arm("short", 0.2)  # an earlier deadline still wakes it
    wait_for(lambda: events == ["short", "kill"], timeout=5, what="the short job's timeout")


def test_a_failure_that_cannot_be_recorded_leaves_the_job_reserved(conns: Connections) -> None:
    """failed_jobs is written before the delete: a broken failed store loses nothing."""
    registry = Registry()
    registry.register("Tests\\Bad", lambda job, data: (_ for _ in ()).throw(RuntimeError("bad")))
    push(conns, "Tests\\Bad")
    conns.db().execute("DROP TABLE failed_jobs")
    run_until_empty(conns, registry)
    queue = conns.queue()
    assert queue.reserved_size("default") == 1  # back after retry_after, attempt counted
    assert queue.size("default") == 1
