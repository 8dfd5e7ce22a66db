"""Issue 7, items 18 and 19: what the weekly report counts, and that a failure never loses it."""

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select

from oncallbot import bootstrap
from oncallbot.adapters.db.models import JobRunRow, NotificationRow
from oncallbot.config import load_settings
from oncallbot.entrypoints.cli import main
from oncallbot.services import paging
from oncallbot.services.reports import send_weekly_report, week_report
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG
from tests.harness.pager import LA, Pager

WEEK_START = datetime(2026, 11, 23, 18, 1, tzinfo=LA)  # Aisha's week
NIGHT = datetime(2026, 11, 24, 22, 0, tzinfo=LA)
REPORT_MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=LA)  # when the weekly report goes out
AISHA_PHONE = "+14155550105"


def a_week_with_a_test_page_and_an_escalation(store, procedure, clock) -> tuple[int, int]:
    """The test page (confirmed), a page Aisha took in 4 minutes and then escalated, and one she missed."""
    clock.set(WEEK_START)
    paging.open_test_page(store, procedure, timedelta(minutes=15), clock.now())
    clock.advance(timedelta(minutes=2))
    assert paging.acknowledge_phone_reply(store, procedure, AISHA_PHONE, "1", clock.now()).pages

    clock.set(NIGHT)
    escalated, _ = paging.open_page(store, procedure, paging.NewPage("Refund over the limit", "api"), clock.now())
    missed, _ = paging.open_page(store, procedure, paging.NewPage("Voicemail from ACME", "api"), clock.now())
    clock.advance(timedelta(minutes=4))
    assert paging.acknowledge_page(store, procedure, escalated.id, "aisha", "on_it", "slack", clock.now()).accepted
    clock.advance(timedelta(minutes=6))
    assert paging.escalate_page(store, procedure, escalated.id, "aisha", "Needs a manager's approval",
                                clock.now()).accepted
    clock.advance(timedelta(minutes=2))
    assert paging.acknowledge_page(store, procedure, escalated.id, "omar", "on_it", "sms", clock.now()).accepted
    clock.advance(timedelta(minutes=18))  # 30 minutes in: her manager takes the voicemail she missed
    assert paging.acknowledge_page(store, procedure, missed.id, "omar", "on_it", "sms", clock.now()).accepted
    return escalated.id, missed.id


def test_the_report_leaves_out_the_test_page_and_credits_the_first_on_it_before_an_escalation(store):
    pager = Pager(store, WEEK_START)
    escalated, missed = a_week_with_a_test_page_and_an_escalation(store, pager.procedure, pager.clock)
    report = week_report(store, pager.procedure, WEEK_START.date())
    assert [r.page_id for r in report.pages] == [escalated, missed]  # not the test page
    [aisha] = report.people
    assert (aisha.responsible, aisha.pages, aisha.missed) == ("aisha", 2, 1)
    assert aisha.median_to_on_it == timedelta(minutes=17) and aisha.share_within_window == 0.5
    taken = {r.page_id: (r.on_it_by, r.to_on_it, r.within_window) for r in report.pages}
    assert taken == {escalated: ("aisha", timedelta(minutes=4), True),
                     missed: ("omar", timedelta(minutes=30), False)}


def test_report_json_on_the_command_line_counts_the_same(capsys):
    clock = FakeClock(WEEK_START)
    assert main(["sync", "--config", str(EXAMPLE_CONFIG)], clock=clock) == 0
    container = bootstrap.build(load_settings(str(EXAMPLE_CONFIG)), clock=clock)
    escalated, missed = a_week_with_a_test_page_and_an_escalation(container.store, container.procedure, clock)
    capsys.readouterr()
    assert main(["report", "--week", "2026-11-25", "--json", "--config", str(EXAMPLE_CONFIG)], clock=clock) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["people"] == [{"responsible": "aisha", "pages": 2, "median_to_on_it_seconds": 1020.0,
                               "p90_to_on_it_seconds": 1644.0, "share_within_window": 0.5, "missed": 1}]
    assert [(p["id"], p["on_it_by"], p["to_on_it_seconds"], p["within_window"]) for p in body["pages"]] == [
        (escalated, "aisha", 240.0, True), (missed, "omar", 1800.0, False)]


# --- item 19: one transaction for the claim and the DMs --------------------------------------------------


class RefusedInsert(Exception):
    pass


def refuse_notifications(engine):
    """The database refuses to queue any message (a full disk, a dropped connection) until undone."""
    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO NOTIFICATIONS"):
            raise RefusedInsert("the database refused the insert")

    event.listen(engine, "before_cursor_execute", before)
    return lambda: event.remove(engine, "before_cursor_execute", before)


def weekly_dms(store) -> list[str]:
    with store.reading() as tx:
        return sorted(n.person_id for n in tx.session.scalars(select(NotificationRow))
                      if n.key.startswith("report:weekly:"))


def test_a_failure_while_queueing_the_report_leaves_no_claim_and_the_next_run_sends_it(store):
    pager = Pager(store, NIGHT)
    pager.open()
    undo = refuse_notifications(store.engine)
    with pytest.raises(RefusedInsert):
        send_weekly_report(store, pager.procedure, REPORT_MONDAY)
    undo()
    with store.reading() as tx:
        assert list(tx.session.scalars(select(JobRunRow).where(JobRunRow.job == "weekly_report"))) == []
    assert weekly_dms(store) == []

    assert send_weekly_report(store, pager.procedure, REPORT_MONDAY + timedelta(minutes=1))  # the next run
    assert weekly_dms(store) == ["dana", "omar"]
    assert not send_weekly_report(store, pager.procedure, REPORT_MONDAY + timedelta(minutes=2))
    assert weekly_dms(store) == ["dana", "omar"]
    pager.deliver()
    [report] = {m.text for m in pager.deliverer.of_kind("report") if m.text.startswith("On-call report")}
    assert "Aisha Khan" in report


def test_the_weekly_report_goes_out_once_when_replicas_race(store):
    from tests.harness.pager import run_concurrently

    pager = Pager(store, NIGHT)
    pager.open()
    sent = []
    errors = run_concurrently(lambda: sent.append(send_weekly_report(store, pager.procedure, REPORT_MONDAY)), 4)
    assert errors == [] and sorted(sent) == [False, False, False, True]
    assert weekly_dms(store) == ["dana", "omar"]
