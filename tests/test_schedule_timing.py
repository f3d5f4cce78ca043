"""Due-ness on local wall-clock minutes, DST in Europe/Amsterdam, next-due and between()."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from croniter import croniter

from laravel_queue.schedule.timing import in_time_interval, is_due, next_due, next_repeat, real_instants, zone

UTC = timezone.utc
AMS = zone("Europe/Amsterdam")


def minutes(start: datetime, end: datetime):
    moment = start
    while moment < end:
        yield moment
        moment += timedelta(minutes=1)


def test_due_is_evaluated_in_the_event_timezone():
    # 12:30 UTC is 13:30 in Amsterdam (winter, +01:00)
    now = datetime(2025, 1, 15, 12, 30, 42, tzinfo=UTC)
    assert is_due("30 13 * * *", now, AMS)
    assert not is_due("30 12 * * *", now, AMS)
    assert is_due("30 12 * * *", now, UTC)


def test_spring_forward_skipped_wall_time_never_matches():
    """2025-03-30 02:00-02:59 does not exist in Amsterdam: a 02:30 event does not run that day."""
    day = [m for m in minutes(datetime(2025, 3, 29, 22, 0, tzinfo=UTC), datetime(2025, 3, 30, 22, 0, tzinfo=UTC))]
    assert [m for m in day if is_due("30 2 * * *", m, AMS)] == []
    # the day before and after it runs once
    before = list(minutes(datetime(2025, 3, 28, 23, 0, tzinfo=UTC), datetime(2025, 3, 29, 23, 0, tzinfo=UTC)))
    assert [m.astimezone(AMS).strftime("%H:%M") for m in before if is_due("30 2 * * *", m, AMS)] == ["02:30"]


def test_spring_forward_next_due_skips_to_next_day_where_croniter_differs():
    """Case 'spring-forward gap': croniter moves 02:30 to 03:00 (+02:00); Laravel's rule skips the day."""
    now = datetime(2025, 3, 29, 23, 0, tzinfo=UTC)  # 00:00 local on the transition day
    croniter_answer = croniter("30 2 * * *", now.astimezone(AMS)).get_next(datetime)
    assert croniter_answer.strftime("%Y-%m-%d %H:%M %z") == "2025-03-30 03:00 +0200"
    ours = next_due("30 2 * * *", now, AMS)
    assert ours is not None
    assert ours.strftime("%Y-%m-%d %H:%M %z") == "2025-03-31 02:30 +0200"


def test_fall_back_repeated_wall_time_matches_twice():
    """2025-10-26 02:00-02:59 happens twice in Amsterdam: a 02:30 event is due at both instants."""
    day = minutes(datetime(2025, 10, 25, 22, 0, tzinfo=UTC), datetime(2025, 10, 26, 23, 0, tzinfo=UTC))
    due = [m for m in day if is_due("30 2 * * *", m, AMS)]
    assert [m.strftime("%H:%M") for m in due] == ["00:30", "01:30"]  # UTC instants, one hour apart
    assert [m.astimezone(AMS).strftime("%H:%M %z") for m in due] == ["02:30 +0200", "02:30 +0100"]


def test_fall_back_next_due_finds_the_second_occurrence():
    first = datetime(2025, 10, 26, 0, 45, tzinfo=UTC)  # 02:45 +02:00, after the first 02:30
    found = next_due("30 2 * * *", first, AMS)
    assert found is not None
    assert found.strftime("%Y-%m-%d %H:%M %z") == "2025-10-26 02:30 +0100"
    after_second = datetime(2025, 10, 26, 1, 45, tzinfo=UTC)
    found = next_due("30 2 * * *", after_second, AMS)
    assert found is not None
    assert found.strftime("%Y-%m-%d %H:%M %z") == "2025-10-27 02:30 +0100"


def test_hourly_over_fall_back_runs_every_real_hour():
    start = datetime(2025, 10, 25, 23, 30, tzinfo=UTC)
    due = [m for m in minutes(start, start + timedelta(hours=5)) if is_due("0 * * * *", m, AMS)]
    assert len(due) == 5
    assert [m.astimezone(AMS).strftime("%H") for m in due] == ["02", "02", "03", "04", "05"]


def test_real_instants_of_gap_and_overlap():
    assert real_instants(datetime(2025, 3, 30, 2, 30), AMS) == []
    assert len(real_instants(datetime(2025, 10, 26, 2, 30), AMS)) == 2
    assert len(real_instants(datetime(2025, 7, 1, 2, 30), AMS)) == 1


def test_next_due_is_strictly_after_the_current_minute():
    now = datetime(2026, 11, 23, 6, 57, 2, 600000, tzinfo=UTC)
    assert next_due("* * * * *", now, UTC) == datetime(2026, 11, 23, 6, 58, tzinfo=UTC)
    assert next_due("0 0 1 1-12/3 *", datetime(2023, 1, 1, 0, 0, 5, tzinfo=UTC), UTC) == datetime(
        2023, 4, 1, tzinfo=UTC
    )
    assert next_due("0 0 30 2 *", now, UTC) is None  # never


def test_next_repeat_is_carbon_ceil_seconds():
    assert next_repeat(datetime(2026, 11, 23, 6, 57, 2, 600000, tzinfo=UTC), 5).second == 5
    assert next_repeat(datetime(2026, 11, 23, 6, 57, 5, tzinfo=UTC), 5).second == 10
    assert next_repeat(datetime(2026, 11, 23, 6, 57, 55, 1, tzinfo=UTC), 5) == datetime(2026, 11, 23, 6, 58, tzinfo=UTC)


def test_between_inclusive_and_wrapping_midnight():
    at = lambda h, m, s=0: datetime(2025, 6, 1, h, m, s, tzinfo=AMS)  # noqa: E731
    assert in_time_interval(at(9, 0), "9:00", "17:00")
    assert in_time_interval(at(17, 0), "9:00", "17:00")
    assert not in_time_interval(at(17, 0, 1), "9:00", "17:00")
    assert not in_time_interval(at(8, 59), "09:00", "17:00")
    assert in_time_interval(at(23, 30), "22:00", "06:00")
    assert in_time_interval(at(5, 30), "22:00", "06:00")
    assert not in_time_interval(at(12, 0), "22:00", "06:00")
    assert in_time_interval(at(14, 0), "2pm", "3pm")
