"""Issue 7 item 5: a long calendar event title must not make the sync's notifications overflow their key
columns (PostgreSQL enforces VARCHAR lengths; SQLite does not), nor any other long key."""

from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.bootstrap import build_procedure
from oncallbot.domain.rotation import CalendarEvent
from oncallbot.services.rotation import sync_and_notify
from tests.harness.config import example_settings
from tests.harness.rotation import ListSource, week_event

PROCEDURE = build_procedure(example_settings(holidays={}))
NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("length", [300, 1000])
def test_a_long_event_title_is_reported_once_and_the_sync_succeeds(store, length):
    weeks = [week_event(date(2027, 1, 4) + timedelta(weeks=i), p)
             for i, p in enumerate(["kelly", "marcus", "priya", "diego"] * 5)]
    start, end = PROCEDURE.window.bounds(date(2027, 2, 1))
    title = ("Cover for the support desk while the team is offsite; " * 30)[:length]
    weeks[4] = CalendarEvent("long-title", title, start, end)  # names nobody on the team
    source = ListSource(weeks)

    for minutes in (0, 10, 20):
        result = sync_and_notify(store, source, PROCEDURE, NOW + timedelta(minutes=minutes))

    assert {s.week_start for s in result.shifts} == {w.start_at.date() for w in weeks if w.event_id != "long-title"}
    with store.transaction() as tx:
        reports = [(n.person_id, n.text) for n in tx.session.query(NotificationRow) if "names nobody" in n.text]
    assert sorted(person for person, _ in reports) == ["dana", "omar"]
    assert title[:100] in reports[0][1]


def test_long_inbound_and_outbox_keys_are_still_deduplicated(store):
    long_key = "slack:" + "E" * 600
    with store.transaction() as tx:
        assert tx.first_time_seen(long_key, NOW)
        assert not tx.first_time_seen(long_key, NOW)
        assert tx.seen(long_key) and not tx.seen(long_key + "x")
        assert tx.first_time_seen(long_key + "x", NOW)  # a different long key is a different event
        assert tx.add_notification("report:" + "k" * 600, NOW, kind="report", channel="slack", text="one")
        assert not tx.add_notification("report:" + "k" * 600, NOW, kind="report", channel="slack", text="two")
        assert tx.add_notification("report:" + "k" * 599, NOW, kind="report", channel="slack", text="three")
