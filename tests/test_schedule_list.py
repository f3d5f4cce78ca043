"""schedule:list text and JSON, compared with Laravel's own output (fixtures 01/01b)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from conftest import FIXTURES

from laravel_queue.cache.array import ArrayStore
from laravel_queue.config import load_settings
from laravel_queue.schedule import Schedule, ScheduleContext
from laravel_queue.schedule.listing import ScheduleLister
from laravel_queue.schedule.output import diff_for_humans, runtime_for_humans
from laravel_queue.schedule.timing import zone

UTC = timezone.utc
SCHEDULER = FIXTURES / "laravel" / "scheduler"
NOW = datetime(2026, 11, 23, 6, 57, 2, 600000, tzinfo=UTC)


def fixture_schedule() -> Schedule:
    schedule = Schedule(php_binary="<php_binary>")
    schedule.command("harness:tick").every_minute()
    schedule.call(lambda: None).name("harness-overlap-callback").every_minute().without_overlapping(10).on_one_server()
    schedule.call(lambda: None).name("harness-every-5s").every_five_seconds()
    schedule.job("App\\Jobs\\ControlledJob").every_minute()
    return schedule


def lister(schedule: Schedule, tmp_path, now: datetime = NOW, **env: str) -> tuple[ScheduleLister, ArrayStore]:
    store = ArrayStore(clock=lambda: now.timestamp())
    settings = load_settings(environ={"CACHE_STORE": "array", **env}, app_path=tmp_path)
    return ScheduleLister(schedule, ScheduleContext(settings, None, clock=lambda: now, cache_store=store)), store


def test_list_matches_laravel_output(tmp_path):
    listing, _ = lister(fixture_schedule(), tmp_path)
    text = "\n".join(listing.lines(UTC, 80)) + "\n"
    assert text == (SCHEDULER / "01-schedule-list.txt").read_text(encoding="utf-8")


def test_verbose_list_matches_laravel_output(tmp_path):
    listing, _ = lister(fixture_schedule(), tmp_path)
    text = "\n".join(listing.lines(UTC, 80, verbose=True)) + "\n"
    assert text == (SCHEDULER / "01b-schedule-list-verbose.txt").read_text(encoding="utf-8")


def test_list_shows_held_mutex_pads_fields_and_sorts_by_next(tmp_path):
    schedule = Schedule(php_binary="php")
    daily = schedule.command("report:daily").daily_at("13:30")
    schedule.call(lambda: None).name("quarter").every_fifteen_minutes()
    listing, store = lister(schedule, tmp_path)
    assert store.lock(daily.mutex_name(), 86400).acquire()
    lines = listing.lines(UTC, 80, by_next=True)
    assert lines[1].startswith("  */15 *  * * *  quarter ")
    assert lines[2].startswith("  30   13 * * *  php artisan report:daily ")
    assert "Has Mutex › Next Due: 6 hours from now" in lines[2]
    assert len(lines[1]) == 78 and "report:daily  Has Mutex" in lines[2]  # too long: no dots, as in PHP


def test_json_has_laravel_12_29_keys(tmp_path):
    schedule = fixture_schedule()
    schedule.command("inspire").hourly().timezone("Europe/Amsterdam").environments("production")
    schedule.call(lambda: None).daily()
    listing, _ = lister(schedule, tmp_path)
    rows = listing.as_json(zone("Europe/Amsterdam"))
    assert list(rows[0]) == [
        "expression", "command", "description", "next_due_date", "next_due_date_human",
        "timezone", "has_mutex", "repeat_seconds", "environments",
    ]
    assert rows[0]["command"] == "php artisan harness:tick" and rows[0]["description"] is None
    assert rows[0]["next_due_date"] == "2026-11-23 07:58:00 +01:00"
    assert rows[0]["next_due_date_human"] == "57 seconds from now"
    assert rows[2]["repeat_seconds"] == 5 and rows[2]["next_due_date"] == "2026-11-23 07:57:05 +01:00"
    assert rows[3]["command"] == "App\\Jobs\\ControlledJob"
    assert rows[4]["timezone"] == "Europe/Amsterdam" and rows[4]["environments"] == ["production"]
    assert rows[4]["next_due_date"] == "2026-11-23 08:00:00 +01:00"
    assert rows[5]["command"].startswith("Closure at: ") and "test_schedule_list.py:" in rows[5]["command"]


def test_human_diffs_and_runtimes():
    assert diff_for_humans(NOW + timedelta(seconds=57.4), NOW) == "57 seconds from now"
    assert diff_for_humans(NOW + timedelta(seconds=1), NOW) == "1 second from now"
    assert diff_for_humans(NOW + timedelta(minutes=1), NOW) == "1 minute from now"
    assert diff_for_humans(NOW + timedelta(days=90), NOW) == "3 months from now"
    assert diff_for_humans(NOW - timedelta(hours=2), NOW) == "2 hours ago"
    assert runtime_for_humans(227.951) == "227.95ms"
    assert runtime_for_humans(1500) == "1s 500ms"
