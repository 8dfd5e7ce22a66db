"""Reading the rotation from iCalendar: recurrences, exceptions, time zones, and who an event names."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from oncallbot.adapters.ical.source import ICalendarSource
from oncallbot.bootstrap import build_procedure
from oncallbot.domain.rotation import calendar_rotation as build_rotation  # the calendar's part, no overrides
from tests.harness.config import EXAMPLE_CONFIG, example_settings

LA = ZoneInfo("America/Los_Angeles")
PROCEDURE = build_procedure(example_settings())


def calendar(*events: str) -> str:
    body = "\n".join(f"BEGIN:VEVENT\nDTSTAMP:20260101T000000Z\n{e.strip()}\nEND:VEVENT" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}\nEND:VCALENDAR\n".replace("\n", "\r\n")


def rotation_from(tmp_path, text: str, start=datetime(2027, 1, 1, tzinfo=UTC), end=datetime(2027, 4, 1, tzinfo=UTC)):
    path = tmp_path / "rotation.ics"
    path.write_text(text)
    events = ICalendarSource(str(path), "America/Los_Angeles").fetch(None, start, end).events
    return build_rotation(events, PROCEDURE.team, PROCEDURE.window)


def owners(rotation) -> dict[date, str]:
    return {s.week_start: s.person_id for s in rotation.shifts}


WEEKLY_PAIR = """
UID:a
SUMMARY:On call: Kelly
DTSTART;TZID=America/Los_Angeles:20270104T180100
DTEND;TZID=America/Los_Angeles:20270111T065900
RRULE:FREQ=WEEKLY;INTERVAL=2
""", """
UID:b
SUMMARY:On call: Marcus Brown
DTSTART;TZID=America/Los_Angeles:20270111T180100
DTEND;TZID=America/Los_Angeles:20270118T065900
RRULE:FREQ=WEEKLY;INTERVAL=2
"""


def test_recurring_weekly_rotation_alternates_and_stays_aligned_across_dst(tmp_path):
    rotation = rotation_from(tmp_path, calendar(*WEEKLY_PAIR))
    weeks = owners(rotation)
    assert weeks[date(2027, 1, 4)] == "kelly"
    assert weeks[date(2027, 1, 11)] == "marcus"
    assert weeks[date(2027, 3, 8)] == "marcus"  # the week DST starts
    assert weeks[date(2027, 3, 15)] == "kelly"
    assert rotation.problems == ()
    dst_week = next(s for s in rotation.shifts if s.week_start == date(2027, 3, 15))
    assert dst_week.start_at == datetime(2027, 3, 15, 18, 1, tzinfo=LA)


def test_exdate_removes_one_week(tmp_path):
    kelly = WEEKLY_PAIR[0] + "EXDATE;TZID=America/Los_Angeles:20270201T180100\n"
    weeks = owners(rotation_from(tmp_path, calendar(kelly, WEEKLY_PAIR[1])))
    assert date(2027, 2, 1) not in weeks
    assert weeks[date(2027, 2, 15)] == "kelly"


def test_moved_instance_with_recurrence_id_changes_the_owner_of_that_week_only(tmp_path):
    swap = """
UID:a
RECURRENCE-ID;TZID=America/Los_Angeles:20270201T180100
SUMMARY:On call: Priya
DTSTART;TZID=America/Los_Angeles:20270201T180100
DTEND;TZID=America/Los_Angeles:20270208T065900
"""
    weeks = owners(rotation_from(tmp_path, calendar(*WEEKLY_PAIR, swap)))
    assert weeks[date(2027, 2, 1)] == "priya"
    assert weeks[date(2027, 1, 18)] == "kelly" and weeks[date(2027, 2, 15)] == "kelly"


def test_utc_times_and_all_day_events_name_the_same_weeks(tmp_path):
    utc_event = """
UID:utc
SUMMARY:Diego on call
DTSTART:20270105T020100Z
DTEND:20270111T150000Z
"""
    all_day = """
UID:allday
SUMMARY:Aisha
DTSTART;VALUE=DATE:20270111
DTEND;VALUE=DATE:20270118
"""
    rotation = rotation_from(tmp_path, calendar(utc_event, all_day))
    assert owners(rotation) == {date(2027, 1, 4): "diego", date(2027, 1, 11): "aisha"}
    assert rotation.problems == ()


def test_attendee_email_wins_over_the_summary(tmp_path):
    event = """
UID:x
SUMMARY:Support on-call
ATTENDEE;CN=T:mailto:Tom.Becker@example.com
DTSTART;TZID=America/Los_Angeles:20270104T180100
DTEND;TZID=America/Los_Angeles:20270111T065900
"""
    assert owners(rotation_from(tmp_path, calendar(event))) == {date(2027, 1, 4): "tom"}


def test_events_naming_nobody_or_off_the_week_boundaries_are_reported(tmp_path):
    stranger = """
UID:s
SUMMARY:On call: Zoe
DTSTART;TZID=America/Los_Angeles:20270104T180100
DTEND;TZID=America/Los_Angeles:20270111T065900
"""
    half_week = """
UID:h
SUMMARY:On call: Kelly
DTSTART;TZID=America/Los_Angeles:20270111T180100
DTEND;TZID=America/Los_Angeles:20270113T180000
"""
    tuesday_start = """
UID:t
SUMMARY:On call: Marcus
DTSTART;TZID=America/Los_Angeles:20270119T090000
DTEND;TZID=America/Los_Angeles:20270125T065900
"""
    rotation = rotation_from(tmp_path, calendar(stranger, half_week, tuesday_start))
    kinds = sorted(p.kind for p in rotation.problems)
    assert kinds == ["misaligned", "misaligned", "unknown_person"]
    assert 'event "On call: Zoe" on Mon 2027-01-04 names nobody on the team' in [p.message for p in rotation.problems]
    # Marcus's event covers most of the week, so the week is his even though it starts late.
    assert owners(rotation) == {date(2027, 1, 18): "marcus"}


def test_two_people_in_one_week_is_an_overlap(tmp_path):
    other = WEEKLY_PAIR[1].replace("UID:b", "UID:c").replace("20270111", "20270104").replace("20270118", "20270111")
    rotation = rotation_from(tmp_path, calendar(*WEEKLY_PAIR, other))
    overlaps = [p for p in rotation.problems if p.kind == "overlap"]
    assert overlaps and overlaps[0].message.startswith("week of Mon 2027-01-04 is claimed by")


def test_example_rotation_is_open_ended_and_has_a_swap(tmp_path):
    source = ICalendarSource(str(EXAMPLE_CONFIG.parent / "rotation.example.ics"), "America/Los_Angeles")
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    rotation = build_rotation(source.fetch(None, start, end).events, PROCEDURE.team, PROCEDURE.window)
    weeks = owners(rotation)
    assert rotation.problems == ()
    assert weeks[date(2026, 12, 14)] == "priya" and weeks[date(2026, 12, 21)] == "marcus"  # RECURRENCE-ID swap
    assert weeks[date(2026, 12, 28)] == "aisha"  # EXDATE plus a one-off cover
    assert weeks[date(2030, 12, 23)] in {"kelly", "marcus", "priya", "diego", "aisha", "tom"}
    week_starts = sorted(weeks)
    assert all((b - a).days == 7 for a, b in zip(week_starts, week_starts[1:], strict=False))  # no week missing
