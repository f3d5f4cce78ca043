"""Every frequency helper produces Laravel's cron string (spec §14.2 table)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from laravel_queue.schedule import Schedule, ScheduleError


def event():
    return Schedule(php_binary="php").exec("true")


@pytest.mark.parametrize(
    ("helper", "expected"),
    [
        (lambda e: e, "* * * * *"),
        (lambda e: e.cron("5 4 * * 1"), "5 4 * * 1"),
        (lambda e: e.every_minute(), "* * * * *"),
        (lambda e: e.every_two_minutes(), "*/2 * * * *"),
        (lambda e: e.every_three_minutes(), "*/3 * * * *"),
        (lambda e: e.every_four_minutes(), "*/4 * * * *"),
        (lambda e: e.every_five_minutes(), "*/5 * * * *"),
        (lambda e: e.every_ten_minutes(), "*/10 * * * *"),
        (lambda e: e.every_fifteen_minutes(), "*/15 * * * *"),
        (lambda e: e.every_thirty_minutes(), "*/30 * * * *"),
        (lambda e: e.hourly(), "0 * * * *"),
        (lambda e: e.hourly_at(17), "17 * * * *"),
        (lambda e: e.hourly_at([0, 30]), "0,30 * * * *"),
        (lambda e: e.every_odd_hour(), "0 1-23/2 * * *"),
        (lambda e: e.every_odd_hour(15), "15 1-23/2 * * *"),
        (lambda e: e.every_even_hour(), "0 0-22/2 * * *"),
        (lambda e: e.every_two_hours(), "0 */2 * * *"),
        (lambda e: e.every_three_hours(), "0 */3 * * *"),
        (lambda e: e.every_four_hours(), "0 */4 * * *"),
        (lambda e: e.every_six_hours(5), "5 */6 * * *"),
        (lambda e: e.daily(), "0 0 * * *"),
        (lambda e: e.daily_at("13:30"), "30 13 * * *"),
        (lambda e: e.daily_at("13"), "0 13 * * *"),
        (lambda e: e.daily_at("08:05"), "5 8 * * *"),
        (lambda e: e.daily_at("1:2:3"), "0 1 * * *"),  # three segments: Laravel keeps minute 0
        (lambda e: e.at("13:30"), "30 13 * * *"),
        (lambda e: e.twice_daily(), "0 1,13 * * *"),
        (lambda e: e.twice_daily(3, 15), "0 3,15 * * *"),
        (lambda e: e.twice_daily_at(1, 13, 15), "15 1,13 * * *"),
        (lambda e: e.weekdays(), "* * * * 1-5"),
        (lambda e: e.weekends(), "* * * * 6,0"),
        (lambda e: e.mondays(), "* * * * 1"),
        (lambda e: e.tuesdays(), "* * * * 2"),
        (lambda e: e.wednesdays(), "* * * * 3"),
        (lambda e: e.thursdays(), "* * * * 4"),
        (lambda e: e.fridays(), "* * * * 5"),
        (lambda e: e.saturdays(), "* * * * 6"),
        (lambda e: e.sundays(), "* * * * 0"),
        (lambda e: e.days(1, 3, 5), "* * * * 1,3,5"),
        (lambda e: e.days([2, 4]), "* * * * 2,4"),
        (lambda e: e.weekly(), "0 0 * * 0"),
        (lambda e: e.weekly_on(1, "8:00"), "0 8 * * 1"),
        (lambda e: e.weekly_on(5), "0 0 * * 5"),
        (lambda e: e.monthly(), "0 0 1 * *"),
        (lambda e: e.monthly_on(4, "15:00"), "0 15 4 * *"),
        (lambda e: e.twice_monthly(), "0 0 1,16 * *"),
        (lambda e: e.twice_monthly(1, 16, "13:00"), "0 13 1,16 * *"),
        (lambda e: e.days_of_month(1, 10, 20), "0 0 1,10,20 * *"),
        (lambda e: e.days_of_month([5, 6]), "0 0 5,6 * *"),
        (lambda e: e.quarterly(), "0 0 1 1-12/3 *"),
        (lambda e: e.quarterly_on(4, "14:00"), "0 14 4 1-12/3 *"),
        (lambda e: e.yearly(), "0 0 1 1 *"),
        (lambda e: e.yearly_on(6, 1, "17:00"), "0 17 1 6 *"),
        # helpers compose field by field
        (lambda e: e.weekdays().hourly(), "0 * * * 1-5"),
        (lambda e: e.hourly().weekdays(), "0 * * * 1-5"),
        (lambda e: e.daily_at("2:00").sundays(), "0 2 * * 0"),
        (lambda e: e.mondays().every_fifteen_minutes(), "*/15 * * * 1"),
    ],
)
def test_helper_expression_matches_laravel(helper, expected):
    assert helper(event()).expression == expected


@pytest.mark.parametrize(
    ("name", "seconds"),
    [
        ("every_second", 1),
        ("every_two_seconds", 2),
        ("every_five_seconds", 5),
        ("every_ten_seconds", 10),
        ("every_fifteen_seconds", 15),
        ("every_twenty_seconds", 20),
        ("every_thirty_seconds", 30),
    ],
)
def test_sub_minute_helpers_set_repeat_and_every_minute(name, seconds):
    e = event().hourly()
    getattr(e, name)()
    assert e.expression == "* * * * *"
    assert e.repeat_seconds == seconds
    assert e.is_repeatable()


def test_repeat_seconds_must_divide_sixty():
    with pytest.raises(ValueError, match=r"The seconds \[7\] are not evenly divisible by 60."):
        event()._repeat_every(7)


def test_last_day_of_month_uses_the_month_current_at_definition():
    schedule = Schedule(php_binary="php")

    class _Bound:
        def now(self):
            return datetime(2026, 2, 10, 12, 0, tzinfo=timezone.utc)

    schedule._context = _Bound()  # type: ignore[assignment]
    assert schedule.exec("true").last_day_of_month("16:30").expression == "30 16 28 * *"
    schedule._context = None
    january = datetime(2025, 1, 5, tzinfo=timezone.utc)
    schedule.now = lambda: january  # type: ignore[method-assign]
    assert schedule.exec("true").last_day_of_month().expression == "0 0 31 * *"


def test_invalid_cron_and_timezone_fail_at_definition():
    with pytest.raises(ValueError, match="Invalid CRON"):
        event().cron("61 * * * *")
    with pytest.raises(ValueError, match="Invalid CRON"):
        event().cron("* * * * * *")
    with pytest.raises(ValueError, match="Unknown or bad timezone"):
        event().timezone("Mars/Olympus")
    with pytest.raises(ValueError, match="between"):
        event().between("noon", "14:00")


def test_macros_are_accepted():
    assert event().cron("@daily").expression == "@daily"


def test_callback_mutex_helpers_need_a_name():
    schedule = Schedule(php_binary="php")
    with pytest.raises(ScheduleError, match="name is required to prevent overlapping"):
        schedule.call(lambda: None).without_overlapping()
    with pytest.raises(ScheduleError, match="name is required to only run on one server"):
        schedule.call(lambda: None).on_one_server()
    with pytest.raises(ScheduleError, match="can not be run in the background"):
        schedule.call(lambda: None).name("x").run_in_background()


def test_chaining_returns_the_event():
    schedule = Schedule(php_binary="php")
    e = (
        schedule.command("inspire")
        .hourly()
        .timezone("Europe/Amsterdam")
        .name("inspire")
        .environments("production", "staging")
        .even_in_maintenance_mode()
        .without_overlapping(10)
        .on_one_server()
        .run_in_background()
        .send_output_to("/tmp/out.log")
    )
    assert e in schedule.events
    assert (e.expires_at, e.runs_on_one_server, e.runs_in_background) == (10, True, True)
    assert e.event_environments == ["production", "staging"]
    assert e.timezone_name() == "Europe/Amsterdam"
