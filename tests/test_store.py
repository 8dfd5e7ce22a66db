"""Storage on SQLite and PostgreSQL: instants come back tz-aware UTC, syncs are all-or-nothing."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncallbot.bootstrap import build_procedure
from oncallbot.errors import IntegrationError
from oncallbot.services.rotation import sync_rotation, who_is_on_call
from tests.harness.config import example_settings
from tests.harness.rotation import ListSource, week_event

LA = ZoneInfo("America/Los_Angeles")
PROCEDURE = build_procedure(example_settings())
NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)


def test_instants_round_trip_as_utc_aware(store):
    event = week_event(date(2027, 3, 8), "kelly")  # the DST week, given in local time
    sync_rotation(store, ListSource([event]), PROCEDURE, NOW)
    with store.transaction() as tx:
        [stored] = tx.calendar_events()
        [shift] = tx.all_shifts()
    assert stored.start_at == event.start_at and stored.start_at.tzinfo == UTC
    assert shift.start_at == datetime(2027, 3, 9, 2, 1, tzinfo=UTC)
    assert shift.end_at == datetime(2027, 3, 15, 14, 0, tzinfo=UTC)
    assert shift.week_start == date(2027, 3, 8)


def test_queries_compare_instants_correctly_across_offsets(store):
    weeks = [week_event(date(2027, 1, 4) + timedelta(weeks=i), p) for i, p in enumerate(["kelly", "marcus", "priya"])]
    sync_rotation(store, ListSource(weeks), PROCEDURE, NOW)
    # 18:00:30 local is still before the week's start; 18:01 local is in it.
    report = who_is_on_call(store, PROCEDURE, datetime(2027, 1, 11, 18, 0, 30, tzinfo=LA))
    assert report.responsibility.responsible == "office"
    assert report.neighbours.current is None
    assert (report.neighbours.previous.person_id, report.neighbours.next.person_id) == ("kelly", "marcus")
    report = who_is_on_call(store, PROCEDURE, datetime(2027, 1, 11, 18, 1, tzinfo=LA))
    assert (report.neighbours.previous.person_id, report.neighbours.current.person_id,
            report.neighbours.next.person_id) == ("kelly", "marcus", "priya")


def test_failed_fetch_leaves_the_stored_rotation_untouched(store):
    sync_rotation(store, ListSource([week_event(date(2027, 1, 4), "kelly")]), PROCEDURE, NOW)
    with pytest.raises(IntegrationError):
        sync_rotation(store, ListSource(IntegrationError("calendar unreachable")), PROCEDURE, NOW)
    with store.transaction() as tx:
        assert [s.person_id for s in tx.all_shifts()] == ["kelly"]


def test_resync_reports_changed_weeks(store):
    source = ListSource([week_event(date(2027, 1, 4), "kelly"), week_event(date(2027, 1, 11), "marcus")])
    sync_rotation(store, source, PROCEDURE, NOW)
    source.events = [week_event(date(2027, 1, 4), "kelly"), week_event(date(2027, 1, 11), "priya")]
    result = sync_rotation(store, source, PROCEDURE, NOW)
    assert [(c.week_start, c.before, c.after) for c in result.changes] == [(date(2027, 1, 11), "marcus", "priya")]


def test_a_job_occasion_is_claimed_once(store):
    with store.transaction() as tx:
        first = tx.claim_job_run("weekly_report", "2027-W02", NOW)
    with store.transaction() as tx:
        second = tx.claim_job_run("weekly_report", "2027-W02", NOW)
        other = tx.claim_job_run("weekly_report", "2027-W03", NOW)
    assert (first, second, other) == (True, False, True)


def test_naive_datetimes_are_refused(store):
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match="naive datetime"), store.transaction() as tx:
        tx.set_sync_state("x", None, datetime(2027, 1, 1))
