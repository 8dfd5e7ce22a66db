"""The weekly report: load the week's pages and timelines, let the domain compute the statistics, and DM the
approvers once per week."""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Protocol

from ..domain import reports
from ..domain.procedure import Procedure
from ..domain.reports import PageRecord, PersonSummary, ReportedEvent, ReportedPage, WeekReport
from .delivery import notify_approvers
from .presenting import report_text

__all__ = ["PageRecord", "PersonSummary", "WeekReport", "report_week_start", "send_weekly_report", "week_report"]


# What this service reads and claims through the store. Local until ports.py holds the store's Protocol.
class _Page(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def responsible(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def done_at(self) -> datetime | None: ...
    @property
    def fired(self) -> int: ...


class _Event(Protocol):
    @property
    def page_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def person_id(self) -> str | None: ...


class ReportReads(Protocol):
    def pages_between(self, start_at: datetime, end_at: datetime) -> Sequence[_Page]: ...
    def events_of_pages(self, page_ids: list[int]) -> Sequence[_Event]: ...


class ReportTransaction(ReportReads, Protocol):
    def claim_job_run(self, job: str, occasion: str, now: datetime) -> bool: ...


class ReportStore(Protocol):
    def reading(self) -> AbstractContextManager[ReportReads]: ...
    def transaction(self) -> AbstractContextManager[ReportTransaction]: ...


def report_week_start(procedure: Procedure, now: datetime, day: date | None = None) -> date:
    """The week containing `day`; by default the latest week that has ended."""
    return reports.report_week_start(procedure.window, now, day)


def week_report(store: ReportStore, procedure: Procedure, week_start: date) -> WeekReport:
    with store.reading() as tx:
        return _week_report(tx, procedure, week_start)


def _week_report(tx: ReportReads, procedure: Procedure, week_start: date) -> WeekReport:
    start_at, end_at = procedure.window.bounds(week_start)
    pages = [ReportedPage(p.id, p.source, p.state, p.responsible, p.created_at, p.done_at, p.fired)
             for p in tx.pages_between(start_at, end_at)]
    counted = [p.id for p in pages if reports.counts_in_report(p)]
    events = [ReportedEvent(e.page_id, e.kind, e.at, e.person_id) for e in tx.events_of_pages(counted)]
    return reports.week_report(procedure.window, week_start, pages, events, procedure.ack_window)


def send_weekly_report(store: ReportStore, procedure: Procedure, now: datetime) -> bool:
    """DM last week's summary to the approvers: once per week, however many replicas run this."""
    week = report_week_start(procedure, now)
    # One transaction: a claim without its DMs would be a week's report lost for good.
    with store.transaction() as tx:
        if not tx.claim_job_run("weekly_report", week.isoformat(), now):
            return False
        report = _week_report(tx, procedure, week)
        notify_approvers(tx, procedure, f"weekly:{week.isoformat()}", now, report_text(report, procedure))
    return True
