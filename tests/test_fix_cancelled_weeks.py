"""Issue 7, item 1: a cancelled occurrence of the rotation is a week nobody covers, on the iCalendar source
as on the Google one: `who` names nobody for it and `rotation check` reports the gap."""

import json
import re
from datetime import UTC, date, datetime, timedelta

from oncallbot.entrypoints.cli import main
from oncallbot.services.rotation import check_rotation, sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import example_data, write_config
from tests.harness.rotation import (
    PAIR_ICS,
    PROCEDURE,
    cancel_google_week,
    google_source,
    ical_source,
    ics,
    ics_cancelled_week,
    night_of,
    on_call,
    owner_of,
    publish_pair,
)

NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
CANCELLED_WEEK = date(2027, 1, 25)  # Marcus's week in the series, deleted in the calendar


def missing_weeks(text: str) -> list[str]:
    """The weeks a gap report says are missing (one report or several per week: any is fine here)."""
    return sorted(set(re.findall(r"week of (\w{3} \d{4}-\d{2}-\d{2}) missing from the calendar", text)))


def missing_in_check(store, now) -> list[str]:
    return missing_weeks("\n".join(p.message for p in check_rotation(store, PROCEDURE, now)))


def test_ical_cancelled_occurrence_is_a_hole_for_who_and_rotation_check(capsys, tmp_path):
    calendar = ics(*PAIR_ICS, ics_cancelled_week("marcus", CANCELLED_WEEK))
    config = write_config(tmp_path, example_data(), ics_text=calendar)
    clock = FakeClock(NOW)

    code = main(["who", "--json", "--at", night_of(CANCELLED_WEEK).isoformat(), "--config", str(config)], clock=clock)
    who = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (who["responsible"], who["current"]) == ("nobody", None)
    assert who["previous"]["person"]["id"] == "kelly" and who["next"]["person"]["id"] == "kelly"

    code = main(["rotation", "check", "--config", str(config)], clock=clock)
    out = capsys.readouterr().out
    assert code == 1
    assert "week of Mon 2027-01-25 missing from the calendar: nobody on call" in out
    assert missing_weeks(out) == ["Mon 2027-01-25"]  # the weeks around it are staffed


def test_ical_cancelled_single_event_names_nobody(store, tmp_path):
    priya = """
UID:priya-extra
STATUS:CANCELLED
SUMMARY:On call: Priya Patel
DTSTART;TZID=America/Los_Angeles:20270201T180100
DTEND;TZID=America/Los_Angeles:20270208T065900
"""
    path = tmp_path / "rotation.ics"
    path.write_text(ics(*PAIR_ICS, priya))

    result = sync_rotation(store, ical_source(path), PROCEDURE, NOW)

    assert on_call(store, night_of(date(2027, 2, 1))) == "kelly"
    assert not [p for p in result.problems if p.kind == "overlap"]


def test_google_cancelled_occurrence_is_a_hole_on_full_and_incremental_sync(store, gcal, tmp_path):
    publish_pair(gcal)
    cancel_google_week(gcal, CANCELLED_WEEK)  # before the first (full) sync
    source = google_source(gcal, tmp_path)

    first = sync_rotation(store, source, PROCEDURE, NOW)
    assert first.full
    assert on_call(store, night_of(CANCELLED_WEEK)) is None
    assert on_call(store, night_of(CANCELLED_WEEK - timedelta(weeks=1))) == "kelly"
    assert missing_in_check(store, NOW) == ["Mon 2027-01-25"]

    later_week = date(2027, 2, 15)
    assert owner_of(later_week) == "kelly" and on_call(store, night_of(later_week)) == "kelly"
    cancel_google_week(gcal, later_week)  # after it: the change feed brings the cancelled occurrence
    second = sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=10))

    assert not second.full
    assert on_call(store, night_of(later_week)) is None
    assert missing_in_check(store, NOW + timedelta(minutes=10)) == ["Mon 2027-01-25", "Mon 2027-02-15"]
    assert [(c.week_start, c.before, c.after) for c in second.changes] == [(later_week, "kelly", None)]


def test_google_edited_occurrence_changes_that_week_only(store, gcal, tmp_path):
    from oncallbot.adapters.gcal.calendar import GoogleCalendarWriter
    from tests.harness.rotation import CALENDAR, EMAILS, series_id

    publish_pair(gcal)
    source = google_source(gcal, tmp_path)
    sync_rotation(store, source, PROCEDURE, NOW)
    week = date(2027, 2, 1)
    occurrence = f"{series_id('kelly')}_20270202T020100Z"  # Mon 18:01 in Los Angeles, in UTC

    GoogleCalendarWriter(source.service, CALENDAR).reassign(occurrence, "Priya Patel", EMAILS["priya"])
    changed = sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=10))

    assert not changed.full
    assert [(c.week_start, c.before, c.after) for c in changed.changes] == [(week, "kelly", "priya")]
    assert on_call(store, night_of(week)) == "priya"
    assert on_call(store, night_of(week + timedelta(weeks=2))) == "kelly"
