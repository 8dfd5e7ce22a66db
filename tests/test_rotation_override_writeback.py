"""Issue 8, item 4: an override on a Google Calendar rotation is written back to the week's event through
the outbox; the syncs that follow (before and after the write-back lands) keep the week with the new
person and tell nobody of a change."""

from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot.domain.rotation import OverrideKind, RotationOverride
from oncallbot.services.delivery import deliver_pending
from oncallbot.services.overrides import apply_override
from oncallbot.services.rotation import sync_rotation, who_is_on_call
from tests.harness.gcal import CALENDAR, LA, event_id, google_rotation, seed_quarter

pytestmark = pytest.mark.usefixtures("backoff_sleeps")  # googleapiclient's retries record their sleeps

WEEK = date(2027, 2, 1)  # Aisha's week in the seeded calendar
NIGHT = datetime(2027, 2, 2, 22, 0, tzinfo=LA)
NOW = datetime(2026, 12, 20, tzinfo=UTC)


@pytest.fixture
def gcal(gcal):
    """The shared fake calendar, seeded with the quarter's weeks."""
    seed_quarter(gcal)
    return gcal


@pytest.fixture
def bot(gcal, key_file, store):
    rotation = google_rotation(gcal, key_file, store, NOW)
    return rotation.procedure, rotation.source, rotation.deliverer


def test_an_override_is_written_back_and_survives_the_syncs_around_it(gcal, store, bot):
    procedure, source, deliverer = bot
    handover = RotationOverride(WEEK, "aisha", "tom", OverrideKind.HANDOVER, "Aisha is away that week",
                                requested_by="aisha", approved_by="omar", applied_at=NOW)
    applied = apply_override(store, procedure, handover, NOW)
    assert applied.writeback_queued

    before_write_back = sync_rotation(store, source, procedure, NOW + timedelta(minutes=10))
    assert before_write_back.changes == []
    assert who_is_on_call(store, procedure, NIGHT).neighbours.current.person_id == "tom"

    deliver_pending(store, procedure, deliverer, NOW + timedelta(minutes=11))
    (event,) = [e for e in gcal.events(CALENDAR) if e["id"] == event_id(WEEK)]
    assert event["summary"] == "On call: Tom Becker"

    after_write_back = sync_rotation(store, source, procedure, NOW + timedelta(minutes=20))
    assert after_write_back.changes == []
    current = who_is_on_call(store, procedure, NIGHT).neighbours.current
    assert (current.person_id, current.override_id) == ("tom", applied.override.id)
