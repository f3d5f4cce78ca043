"""The schedule:* commands end to end (real subprocesses where signals or children matter)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner
from conftest import ROOT, wait_for

from laravel_queue.cli import app
from laravel_queue.schedule.worker import ScheduleWorker

UTC = timezone.utc


def write_module(tmp_path, body: str) -> str:
    name = f"sched_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    return name


def cli(tmp_path, monkeypatch, *args: str, env: dict[str, str] | None = None):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    environment = {"CACHE_STORE": "array", "COLUMNS": "80", **(env or {})}
    return CliRunner().invoke(app, list(args), env=environment, catch_exceptions=False)


MODULE = """
    from pathlib import Path
    from laravel_queue.schedule import Schedule

    schedule = Schedule(php_binary="true")

    def mark():
        Path("ran.txt").write_text("yes")

    schedule.call(mark).name("mark-it").every_minute()
    schedule.command("inspire").hourly()
    schedule.exec("echo hi").days_of_month(1).description("monthly hello")
"""


def test_run_list_test_and_clear_cache(tmp_path, monkeypatch):
    module = write_module(tmp_path, MODULE)
    result = cli(tmp_path, monkeypatch, "schedule:run", "--schedule", module)
    assert result.exit_code == 0, result.output
    assert "Running [mark-it]" in result.output and (tmp_path / "ran.txt").read_text() == "yes"

    result = cli(tmp_path, monkeypatch, "schedule:list", "--schedule", f"{module}:schedule", "--json")
    rows = json.loads(result.output)
    assert [row["expression"] for row in rows] == ["* * * * *", "0 * * * *", "0 0 1 * *"]
    assert rows[1]["command"] == "php artisan inspire"

    result = cli(tmp_path, monkeypatch, "schedule:list", "--schedule", module, "--timezone", "Asia/Tokyo", "-v")
    assert "+09:00" in result.output and "⇁ monthly hello" in result.output

    result = cli(tmp_path, monkeypatch, "schedule:test", "--schedule", module, "--name", "inspire")
    assert "Running ['artisan' inspire]" in result.output and "DONE" in result.output
    result = cli(tmp_path, monkeypatch, "schedule:test", "--schedule", module, "--name", "nope")
    assert "No matching scheduled command found." in result.output

    result = cli(tmp_path, monkeypatch, "schedule:clear-cache", "--schedule", module)
    assert "No mutex files were found." in result.output
    result = cli(tmp_path, monkeypatch, "schedule:interrupt")
    assert result.exit_code == 0 and "Broadcasting schedule interrupt signal." in result.output


def test_bad_schedule_targets_give_clear_errors(tmp_path, monkeypatch):
    module = write_module(tmp_path, "value = 3\n")
    result = cli(tmp_path, monkeypatch, "schedule:run", "--schedule", f"{module}:value")
    assert result.exit_code == 2 and "is int, not a laravel_queue.schedule.Schedule" in result.output
    result = cli(tmp_path, monkeypatch, "schedule:run", "--schedule", "no_such_module_xyz")
    assert result.exit_code == 2 and "cannot import 'no_such_module_xyz'" in result.output
    result = cli(tmp_path, monkeypatch, "schedule:run", "--schedule", f"{module}:missing")
    assert result.exit_code == 2 and "has no attribute 'missing'" in result.output


def test_background_event_is_finished_by_schedule_finish(tmp_path, redis_env, redis_client):
    """runInBackground: the shell detaches the command, then calls our schedule:finish."""
    module = write_module(
        tmp_path,
        """
        from pathlib import Path
        from laravel_queue.schedule import Schedule

        schedule = Schedule()
        event = schedule.exec("touch started.txt").name("bg-task").run_in_background().without_overlapping()
        event.then(lambda e: Path("finished.txt").write_text(str(e.exit_code)))
        """,
    )
    env = {**os.environ, **redis_env, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "laravel_queue", "schedule:run", "--schedule", module],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Running [touch started.txt] in background" in done.stdout
    wait_for(lambda: (tmp_path / "finished.txt").exists(), timeout=30, what="schedule:finish to run the callbacks")
    assert (tmp_path / "finished.txt").read_text() == "0"
    assert (tmp_path / "started.txt").exists()
    pattern = f"{redis_env['REDIS_PREFIX']}*framework/schedule-*"
    wait_for(lambda: not list(redis_client.scan_iter(match=pattern)), timeout=30, what="the mutex to be released")


def test_worker_spawns_once_per_minute_on_the_boundary():
    class Clock:
        def __init__(self) -> None:
            self.now = datetime(2026, 1, 1, 10, 0, 58, tzinfo=UTC)

        def __call__(self) -> datetime:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += timedelta(seconds=seconds)

    class Child:
        def poll(self) -> int:
            return 0

        def wait(self) -> int:
            return 0

    clock = Clock()
    spawned: list[datetime] = []

    def spawn() -> Child:
        spawned.append(clock.now)
        return Child()

    worker = ScheduleWorker(spawn, clock=clock, sleep=clock.sleep)
    worker.run(max_ticks=1300)  # 130 s of 100 ms ticks
    assert [moment.strftime("%H:%M:%S") for moment in spawned] == ["10:01:00", "10:02:00", "10:03:00"]


def test_schedule_work_stops_on_sigterm(tmp_path):
    module = write_module(tmp_path, MODULE)
    env = {**os.environ, "CACHE_STORE": "array", "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "laravel_queue", "schedule:work", "--schedule", module],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    wait_for(lambda: "Running scheduled tasks" in proc.stdout.readline(), timeout=30, what="schedule:work banner")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
