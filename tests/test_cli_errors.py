"""Every wrong input ends with one line on stderr and a non-zero status; `-v` adds the traceback.

Each case runs the real command in a subprocess (as a user would) against real services:
Redis, SQLite, MariaDB and PostgreSQL on closed ports or without tables, an SQS endpoint
that refuses connections.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from laravel_queue.cli.boundary import user_error_from
from laravel_queue.db import DatabaseError
from laravel_queue.errors import ServiceConnectionError, UserError

ROOT = Path(__file__).resolve().parent.parent
CLOSED_PORT = "1"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS_", "QUEUE_", "SQS_"))}
    environment.update({"NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "laravel_queue", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit status != 0, no traceback, the message on one line (a hint may follow)."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].lstrip().startswith("ERROR  "), lines
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def job_modules(tmp_path: Path) -> Path:
    (tmp_path / "missing_dependency.py").write_text("import no_such_package_xyz\n")
    (tmp_path / "raises_on_import.py").write_text("VALUE = 1\nraise RuntimeError('settings are wrong')\n")
    (tmp_path / "bad_syntax.py").write_text("def handler(:\n")
    return tmp_path


def test_unknown_connection(sqlite_env: dict[str, str]) -> None:
    result = run_cli("queue:work", "nosuchconn", "--once", env=sqlite_env)
    assert_one_line(result, "queue connection [nosuchconn] is not configured")
    assert result.returncode == 2


def test_unknown_queue_connection_in_the_environment(sqlite_env: dict[str, str]) -> None:
    assert_one_line(run_cli("queue:work", "--once", env={**sqlite_env, "QUEUE_CONNECTION": "beanstalk"}), "beanstalk")


def test_unsupported_queue_driver(sqlite_env: dict[str, str]) -> None:
    assert_one_line(run_cli("queue:work", "null", "--once", env=sqlite_env), "queue driver [null] is not supported")


@pytest.mark.parametrize(
    ("module", "needle"),
    [
        ("missing_dependency", "No module named 'no_such_package_xyz'"),
        ("raises_on_import", "RuntimeError: settings are wrong (raises_on_import.py, line 2)"),
        ("bad_syntax", "SyntaxError: invalid syntax"),
        ("no_such_module", "No module named 'no_such_module'"),
    ],
)
def test_jobs_module_that_fails_to_import(
    job_modules: Path, sqlite_env: dict[str, str], module: str, needle: str
) -> None:
    result = run_cli("queue:work", "--once", "--jobs", module, env=sqlite_env, cwd=job_modules)
    assert_one_line(result, f"cannot import job module '{module}'", needle)


def test_schedule_module_that_raises(job_modules: Path, sqlite_env: dict[str, str]) -> None:
    result = run_cli("schedule:run", "--schedule", "raises_on_import", env=sqlite_env, cwd=job_modules)
    assert_one_line(result, "RuntimeError: settings are wrong")


@pytest.mark.parametrize(
    ("option", "path", "needle"),
    [("--env-file", "/nonexistent/.env", "'/nonexistent/.env' does not exist"),
     ("--app", "/nonexistent-app", "'/nonexistent-app' does not exist")],
)
def test_paths_that_do_not_exist(option: str, path: str, needle: str) -> None:
    result = run_cli("queue:failed", option, path)
    assert_one_line(result, needle)
    assert result.returncode == 2


def test_redis_unreachable_in_dispatch() -> None:
    env = {"QUEUE_CONNECTION": "redis", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": CLOSED_PORT}
    assert_one_line(run_cli("dispatch", "App\\Jobs\\X", env=env), "Redis:", "Connection refused")


def test_redis_unreachable_in_an_admin_command() -> None:
    env = {"QUEUE_CONNECTION": "redis", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": CLOSED_PORT}
    assert_one_line(run_cli("queue:clear", "redis", "--force", env=env), "Redis:")


@pytest.mark.parametrize("driver", ["mariadb", "pgsql"])
def test_database_unreachable(driver: str, tmp_path: Path) -> None:
    env = {"DB_CONNECTION": driver, "DB_HOST": "127.0.0.1", "DB_PORT": CLOSED_PORT, "DB_PASSWORD": "s3cr3t"}
    result = run_cli("queue:failed", env=env)
    assert_one_line(result, "cannot connect to database")
    assert "s3cr3t" not in result.stderr


def test_sqs_unreachable() -> None:
    env = {"SQS_ENDPOINT": f"http://127.0.0.1:{CLOSED_PORT}", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    assert_one_line(run_cli("dispatch", "App\\Jobs\\X", "--connection", "sqs", env=env), "SQS SendMessage")


@pytest.mark.parametrize(
    ("env_name", "args"),
    [
        ("sqlite_env", ("dispatch", "App\\Jobs\\X")),
        ("sqlite_env", ("queue:failed",)),
        ("pgsql_env", ("dispatch", "App\\Jobs\\X", "--connection", "database")),
        ("mysql_env", ("queue:monitor", "database:default")),
    ],
)
def test_missing_tables_hint_at_migrate(
    env_name: str, args: tuple[str, ...], request: pytest.FixtureRequest, sqlite_path: Path
) -> None:
    env = request.getfixturevalue(env_name)
    sqlite_path.touch()
    result = run_cli(*args, env={**env, "QUEUE_CONNECTION": "database"})
    first = assert_one_line(result)
    assert "run `laravel-queue migrate`" in result.stderr.lower(), result.stderr
    assert "table" in first.lower() or "relation" in first


def test_laravel_version_outside_10_to_13(sqlite_env: dict[str, str]) -> None:
    assert_one_line(run_cli("config:show", env={**sqlite_env, "LARAVEL_VERSION": "9"}), "supported majors are 10 to 13")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("queue:work", "--sleep", "soon"), "Invalid value for '--sleep'"),
        (("queue:work", "--unknown", "ignore"), "Invalid value for '--unknown': must be fail or release"),
        (("dispatch", "App\\Jobs\\X", "--delay", "-1"), "Invalid value for '--delay'"),
        (("dispatch", "App\\Jobs\\X", "--data", "[1"), "--data is not valid JSON"),
        (("queue:work", "--no-such-option"), "No such option"),
        (("config:show", "queue.nope"), "no section [queue.nope]"),
        (("queue:nope",), "No such command 'queue:nope'"),
    ],
)
def test_invalid_option_values(args: tuple[str, ...], needle: str, sqlite_env: dict[str, str]) -> None:
    assert_one_line(run_cli(*args, env=sqlite_env), needle)


def test_verbose_shows_the_traceback(sqlite_env: dict[str, str]) -> None:
    for args in (("-v", "queue:work", "nosuchconn"), ("queue:work", "nosuchconn", "-v")):
        result = run_cli(*args, "--once", env=sqlite_env)
        assert result.returncode == 2
        assert "Traceback" in result.stderr and "ConfigError" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].lstrip().startswith("ERROR  queue connection [nosuchconn]")


def test_a_bare_value_error_is_a_bug_not_a_user_error() -> None:
    assert user_error_from(ValueError("anything")) is None
    assert user_error_from(KeyError("x")) is None
    assert user_error_from(DatabaseError("[sqlite] commit_with() must end an outermost transaction")) is None
    assert isinstance(user_error_from(DatabaseError("cannot connect to database [pgsql]: refused")), UserError)
    assert isinstance(user_error_from(ServiceConnectionError("down")), ServiceConnectionError)
