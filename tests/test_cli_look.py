"""Artisan's look: colours on a terminal only, plain help, `config:show [section]`, what
`dispatch` pushed, and `queue:work --json` results derived from the job's state.

Terminal output is captured through a real pseudo-terminal (the `pty` module); the
worker runs as a subprocess against the test's own Redis prefix.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
JOBS_MODULE = '''
from laravel_queue import handles


@handles("App\\\\Jobs\\\\Ok")
def ok(job, command):
    pass


@handles("App\\\\Jobs\\\\LetGo")
def let_go(job, command):
    job.release(30)


@handles("App\\\\Jobs\\\\Boom")
def boom(job, command):
    raise RuntimeError("boom")
'''
INFO_BADGE = "\x1b[1;37;44m INFO \x1b[0m"


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "laravel_queue", *args]


def run_in_terminal(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60.0) -> str:
    """Run `argv` with stdout and stderr on a pseudo-terminal; return everything it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=cwd)
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                raise TimeoutError(f"{argv} wrote nothing for {timeout}s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "look_jobs.py").write_text(JOBS_MODULE)
    return tmp_path


@pytest.fixture
def env(redis_env: dict[str, str], workdir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    return {
        **clean, **redis_env, "QUEUE_FAILED_DRIVER": "null", "TERM": "xterm",
        "PYTHONPATH": f"{workdir}{os.pathsep}{ROOT}",
    }


def dispatch(env: dict[str, str], workdir: Path, php_class: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cli_argv("dispatch", php_class), env=env, cwd=workdir, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def work(env: dict[str, str], workdir: Path, *extra: str) -> list[str]:
    return cli_argv("queue:work", "redis", "--stop-when-empty", "--sleep", "0", "--jobs", "look_jobs", *extra)


def test_colours_on_a_terminal_as_artisan_prints_them(env: dict[str, str], workdir: Path) -> None:
    dispatch(env, workdir, "App\\Jobs\\Ok")
    dispatch(env, workdir, "App\\Jobs\\Boom")
    output = run_in_terminal(work(env, workdir), env, workdir)
    assert INFO_BADGE + " Processing jobs from the [default] queue." in output
    assert "\x1b[1;33mRUNNING\x1b[0m" in output
    assert "\x1b[1;32mDONE\x1b[0m" in output
    assert "\x1b[1;31mFAIL\x1b[0m" in output  # failed for good: red (released after an exception: yellow)
    assert "\x1b[90m...." in output  # grey dots
    assert "App\\Jobs\\Ok" in output and "App\\Jobs\\Boom" in output


def test_no_colours_with_no_color_or_when_piped(env: dict[str, str], workdir: Path) -> None:
    dispatch(env, workdir, "App\\Jobs\\Ok")
    output = run_in_terminal(work(env, workdir), {**env, "NO_COLOR": "1"}, workdir)
    assert "DONE" in output and "\x1b[" not in output
    dispatch(env, workdir, "App\\Jobs\\Ok")
    piped = subprocess.run(work(env, workdir), env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert "DONE" in piped.stdout and "\x1b[" not in piped.stdout + piped.stderr
    assert "   INFO  Processing jobs from the [default] queue." in piped.stdout


def test_admin_commands_wear_the_info_badge_on_a_terminal(env: dict[str, str], workdir: Path) -> None:
    database = {**env, "QUEUE_FAILED_DRIVER": "database-uuids", "DB_DATABASE": str(workdir / "db.sqlite")}
    subprocess.run(cli_argv("migrate"), env=database, cwd=workdir, capture_output=True, check=True, timeout=60)
    assert INFO_BADGE + " No failed jobs found." in run_in_terminal(cli_argv("queue:failed"), database, workdir)


def test_errors_wear_the_error_badge_on_a_terminal(env: dict[str, str], workdir: Path) -> None:
    output = run_in_terminal(cli_argv("queue:work", "nosuchconn"), env, workdir)
    assert "\x1b[1;37;41m ERROR \x1b[0m queue connection [nosuchconn] is not configured" in output


def test_json_result_is_the_jobs_state(env: dict[str, str], workdir: Path) -> None:
    """WorkCommand::writeOutputAsJson: deleted, else released, else failed (in that order)."""
    for php_class in ("App\\Jobs\\Ok", "App\\Jobs\\LetGo", "App\\Jobs\\Boom"):
        dispatch(env, workdir, php_class)
    result = subprocess.run(
        work(env, workdir, "--json"), env=env, cwd=workdir, capture_output=True, text=True, timeout=60, check=False
    )
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    finished: dict[str, Any] = {r["job"]: r for r in records if r["status"] != "starting"}
    assert finished["App\\Jobs\\Ok"]["status"] == "success" and finished["App\\Jobs\\Ok"]["result"] == "deleted"
    assert finished["App\\Jobs\\LetGo"]["status"] == "success"
    assert finished["App\\Jobs\\LetGo"]["result"] == "released"
    # Job::fail() deletes the job before JobFailed fires, so Laravel reports a failed job as deleted
    assert finished["App\\Jobs\\Boom"]["status"] == "failed" and finished["App\\Jobs\\Boom"]["result"] == "deleted"
    assert all("result" not in r for r in records if r["status"] == "starting")


def test_dispatch_says_what_it_pushed(env: dict[str, str], workdir: Path) -> None:
    result = dispatch(env, workdir, "App\\Jobs\\Ok")
    job_id = result.stdout.strip()
    assert job_id and "\n" not in job_id  # stdout stays the bare id for `id=$(laravel-queue dispatch ...)`
    assert f"INFO  Pushed [App\\Jobs\\Ok] onto [redis:default] as job [{job_id}]." in result.stderr


def test_help_is_plain_and_flags_carry_no_type(env: dict[str, str], workdir: Path) -> None:
    result = subprocess.run(cli_argv("queue:work", "--help"), env=env, cwd=workdir, capture_output=True, text=True)
    assert result.returncode == 0
    assert "<bool>" not in result.stdout and "╭" not in result.stdout
    assert "--stop-when-empty" in result.stdout and "--jobs" in result.stdout


def test_the_command_list_shows_each_first_sentence_whole(env: dict[str, str], workdir: Path) -> None:
    """As `php artisan list`: click would cut them at the width left beside the longest name."""
    result = subprocess.run(cli_argv("--help"), env=env, cwd=workdir, capture_output=True, text=True)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # the descriptions wrap
    assert "cache_locks tables when absent." in text
    assert "(call it every minute from cron)." in text
    assert "..." not in result.stdout.split("Commands:")[1]


def test_config_show_one_section(env: dict[str, str], workdir: Path) -> None:
    def show(*args: str) -> str:
        result = subprocess.run(cli_argv("config:show", *args), env=env, cwd=workdir, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    lines = show("queue.connections.redis").splitlines()
    assert lines and all(line.strip().startswith("queue.connections.redis.") for line in lines)
    assert json.loads(show("database.redis.connections.default", "--json"))["port"] == int(env["REDIS_PORT"])
