"""Issue 7, item 2: the stored rotation keeps every week the calendar ever gave us. "Who was on call the
night of March 3rd?" still has an answer in the autumn; a sync replaces only the weeks inside the window it
fetched, and the weeks before it stay as they were last seen."""

import json
from datetime import UTC, date, datetime, timedelta

from oncallbot.entrypoints.cli import main
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import example_data, write_config
from tests.harness.rotation import (
    LA,
    PAIR_ICS,
    PROCEDURE,
    google_source,
    ical_source,
    ics,
    ics_series,
    night_of,
    on_call,
    owner_of,
    publish_pair,
)

START = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
MARCH_3 = datetime(2027, 3, 3, 22, 0, tzinfo=LA)  # a Wednesday night, in the week of Mon 2027-03-01


def test_a_week_synced_months_ago_still_names_its_person(store, tmp_path):
    path = tmp_path / "rotation.ics"
    path.write_text(ics(*PAIR_ICS))
    source, clock = ical_source(path), FakeClock(START)
    sync_rotation(store, source, PROCEDURE, clock.now())

    clock.advance(timedelta(weeks=40))  # mid-October: March is far outside the sync's look-back
    sync_rotation(store, source, PROCEDURE, clock.now())

    assert on_call(store, MARCH_3) == owner_of(date(2027, 3, 1)) == "kelly"
    assert on_call(store, night_of(date(2027, 1, 4))) == "kelly"
    assert on_call(store, night_of(date(2027, 10, 11))) == owner_of(date(2027, 10, 11))  # and the present


def test_weeks_outside_the_window_stay_as_last_seen_and_weeks_inside_follow_the_calendar(store, tmp_path):
    path = tmp_path / "rotation.ics"
    path.write_text(ics(*PAIR_ICS))
    source, clock = ical_source(path), FakeClock(START)
    sync_rotation(store, source, PROCEDURE, clock.now())
    clock.advance(timedelta(weeks=40))

    # Someone rewrites the calendar: Priya from now on, and the old series removed entirely.
    path.write_text(ics(ics_series("priya", date(2027, 1, 4), interval=1)))
    result = sync_rotation(store, source, PROCEDURE, clock.now())

    assert on_call(store, MARCH_3) == "kelly"  # outside the window: as last seen
    this_week = date(2027, 10, 11)
    assert on_call(store, night_of(this_week)) == "priya"
    assert on_call(store, night_of(this_week + timedelta(weeks=30))) == "priya"
    assert {c.after for c in result.changes} == {"priya"}


def test_who_at_a_date_earlier_this_year_answers_from_the_command_line(capsys, tmp_path):
    config = write_config(tmp_path, example_data(), ics_text=ics(*PAIR_ICS))
    main(["sync", "--config", str(config)], clock=FakeClock(START))
    capsys.readouterr()

    autumn = FakeClock(START + timedelta(weeks=40))
    code = main(["who", "--json", "--at", "2027-03-03T22:00", "--config", str(config)], clock=autumn)

    body = json.loads(capsys.readouterr().out)
    assert code == 0
    assert body["responsible"] == "oncall" and body["current"]["person"]["id"] == "kelly"


def test_google_history_survives_the_full_syncs_that_follow(store, gcal, tmp_path):
    publish_pair(gcal)
    source, clock = google_source(gcal, tmp_path), FakeClock(START)
    sync_rotation(store, source, PROCEDURE, clock.now())
    gcal.expire_sync_tokens()  # months later Google asks for a full sync again

    clock.advance(timedelta(weeks=30))
    assert sync_rotation(store, source, PROCEDURE, clock.now()).full

    assert on_call(store, MARCH_3) == "kelly"
