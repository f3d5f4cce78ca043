"""Command strings, quoting and mutex names, byte-equal to Laravel's (fixtures from Laravel 12.67)."""

from __future__ import annotations

import hashlib
import re

import pytest
from conftest import FIXTURES

from laravel_queue.schedule import Schedule
from laravel_queue.schedule.commands import compile_parameters, escape_argument, is_php_numeric
from laravel_queue.support import php_string

SCHEDULER = FIXTURES / "laravel" / "scheduler"
PREFIX = "laravel-database-laravel-cache-"


def fixture_schedule(php_binary: str = "/usr/bin/php8.2") -> Schedule:
    """The four tasks the capture app defined (fixtures README, `scheduler/`)."""
    schedule = Schedule(php_binary=php_binary)
    schedule.command("harness:tick").every_minute()
    schedule.call(lambda: None).name("harness-overlap-callback").every_minute().without_overlapping(10).on_one_server()
    schedule.call(lambda: None).name("harness-every-5s").every_five_seconds()
    schedule.job("App\\Jobs\\ControlledJob").every_minute()
    return schedule


def keys_in(name: str, pattern: str) -> list[str]:
    text = (SCHEDULER / name).read_text(encoding="utf-8")
    return list(dict.fromkeys(re.findall(pattern, text)))


def test_escape_argument_is_posix_single_quoting():
    assert escape_argument("a b") == "'a b'"
    assert escape_argument("it's") == "'it'\\''s'"
    assert escape_argument("") == "''"
    assert escape_argument(None) == "''"
    assert escape_argument(True) == "'1'"


def test_php_numeric_and_string_conversion():
    assert is_php_numeric("42") and is_php_numeric(" 1.5e3") and is_php_numeric(-7)
    assert not is_php_numeric("1,5") and not is_php_numeric(True) and not is_php_numeric("abc")
    assert php_string(1.0) == "1" and php_string(0.5) == "0.5" and php_string(1e25) == "1.0E+25"


def test_compile_parameters_like_laravel():
    assert compile_parameters(["--force", "-v", 5, "user name"]) == "--force -v 5 'user name'"
    assert compile_parameters({"--name": "Taylor", "a": "b", "--limit": 10}) == "--name='Taylor' a='b' --limit=10"
    assert compile_parameters({"--id": [1, "x y"]}) == "--id='1' --id='x y'"
    assert compile_parameters({"-o": ["a", "b"]}) == "-o 'a' -o 'b'"
    assert compile_parameters({"ids": [1, 2]}) == "'1' '2'"
    assert compile_parameters(["-vv"]) == "'-vv'"  # only a dash plus ONE character stays bare
    with pytest.raises(TypeError):
        compile_parameters("--force")


def test_command_event_string_and_display():
    schedule = Schedule(php_binary="/opt/php 8/bin/php")
    event = schedule.command("report:send", {"--team": 7, "--dry-run": True})
    assert event.command == "'/opt/php 8/bin/php' 'artisan' report:send --team=7 --dry-run='1'"
    assert event.display_command() == "'artisan' report:send --team=7 --dry-run='1'"
    assert event.normalized_command() == "php artisan report:send --team=7 --dry-run='1'"
    assert event.build_command() == f"{event.command} > '/dev/null' 2>&1"
    assert event.append_output_to("/var/log/x.log").build_command() == f"{event.command} >> '/var/log/x.log' 2>&1"


def test_background_command_calls_finish_with_the_mutex_name():
    schedule = Schedule(php_binary="php")
    event = schedule.exec("sleep 1").run_in_background()
    line = event.build_command("'py' 'finish'")
    assert line == f"(sleep 1 > '/dev/null' 2>&1 ; 'py' 'finish' \"{event.mutex_name()}\" \"$?\") > '/dev/null' 2>&1 &"


def test_hourly_inspire_mutex_example_from_the_spec():
    event = Schedule(php_binary="/usr/local/bin/php").command("inspire").hourly()
    digest = hashlib.sha1(b"0 * * * *php artisan inspire").hexdigest()
    assert event.mutex_name() == f"framework/schedule-{digest}"


def test_mutex_name_does_not_depend_on_the_php_path():
    a = Schedule(php_binary="/usr/bin/php8.2").command("inspire").hourly()
    b = Schedule(php_binary="/opt/homebrew/bin/php").command("inspire").hourly()
    assert a.mutex_name() == b.mutex_name()
    assert a.command != b.command


def test_exec_mutex_hashes_the_command_as_given():
    event = Schedule(php_binary="php").exec("/usr/bin/backup", ["--full"]).daily()
    assert event.mutex_name() == "framework/schedule-" + hashlib.sha1(b"0 0 * * */usr/bin/backup --full").hexdigest()


def test_mutex_names_equal_the_keys_laravel_used_in_the_fixtures():
    """schedule:list checked every event's mutex in 02-...; our names must be the same bytes."""
    listed = keys_in("02-monitor-during-schedule-list.txt", r'"SET" "([^"]+)"')
    ours = [PREFIX + event.mutex_name() for event in fixture_schedule().events]
    assert ours == listed


def test_scheduling_mutex_key_equals_the_fixture():
    keys = keys_in("03c-redis-keys-after-run.txt", r"(\S+framework/schedule-\S+)")
    overlap = fixture_schedule().events[1]
    assert keys == [PREFIX + overlap.mutex_name() + "0658"]


def test_callback_and_job_events_share_names_with_php_events():
    schedule = Schedule(php_binary="php")
    job = schedule.job("App\\Jobs\\ControlledJob")
    named = schedule.call(lambda: None).name("App\\Jobs\\ControlledJob")
    assert job.mutex_name() == named.mutex_name() == "framework/schedule-e1a2fbb4d10ba462f16a0b3c7feae146aa89852f"
    assert job.summary() == "App\\Jobs\\ControlledJob"
