"""The on-call week: Monday 18:01 to the following Monday 06:59 local, right across DST changes."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncallbot.domain.rotation import ShiftWindow
from oncallbot.domain.timelabels import WeeklyTime, parse_duration

LA = ZoneInfo("America/Los_Angeles")
WINDOW = ShiftWindow(WeeklyTime.parse("Mon 18:01"), WeeklyTime.parse("Mon 06:59"), "America/Los_Angeles")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LA)


def test_default_week_runs_monday_1801_to_next_monday_0700_exclusive():
    start, end = WINDOW.bounds(date(2027, 1, 4))
    assert start == local(2027, 1, 4, 18, 1)
    assert end == local(2027, 1, 11, 7, 0)


def test_last_minute_label_is_inside_the_week():
    week = date(2027, 1, 4)
    assert WINDOW.week_containing(local(2027, 1, 11, 6, 59, 59)) == week
    assert WINDOW.week_containing(local(2027, 1, 11, 7, 0, 0)) is None
    assert WINDOW.week_containing(local(2027, 1, 4, 18, 0, 59)) is None
    assert WINDOW.week_containing(local(2027, 1, 4, 18, 1, 0)) == week


def test_spring_forward_week_keeps_local_boundaries_and_is_an_hour_shorter():
    # US DST starts Sunday 2027-03-14: the week of Mar 8 spans it.
    start, end = WINDOW.bounds(date(2027, 3, 8))
    assert start.astimezone(LA).hour == 18 and start.utcoffset() == timedelta(0)
    assert start == datetime(2027, 3, 9, 2, 1, tzinfo=UTC)  # 18:01 PST
    assert end == datetime(2027, 3, 15, 14, 0, tzinfo=UTC)  # 07:00 PDT
    assert end - start == timedelta(days=6, hours=11, minutes=59)
    assert WINDOW.week_containing(local(2027, 3, 14, 3, 30)) == date(2027, 3, 8)


def test_fall_back_week_keeps_local_boundaries_and_is_an_hour_longer():
    # US DST ends Sunday 2026-11-01: the week of Oct 26 spans it.
    start, end = WINDOW.bounds(date(2026, 10, 26))
    assert start == datetime(2026, 10, 27, 1, 1, tzinfo=UTC)  # 18:01 PDT
    assert end == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # 07:00 PST
    assert end - start == timedelta(days=6, hours=13, minutes=59)
    # Both 01:30s of the repeated hour belong to the same week.
    assert WINDOW.week_containing(datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=LA)) == date(2026, 10, 26)
    assert WINDOW.week_containing(datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=LA)) == date(2026, 10, 26)


def test_a_custom_window_friday_to_friday():
    window = ShiftWindow(WeeklyTime.parse("Fri 17:00"), WeeklyTime.parse("Fri 16:59"), "Europe/Berlin")
    start, end = window.bounds(date(2027, 1, 8))
    berlin = ZoneInfo("Europe/Berlin")
    assert start == datetime(2027, 1, 8, 17, 0, tzinfo=berlin)
    assert end == datetime(2027, 1, 15, 17, 0, tzinfo=berlin)


@pytest.mark.parametrize("text", ["Mon 25:00", "Mon 18:60", "Someday 10:00", "18:01", "Mon"])
def test_bad_weekly_labels_are_refused(text):
    with pytest.raises(ValueError, match="is not a time"):
        WeeklyTime.parse(text)


@pytest.mark.parametrize("text,expected", [("15m", timedelta(minutes=15)), ("5d", timedelta(days=5)),
                                           ("30s", timedelta(seconds=30)), ("2h", timedelta(hours=2)),
                                           ("1w", timedelta(weeks=1))])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15", "fifteen minutes", "15 min", "-5m", ""])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
