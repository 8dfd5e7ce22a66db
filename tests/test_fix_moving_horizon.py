"""Issue 7, item 3: an open-ended weekly recurrence (what the README recommends) stays expanded a year ahead
however long the bot runs, on Google Calendar (whose change feed never brings back unchanged occurrences)
as on an iCalendar file: months of syncs later, the weeks far ahead are staffed and no gap is reported."""

from datetime import UTC, datetime, timedelta

from oncallbot.services.rotation import check_rotation, sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.rotation import (
    PAIR_ICS,
    PROCEDURE,
    google_listings,
    google_source,
    ical_source,
    ics,
    night_of,
    on_call,
    owner_of,
    publish_pair,
)

START = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
RUN_FOR = timedelta(weeks=46)  # past the point (~40 weeks) where the old sync ran out of weeks


def unpublished_weeks(store, now) -> list[str]:
    return [p.message for p in check_rotation(store, PROCEDURE, now)
            if p.kind == "missing_week" or "missing from the calendar" in p.message]


def keep_syncing(store, source, clock, every: timedelta) -> int:
    """Sync every `every` for RUN_FOR; how many syncs that was. Nobody edits the calendar meanwhile, so
    no sync may report a changed week (weeks entering the horizon are not news)."""
    end, syncs = clock.now() + RUN_FOR, 0
    while clock.now() <= end:
        result = sync_rotation(store, source, PROCEDURE, clock.now())
        assert result.changes == [], f"sync at {clock.now()}"
        clock.advance(every)
        syncs += 1
    return syncs


def assert_staffed_a_year_ahead(store, now) -> None:
    assert unpublished_weeks(store, now) == []
    this_week = PROCEDURE.window.week_start_on_or_before(now.astimezone(PROCEDURE.window.tz).date())
    for weeks_ahead in (1, 13, 30, 50):
        week = this_week + timedelta(weeks=weeks_ahead)
        assert on_call(store, night_of(week)) == owner_of(week), f"week of {week} ({weeks_ahead} weeks ahead)"


def test_google_endless_series_stays_staffed_after_months_of_incremental_syncs(store, gcal, tmp_path):
    publish_pair(gcal)
    source, clock = google_source(gcal, tmp_path), FakeClock(START)

    syncs = keep_syncing(store, source, clock, every=timedelta(days=3))

    assert_staffed_a_year_ahead(store, clock.now())
    full, incremental = google_listings(gcal)
    # The change feed still does the everyday work; the series is read in full again about once a week.
    assert full + incremental == syncs and incremental > syncs // 2
    assert 2 <= full <= RUN_FOR // timedelta(weeks=1) + 1


def test_ical_endless_series_stays_staffed_after_months_of_syncs(store, tmp_path):
    path = tmp_path / "rotation.ics"
    path.write_text(ics(*PAIR_ICS))
    clock = FakeClock(START)

    keep_syncing(store, ical_source(path), clock, every=timedelta(weeks=1))  # each one a full read of the file

    assert_staffed_a_year_ahead(store, clock.now())


def test_a_calendar_synced_before_the_upgrade_is_read_in_full_next_time(store, gcal, tmp_path):
    from sqlalchemy import update

    from oncallbot.adapters.db.models import SyncStateRow

    publish_pair(gcal)
    source = google_source(gcal, tmp_path)
    sync_rotation(store, source, PROCEDURE, START)
    with store.transaction() as tx:  # what the migration leaves: a token, a sync time, no horizon
        tx.session.execute(update(SyncStateRow).values(expanded_until=None))

    later = sync_rotation(store, source, PROCEDURE, START + timedelta(minutes=10))

    assert later.full and later.changes == []
    assert google_listings(gcal) == (2, 0)
