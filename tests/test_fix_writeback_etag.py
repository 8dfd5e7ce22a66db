"""Issue 7 item 7: a write-back of an approved assignee change never overwrites a human's edit of the
calendar event made after our sync. It is sent with the etag the sync saw (If-Match); on 412 the event is
read again and the approvers are told what it says now, and nothing is overwritten or retried."""

from datetime import UTC, date, datetime

import pytest

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.errors import BadInput
from oncallbot.services.delivery import deliver_pending
from oncallbot.services.overrides import queue_assignee_change
from tests.harness.gcal import CALENDAR, event_id, google_rotation, seed_quarter, week_item

pytestmark = pytest.mark.usefixtures("backoff_sleeps")  # googleapiclient's retries record their sleeps

WEEK = date(2027, 2, 1)  # Aisha's week in the seeded calendar
NOW = datetime(2026, 12, 20, tzinfo=UTC)


@pytest.fixture
def gcal(gcal):
    """The quarter of test_gcal_calendar, in the fake calendar."""
    seed_quarter(gcal)
    return gcal


@pytest.fixture
def bot(gcal, key_file, store):
    rotation = google_rotation(gcal, key_file, store, NOW)
    return rotation.procedure, rotation.deliverer


def calendar_event(gcal, week: date) -> dict:
    return next(e for e in gcal.events(CALENDAR) if e["id"] == event_id(week))


def approver_reports(store) -> list[str]:
    with store.transaction() as tx:
        return [n.text for n in tx.session.query(NotificationRow) if n.kind == "report" and n.person_id == "dana"]


def test_the_write_back_names_the_version_the_sync_saw(gcal, store, bot):
    procedure, deliverer = bot
    synced_etag = calendar_event(gcal, WEEK)["etag"]

    queue_assignee_change(store, procedure, event_id(WEEK), "tom", NOW)
    deliver_pending(store, procedure, deliverer, NOW)

    assert calendar_event(gcal, WEEK)["summary"] == "On call: Tom Becker"
    (patch,) = gcal.requests_to(f"/events/{event_id(WEEK)}", method="PATCH")
    assert patch.headers["If-Match"] == synced_etag
    assert approver_reports(store) == []


def test_a_human_edit_after_our_sync_is_not_overwritten_and_the_approvers_hear(gcal, store, bot):
    procedure, deliverer = bot
    queue_assignee_change(store, procedure, event_id(WEEK), "tom", NOW)
    gcal.put_event(CALENDAR, week_item(WEEK, "priya"))  # someone edits the week in Google Calendar meanwhile

    deliver_pending(store, procedure, deliverer, NOW)
    deliver_pending(store, procedure, deliverer, NOW)  # a later delivery run does not try again

    assert calendar_event(gcal, WEEK)["summary"] == "On call: Priya Patel"  # the human's edit stands
    assert len(gcal.requests_to(f"/events/{event_id(WEEK)}", method="PATCH")) == 1  # no retry loop
    (report,) = approver_reports(store)
    assert "edited in the calendar" in report and "On call: Priya Patel" in report and "Tom Becker" in report
    with store.transaction() as tx:
        (writeback,) = [n for n in tx.session.query(NotificationRow) if n.kind == "writeback"]
        assert writeback.state == "failed"


def test_a_write_back_for_an_event_we_never_synced_is_refused(store, bot):
    procedure, _ = bot
    with pytest.raises(BadInput, match="no-such-event"):
        queue_assignee_change(store, procedure, "no-such-event", "tom", NOW)
    with store.transaction() as tx:
        assert tx.session.query(NotificationRow).count() == 0


def test_a_write_back_queued_before_etags_were_stored_is_not_written_blind(gcal, store, bot):
    procedure, deliverer = bot
    with store.transaction() as tx:  # as an outbox row from before the upgrade looks: no etag
        tx.add_notification("writeback:legacy", NOW, kind="writeback", channel="calendar", person_id="tom",
                            target=event_id(WEEK), text="On call: Tom Becker")

    deliver_pending(store, procedure, deliverer, NOW)

    assert calendar_event(gcal, WEEK)["summary"] == "On call: Aisha Khan"
    assert gcal.requests_to(f"/events/{event_id(WEEK)}", method="PATCH") == []
    (report,) = approver_reports(store)
    assert "version is unknown" in report and "by hand" in report
