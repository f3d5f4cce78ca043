"""schedule:run semantics with an in-process ArrayStore and a controllable clock (no sleeping)."""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import FIXTURES, wait_for

from laravel_queue.cache.array import ArrayStore
from laravel_queue.config import load_settings
from laravel_queue.schedule import Schedule, ScheduleContext, ScheduleRunner
from laravel_queue.schedule.context import INTERRUPT_KEY, MAINTENANCE_KEY
from laravel_queue.schedule.output import Console
from laravel_queue.schedule.runner import interrupt

UTC = timezone.utc
SCHEDULER = FIXTURES / "laravel" / "scheduler"


class FakeClock:
    """A clock tests move by hand; `sleep` advances it instead of waiting."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def timestamp(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 6, 58, 0, 500000, tzinfo=UTC))


@pytest.fixture
def store(clock: FakeClock) -> ArrayStore:
    return ArrayStore(clock=clock.timestamp)


def make_context(tmp_path: Path, clock: FakeClock, store: ArrayStore, **env: str) -> ScheduleContext:
    settings = load_settings(environ={"CACHE_STORE": "array", **env}, app_path=tmp_path)
    return ScheduleContext(settings, None, clock=clock, sleep=clock.sleep, cache_store=store)


def run(schedule: Schedule, context: ScheduleContext, **kwargs) -> str:
    out = io.StringIO()
    ScheduleRunner(schedule, context, Console(out, 80), **kwargs).run()
    return out.getvalue()


def fixture_like_schedule(log: list[str]) -> Schedule:
    """The capture app's four tasks; `true` plays the PHP binary so `harness:tick` exits 0."""
    schedule = Schedule(php_binary="true")
    schedule.command("harness:tick").every_minute()
    schedule.call(lambda: log.append("overlap")).name("harness-overlap-callback").every_minute().without_overlapping(
        10
    ).on_one_server()
    schedule.call(lambda: log.append("5s")).name("harness-every-5s").every_five_seconds()
    schedule.call(lambda: log.append("job")).name("App\\Jobs\\ControlledJob").every_minute()
    return schedule


def normalize(text: str) -> list[str]:
    text = text.replace("'true' 'artisan'", "'<php_binary>' 'artisan'")
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", text)
    return [re.sub(r"\.+ [\d.,]+ms (DONE|FAIL)", r"<dots+runtime> \1", line) for line in text.split("\n")]


def test_run_output_matches_laravel_schedule_run(tmp_path, clock, store):
    log: list[str] = []
    output = run(fixture_like_schedule(log), make_context(tmp_path, clock, store))
    expected = (SCHEDULER / "03b-schedule-run-output.txt").read_text(encoding="utf-8")
    assert normalize(output) == normalize(expected)
    assert log == ["overlap", "5s", "job"] + ["5s"] * 11
    task_lines = [line for line in output.split("\n") if "Running [" in line]
    assert {len(line) for line in task_lines} == {78}  # 80-column layout, as captured
    seconds = [line[19:21] for line in task_lines if "harness-every-5s" in line]
    assert seconds == ["00", "05", "10", "15", "20", "25", "30", "35", "40", "45", "50", "55"]
    # the on-one-server key for minute 06:58 stays; the overlap mutex was released
    assert store.lock("x").get_current_owner() is None
    overlap = fixture_like_schedule([]).events[1]
    assert store._lock_owner(overlap.mutex_name() + "0658") is not None
    assert store._lock_owner(overlap.mutex_name()) is None


def test_second_server_skips_on_one_server_event_like_laravel(tmp_path, clock, store):
    first = run(fixture_like_schedule([]), make_context(tmp_path, clock, store))
    assert "Skipping" not in first
    clock.now = datetime(2026, 11, 23, 6, 58, 0, 700000, tzinfo=UTC)
    log: list[str] = []
    second = run(fixture_like_schedule(log), make_context(tmp_path, clock, store))
    assert "overlap" not in log
    captured = (SCHEDULER / "04b-two-concurrent-outputs.txt").read_text(encoding="utf-8")
    process_a = captured.split("--- process A\n")[1].split("--- process B")[0]
    assert normalize(second) == normalize(process_a)


def test_nothing_due_says_so_unless_whisper(tmp_path, clock, store):
    schedule = Schedule(php_binary="php")
    schedule.call(lambda: None).hourly()
    context = make_context(tmp_path, clock, store)
    assert run(schedule, context) == "\n   INFO  No scheduled commands are ready to run.  \n\n"
    assert run(schedule, context, whisper=True) == ""


def test_interrupt_stops_sub_minute_repeats(tmp_path, clock, store):
    context = make_context(tmp_path, clock, store)
    store.put(INTERRUPT_KEY, True, 60)  # left over from an earlier minute: cleared at start
    runs: list[int] = []

    def tick() -> None:
        runs.append(clock.now.second)
        if len(runs) == 3:
            interrupt(context)

    schedule = Schedule(php_binary="php")
    schedule.call(tick).every_ten_seconds()
    run(schedule, context)
    assert runs == [0, 10, 20]


def test_interrupt_ttl_runs_to_the_end_of_the_minute(tmp_path, clock, store):
    context = make_context(tmp_path, clock, store)
    clock.now = datetime(2026, 11, 23, 6, 58, 20, 500000, tzinfo=UTC)
    interrupt(context)
    assert store.get(INTERRUPT_KEY) is True
    clock.now = datetime(2026, 11, 23, 6, 58, 59, 900000, tzinfo=UTC)
    assert store.get(INTERRUPT_KEY) is True
    clock.now = datetime(2026, 11, 23, 6, 59, 0, 600000, tzinfo=UTC)
    assert store.get(INTERRUPT_KEY) is None


def test_without_overlapping_skips_while_the_mutex_is_held(tmp_path, clock, store):
    context = make_context(tmp_path, clock, store)
    ran: list[str] = []
    schedule = Schedule(php_binary="php")
    event = schedule.call(lambda: ran.append("x")).name("guarded").without_overlapping(5)
    held = store.lock(event.mutex_name(), 300)
    assert held.acquire()  # another scheduler is still running it
    output = run(schedule, context)
    assert ran == [] and "No scheduled commands are ready to run." in output  # the filter rejected it
    clock.sleep(301)  # the mutex expires after minutes * 60 seconds
    run(schedule, context)
    assert ran == ["x"]
    assert context.event_mutex.exists(event) is False  # released after the run


def test_failed_command_is_reported_and_the_run_continues(tmp_path, clock, store, caplog):
    context = make_context(tmp_path, clock, store)
    schedule = Schedule(php_binary="php")
    schedule.exec("exit 3")
    after: list[str] = []
    schedule.call(lambda: after.append("next"))
    with caplog.at_level(logging.ERROR, logger="laravel_queue.schedule"):
        output = run(schedule, context)
    assert re.search(r"Running \[exit 3\] \.+ [\d.]+ms FAIL", output)
    assert "  ⇂ exit 3 > '/dev/null' 2>&1  " in output
    assert after == ["next"]
    assert "Scheduled command [exit 3] failed with exit code [3]." in caplog.text


def test_callbacks_order_and_conditions(tmp_path, clock, store, caplog):
    context = make_context(tmp_path, clock, store)
    calls: list[str] = []
    schedule = Schedule(php_binary="php")
    ok = schedule.exec("echo done").name("ok").send_output_to(str(tmp_path / "out.txt"))
    ok.before(lambda: calls.append("before")).then(lambda: calls.append("then"))
    ok.on_success(lambda event: calls.append(f"success:{event.exit_code}")).on_failure(lambda: calls.append("fail"))

    def boom() -> None:
        raise RuntimeError("broken task")

    bad = schedule.call(boom).name("boom")
    bad.after(lambda: calls.append("after-boom")).on_failure(lambda: calls.append("failure-boom"))
    falsy = schedule.call(lambda: False).name("falsy").on_failure(lambda e: calls.append(f"falsy:{e.exit_code}"))
    with caplog.at_level(logging.ERROR, logger="laravel_queue.schedule"):
        output = run(schedule, context)
    assert calls == ["before", "then", "success:0", "after-boom", "failure-boom", "falsy:1"]
    assert (tmp_path / "out.txt").read_text() == "done\n"
    assert re.search(r"Running \[boom\] \.+ [\d.]+ms FAIL", output)
    assert re.search(r"Running \[falsy\] \.+ [\d.]+ms FAIL", output)
    assert "  ⇂ ok  " in output  # a described command shows its description
    assert "broken task" in caplog.text
    assert falsy.exit_code == 1


def test_maintenance_mode_file_and_cache_drivers(tmp_path, clock, store):
    ran: list[str] = []
    schedule = Schedule(php_binary="php")
    schedule.call(lambda: ran.append("normal"))
    schedule.call(lambda: ran.append("forced")).even_in_maintenance_mode()
    down = tmp_path / "storage" / "framework" / "down"
    down.parent.mkdir(parents=True)
    down.write_text("{}")
    run(schedule, make_context(tmp_path, clock, store))
    assert ran == ["forced"]
    down.unlink()
    ran.clear()
    cache_mode = make_context(tmp_path, clock, store, APP_MAINTENANCE_DRIVER="cache", APP_MAINTENANCE_STORE="array")
    store.forever(MAINTENANCE_KEY, {"time": 1})
    run(schedule, cache_mode)
    assert ran == ["forced"]
    store.forget(MAINTENANCE_KEY)
    ran.clear()
    run(schedule, cache_mode)
    assert ran == ["normal", "forced"]


def test_environments_filters_and_timezones(tmp_path, clock, store):
    ran: list[str] = []
    schedule = Schedule(php_binary="php")
    schedule.call(lambda: ran.append("prod-only")).environments("production")
    schedule.call(lambda: ran.append("staging-only")).environments(["staging"])
    schedule.call(lambda: ran.append("when-false")).when(lambda: False)
    schedule.call(lambda: ran.append("skip-true")).skip(True)
    schedule.call(lambda: ran.append("between")).between("07:00", "08:00").timezone("Europe/Amsterdam")
    schedule.call(lambda: ran.append("unless")).unless_between("06:00", "07:00")
    schedule.call(lambda: ran.append("amsterdam")).daily_at("07:58").timezone("Europe/Amsterdam")
    schedule.call(lambda: ran.append("utc-0758")).daily_at("07:58")
    run(schedule, make_context(tmp_path, clock, store, APP_ENV="production"))
    assert ran == ["prod-only", "between", "amsterdam"]
    ran.clear()
    run(schedule, make_context(tmp_path, clock, store, APP_ENV="production", SCHEDULE_TIMEZONE="Europe/Amsterdam"))
    assert ran == ["prod-only", "between", "unless", "amsterdam", "utc-0758"]  # unless_between now in CET


def test_on_one_server_key_uses_the_app_timezone(tmp_path, clock, store):
    schedule = Schedule(php_binary="php")
    event = schedule.call(lambda: None).name("tz-key").on_one_server()
    run(schedule, make_context(tmp_path, clock, store, APP_TIMEZONE="Europe/Amsterdam"))
    assert store._lock_owner(event.mutex_name() + "0758") is not None  # 06:58 UTC = 07:58 CET
    assert store._lock_owner(event.mutex_name() + "0658") is None


def test_background_command_finishes_later(tmp_path, clock, store):
    context = make_context(tmp_path, clock, store)
    done: list[int | None] = []
    marker = tmp_path / "bg.txt"
    schedule = Schedule(php_binary="php")
    event = schedule.exec(f"touch {marker}").run_in_background().without_overlapping()
    event.then(lambda e: done.append(e.exit_code))
    output = run(schedule, context)
    assert re.search(r"Running \[touch .*\] in background \.* [\d.]+ms DONE", output)
    wait_for(lambda: done, timeout=10, what="the background event's after-callback")
    assert done == [0] and marker.exists()
    wait_for(lambda: not context.event_mutex.exists(event), timeout=10, what="the mutex to be released")


def test_repeated_runs_in_one_minute_reuse_the_scheduling_mutex_answer(tmp_path, clock, store):
    context = make_context(tmp_path, clock, store)
    schedule = Schedule(php_binary="php")
    runs: list[int] = []
    event = schedule.call(lambda: runs.append(1)).name("fast").every_thirty_seconds().on_one_server()
    runner = ScheduleRunner(schedule, context, Console(io.StringIO(), 80))
    runner.run()
    assert len(runs) == 2
    assert runner._server_should_run == {event.mutex_name(): True}
