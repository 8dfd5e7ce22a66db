"""Issue 7 item 4: a rotation gap is reported to the approvers once, however many syncs and nights it
spans, and its end is reported once: "resolved" when the calendar is fixed, nothing when it just passed."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.bootstrap import build_procedure
from oncallbot.services.rotation import sync_and_notify
from tests.harness.clock import FakeClock
from tests.harness.config import example_settings
from tests.harness.rotation import ListSource, week_event

LA = ZoneInfo("America/Los_Angeles")
PROCEDURE = build_procedure(example_settings(holidays={}))  # no holiday gaps: only the missing week
FIRST_WEEK = date(2027, 1, 4)
MISSING = date(2027, 1, 18)


def approver_dms(store, approver: str = "dana") -> list[str]:
    with store.transaction() as tx:
        return [n.text for n in tx.session.query(NotificationRow).order_by(NotificationRow.id)
                if n.kind == "report" and n.person_id == approver]


def rotation(weeks: int, missing: set[date] = frozenset()) -> list:
    people = ["kelly", "marcus", "priya", "diego", "aisha", "tom"]
    starts = [FIRST_WEEK + timedelta(weeks=i) for i in range(weeks)]
    return [week_event(start, people[i % len(people)]) for i, start in enumerate(starts) if start not in missing]


def sync_every(store, source, clock: FakeClock, step: timedelta, until: datetime) -> None:
    while clock.now() < until:
        sync_and_notify(store, source, PROCEDURE, clock.now())
        clock.advance(step)


def test_a_missing_week_is_reported_once_through_its_nights_and_resolved_once(store):
    source = ListSource(rotation(30, missing={MISSING}))
    clock = FakeClock(datetime(2027, 1, 19, 22, 0, tzinfo=LA))  # Tuesday night, inside the gap

    sync_every(store, source, clock, timedelta(minutes=10), datetime(2027, 1, 19, 23, 30, tzinfo=LA))
    sync_every(store, source, clock, timedelta(hours=3), datetime(2027, 1, 22, 23, 0, tzinfo=LA))  # more nights

    gap_reports = [t for t in approver_dms(store) if "missing from the calendar" in t]
    assert len(gap_reports) == 1, gap_reports
    assert "week of Mon 2027-01-18 missing from the calendar" in gap_reports[0]

    source.events = rotation(30)  # a manager fills the week in
    for _ in range(3):
        sync_and_notify(store, source, PROCEDURE, clock.now())
        clock.advance(timedelta(minutes=10))

    resolved = [t for t in approver_dms(store) if "resolved" in t.lower()]
    assert len(resolved) == 1, resolved
    assert "week of Mon 2027-01-18 missing from the calendar" in resolved[0]
    assert len(approver_dms(store)) == 2  # nothing else was said
    assert approver_dms(store, "omar") == approver_dms(store)


def test_a_gap_at_the_edge_of_the_look_ahead_is_reported_once(store):
    # Published for 14 weeks; the quarter looked at ends inside the first unpublished week (Apr 12).
    source = ListSource(rotation(14))
    clock = FakeClock(datetime(2027, 1, 13, 12, 0, tzinfo=LA))

    sync_every(store, source, clock, timedelta(minutes=10), datetime(2027, 1, 13, 13, 0, tzinfo=LA))
    sync_every(store, source, clock, timedelta(hours=2), datetime(2027, 1, 16, 12, 0, tzinfo=LA))

    dms = approver_dms(store)
    assert len(dms) == 1, dms
    assert "week of Mon 2027-04-12 missing from the calendar" in dms[0]


def test_a_gap_that_simply_passes_is_not_called_resolved(store):
    source = ListSource(rotation(30, missing={MISSING}))
    clock = FakeClock(datetime(2027, 1, 19, 22, 0, tzinfo=LA))

    sync_every(store, source, clock, timedelta(hours=6), datetime(2027, 1, 27, 12, 0, tzinfo=LA))  # week is over

    dms = approver_dms(store)
    assert len(dms) == 1 and "missing from the calendar" in dms[0]


def test_a_problem_that_comes_back_is_reported_again(store):
    source = ListSource(rotation(30, missing={MISSING}))
    now = datetime(2027, 1, 6, 12, 0, tzinfo=LA)

    sync_and_notify(store, source, PROCEDURE, now)
    source.events = rotation(30)
    sync_and_notify(store, source, PROCEDURE, now + timedelta(minutes=10))
    source.events = rotation(30, missing={MISSING})
    sync_and_notify(store, source, PROCEDURE, now + timedelta(minutes=20))

    dms = approver_dms(store)
    assert [("resolved" in t.lower(), "week of Mon 2027-01-18 missing" in t) for t in dms] == [
        (False, True), (True, True), (False, True)]
