"""The weekly report: load the week's pages and timelines, let the domain compute the statistics, and DM the
approvers once per week."""

from datetime import date, datetime

from ..domain import keys, reports
from ..domain.procedure import Procedure
from ..domain.reports import PageRecord, PersonSummary, ReportedEvent, ReportedPage, WeekReport
from ..domain.vocabulary import Channel, MessageKind
from ..ports import Store, StoreTx
from .delivery import notify_approvers
from .presenting import report_text

__all__ = ["PageRecord", "PersonSummary", "WeekReport", "report_week_start", "send_weekly_report", "week_report"]


def report_week_start(procedure: Procedure, now: datetime, day: date | None = None) -> date:
    """The week containing `day`; by default the latest week that has ended."""
    return reports.report_week_start(procedure.window, now, day)


def week_report(store: Store, procedure: Procedure, week_start: date) -> WeekReport:
    with store.reading() as tx:
        return _week_report(tx, procedure, week_start)


def _week_report(tx: StoreTx, procedure: Procedure, week_start: date) -> WeekReport:
    start_at, end_at = procedure.window.bounds(week_start)
    pages = [ReportedPage(p.id, p.source, p.state, p.responsible, p.created_at, p.done_at, p.fired)
             for p in tx.pages_between(start_at, end_at)]
    counted = [p.id for p in pages if reports.counts_in_report(p)]
    events = [ReportedEvent(e.page_id, e.kind, e.at, e.person_id) for e in tx.events_of_pages(counted)]
    return reports.week_report(procedure.window, week_start, pages, events, procedure.ack_window)


def send_weekly_report(store: Store, procedure: Procedure, now: datetime) -> bool:
    """DM last week's summary to the approvers: once per week, however many replicas run this."""
    week = report_week_start(procedure, now)
    # One transaction: a claim without its DMs would be a week's report lost for good.
    with store.transaction() as tx:
        if not tx.claim_job_run("weekly_report", week.isoformat(), now):
            return False
        report = _week_report(tx, procedure, week)
        subject, text = f"weekly:{week.isoformat()}", report_text(report, procedure)
        notify_approvers(tx, procedure, subject, now, text)
        if procedure.report_by_email:
            for approver in procedure.team.approvers:
                if approver.email:
                    tx.add_notification(keys.report_email(subject, approver.id), now, kind=MessageKind.REPORT,
                                        channel=Channel.EMAIL, person_id=approver.id, text=text)
    return True
