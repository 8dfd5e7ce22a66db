"""Issue 9, item 5: an approved swap is written back to Google Calendar (both occurrences) through the outbox,
and the next sync keeps it (the calendar now names the new people; the overrides still agree)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot.bootstrap import Environment, build_deliverer, build_procedure, build_rotation_source
from oncallbot.services import swaps
from oncallbot.services.delivery import deliver_pending
from oncallbot.services.rotation import sync_rotation, who_is_on_call
from tests.harness.config import example_settings
from tests.harness.gcal import CALENDAR, event_id, seed_quarter

pytestmark = pytest.mark.usefixtures("backoff_sleeps")  # googleapiclient's retries record their sleeps

NOW = datetime(2026, 12, 20, tzinfo=UTC)
KELLY_WEEK, MARCUS_WEEK = date(2027, 1, 4), date(2027, 1, 11)


@pytest.fixture
def gcal(gcal):
    """The shared fake calendar, seeded with the quarter's weeks."""
    seed_quarter(gcal)
    return gcal


def test_an_approved_swap_reaches_the_fake_calendar_and_survives_a_sync(gcal, key_file, store):
    settings = example_settings(rotation={"source": "google", "google": {"calendar_id": CALENDAR}})
    env = Environment(google_credentials=key_file, google_api_url=gcal.url)
    procedure = build_procedure(settings)
    source = build_rotation_source(settings, env)

    deliverer = build_deliverer(settings, env, rotation_source=source)  # the real router: DMs to the console
    sync_rotation(store, source, procedure, NOW)
    request = swaps.request_swap(store, procedure, "kelly", "marcus", "2027-01-04", "2027-01-11", NOW).request
    swaps.accept(store, procedure, request.id, "marcus", NOW)
    swaps.approve(store, procedure, request.id, "omar", NOW)
    deliver_pending(store, procedure, deliverer, NOW)

    summaries = {e["id"]: e["summary"] for e in gcal.events(CALENDAR)}
    assert summaries[event_id(KELLY_WEEK)] == "On call: Marcus Brown"
    assert summaries[event_id(MARCUS_WEEK)] == "On call: Kelly Nguyen"

    sync_rotation(store, source, procedure, NOW + timedelta(minutes=10))
    for week, person in ((KELLY_WEEK, "marcus"), (MARCUS_WEEK, "kelly")):
        at = procedure.window.bounds(week)[0] + timedelta(days=1)
        assert who_is_on_call(store, procedure, at).neighbours.current.person_id == person
