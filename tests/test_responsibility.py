"""Who handles a page at an instant: the office in business hours, else the week's person, else nobody."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncallbot.bootstrap import build_procedure
from oncallbot.domain.responsibility import coverage_gaps, responsible_at
from oncallbot.domain.rotation import Shift
from tests.harness.config import example_settings

LA = ZoneInfo("America/Los_Angeles")
PROCEDURE = build_procedure(example_settings())


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LA)


def shift(week_start: date, person: str = "kelly") -> Shift:
    start, end = PROCEDURE.window.bounds(week_start)
    return Shift(week_start, person, start, end)


def responsible(at: datetime, shifts: list[Shift]):
    current = next((s for s in shifts if s.start_at <= at < s.end_at), None)
    return responsible_at(at, current, PROCEDURE.hours, PROCEDURE.window, PROCEDURE.holiday_on)


ROTATION = [shift(date(2027, 1, 4), "kelly"), shift(date(2027, 1, 11), "marcus"), shift(date(2027, 1, 18), "priya")]


@pytest.mark.parametrize("at,expected", [
    (local(2027, 1, 12, 10, 0), "office"),      # Tuesday morning
    (local(2027, 1, 12, 6, 59, 59), "oncall"),  # before the office opens
    (local(2027, 1, 12, 7, 0), "office"),
    (local(2027, 1, 12, 18, 0, 59), "office"),  # 18:00 includes its last minute
    (local(2027, 1, 12, 18, 1), "oncall"),
    (local(2027, 1, 16, 12, 0), "oncall"),      # Saturday
    (local(2027, 1, 11, 6, 59, 59), "oncall"),  # Monday: last second of Kelly's week
    (local(2027, 1, 11, 7, 0), "office"),       # ... and the office takes over with no gap
    (local(2027, 1, 11, 18, 0, 59), "office"),
    (local(2027, 1, 11, 18, 1), "oncall"),      # Marcus's week starts
])
def test_business_hours_then_on_call(at, expected):
    assert responsible(at, ROTATION).responsible == expected


def test_on_call_person_is_the_weeks_owner():
    assert responsible(local(2027, 1, 11, 18, 1), ROTATION).shift.person_id == "marcus"
    assert responsible(local(2027, 1, 11, 6, 0), ROTATION).shift.person_id == "kelly"


def test_monday_holiday_before_1801_is_a_gap_naming_the_holiday():
    # Martin Luther King Jr. Day: the office is closed and the new week starts only at 18:01.
    result = responsible(local(2027, 1, 18, 9, 0), ROTATION)
    assert result.responsible == "nobody"
    assert result.cause == "Martin Luther King Jr. Day: office closed and nobody on call"
    assert responsible(local(2027, 1, 18, 18, 1), ROTATION).shift.person_id == "priya"


def test_holiday_inside_the_week_goes_to_the_on_call_person():
    shifts = [shift(date(2026, 12, 21), "tom")]
    result = responsible(local(2026, 12, 25, 11, 0), shifts)  # Christmas, a Friday
    assert (result.responsible, result.shift.person_id) == ("oncall", "tom")


def test_team_extra_date_closes_the_office():
    shifts = [shift(date(2026, 12, 21), "tom")]
    assert responsible(local(2026, 12, 24, 11, 0), shifts).responsible == "oncall"  # extra date in the config
    assert responsible(local(2026, 12, 23, 11, 0), shifts).responsible == "office"


def test_week_missing_from_the_calendar_is_a_gap():
    result = responsible(local(2027, 1, 27, 22, 0), ROTATION)
    assert result.responsible == "nobody"
    assert result.cause == "week of Mon 2027-01-25 missing from the calendar: nobody on call"


def test_coverage_gaps_list_the_holiday_monday_and_nothing_else():
    start, end = local(2027, 1, 4, 18, 1), local(2027, 1, 25, 7, 0)
    gaps = coverage_gaps(start, end, ROTATION, PROCEDURE.hours, PROCEDURE.window, PROCEDURE.holiday_on)
    assert [g.message for g in gaps] == [
        "Mon 2027-01-18 07:00-18:01, Martin Luther King Jr. Day: office closed and nobody on call"]


def test_coverage_gaps_for_a_missing_week_name_each_night():
    start, end = local(2027, 1, 18, 18, 1), local(2027, 2, 1, 7, 0)
    gaps = coverage_gaps(start, end, ROTATION, PROCEDURE.hours, PROCEDURE.window, PROCEDURE.holiday_on)
    assert gaps[0].message == ("Mon 2027-01-25 18:01-Tue 2027-01-26 07:00, "
                               "week of Mon 2027-01-25 missing from the calendar: nobody on call")
    assert gaps[-1].message.startswith("Fri 2027-01-29 18:01-Mon 2027-02-01 07:00")
    assert len(gaps) == 5


def test_dst_week_has_no_gaps():
    shifts = [shift(date(2027, 3, 8)), shift(date(2027, 3, 15))]
    start, end = shifts[0].start_at, shifts[1].end_at
    assert coverage_gaps(start, end, shifts, PROCEDURE.hours, PROCEDURE.window, PROCEDURE.holiday_on) == []
    assert responsible(local(2027, 3, 14, 2, 30) + timedelta(0), shifts).shift.person_id == "kelly"
