"""What a rotation sync tells people: changed weeks, problems once, and a quarter that runs out."""

from datetime import UTC, date, datetime, timedelta

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.bootstrap import build_procedure
from oncallbot.services.reports import send_weekly_report
from oncallbot.services.rotation import sync_and_notify
from tests.harness.config import example_settings
from tests.harness.pager import Pager
from tests.harness.rotation import ListSource, week_event

PROCEDURE = build_procedure(example_settings(holidays={}))
NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)


def reports(store) -> list[tuple[str | None, str]]:
    with store.transaction() as tx:
        return [(n.person_id, n.text) for n in tx.session.query(NotificationRow).order_by(NotificationRow.id)
                if n.kind == "report"]


def weeks(first: date, people: list[str]):
    return [week_event(first + timedelta(weeks=i), p) for i, p in enumerate(people)]


def test_people_whose_weeks_change_hear_it_once(store):
    source = ListSource(weeks(date(2027, 1, 4), ["kelly", "marcus", "priya"] * 5))
    sync_and_notify(store, source, PROCEDURE, NOW)
    assert not any("weeks changed" in text for _, text in reports(store))  # a first sync is not news
    source.events = weeks(date(2027, 1, 4), ["kelly", "tom", "priya"] + ["kelly", "marcus", "priya"] * 4)
    sync_and_notify(store, source, PROCEDURE, NOW + timedelta(minutes=10))
    sync_and_notify(store, source, PROCEDURE, NOW + timedelta(minutes=20))
    changed = [(person, text) for person, text in reports(store) if "weeks changed" in text]
    assert sorted(person for person, _ in changed) == ["marcus", "tom"]
    assert "week of Mon 2027-01-11: Tom Becker (was Marcus Brown)" in changed[0][1]


def test_a_rotation_problem_reaches_the_approvers_once(store):
    rotation = weeks(date(2027, 1, 4), ["kelly", "marcus", "priya"] * 5)
    del rotation[3]  # a missing week
    source = ListSource(rotation)
    for minutes in (0, 10, 20):
        sync_and_notify(store, source, PROCEDURE, NOW + timedelta(minutes=minutes))
    gap_reports = [(p, t) for p, t in reports(store) if "missing from the calendar" in t]
    assert {p for p, _ in gap_reports} == {"dana", "omar"}
    assert len(gap_reports) == 2 * len({t for _, t in gap_reports})  # each problem once per approver


def test_approvers_are_reminded_daily_when_the_published_rotation_runs_out(store):
    source = ListSource(weeks(date(2027, 1, 4), ["kelly", "marcus"]))  # ends in two weeks
    for hours in (0, 1, 2, 25):
        sync_and_notify(store, source, PROCEDURE, NOW + timedelta(hours=hours))
    reminders = [t for p, t in reports(store) if p == "dana" and "publish the next quarter" in t]
    assert len(reminders) == 2  # one a day


def test_weekly_report_is_sent_once_even_when_asked_twice(store):
    pager = Pager(store)
    pager.open()
    monday = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # Monday 09:00 local
    assert send_weekly_report(store, pager.procedure, monday)
    assert not send_weekly_report(store, pager.procedure, monday + timedelta(seconds=1))
    weekly = [(p, t) for p, t in reports(store) if t.startswith("On-call report, week of Mon 2026-11-23")]
    assert sorted(p for p, _ in weekly) == ["dana", "omar"]
    assert "Aisha Khan" in weekly[0][1]
