"""Response times: per page (time to On It!, to Done, within the window or not) and per person per week."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median, quantiles

from ..domain.paging import TEST_PAGE_SOURCE
from ..domain.procedure import Procedure
from .delivery import notify_approvers


@dataclass(frozen=True)
class PageRecord:
    page_id: int
    responsible: str
    created_at: datetime
    to_on_it: timedelta | None
    to_done: timedelta | None
    on_it_by: str | None  # who said On It! first, even if they escalated it afterwards
    within_window: bool
    steps_ran: int


@dataclass(frozen=True)
class PersonSummary:
    responsible: str  # a person id, "office" or "nobody"
    pages: int
    median_to_on_it: timedelta | None
    p90_to_on_it: timedelta | None
    share_within_window: float
    missed: int  # pages nobody took, or someone else took


@dataclass(frozen=True)
class WeekReport:
    week_start: date
    start_at: datetime
    end_at: datetime
    people: list[PersonSummary]
    pages: list[PageRecord]


def report_week_start(procedure: Procedure, now: datetime, day: date | None = None) -> date:
    """The week containing `day`; by default the latest week that has ended."""
    window = procedure.window
    if day is not None:
        return window.week_start_on_or_before(day)
    week = window.week_start_on_or_before(now.astimezone(window.tz).date())
    while window.bounds(week)[1] > now:
        week -= timedelta(days=7)
    return week


def _p90(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    seconds = quantiles([v.total_seconds() for v in values], n=10, method="inclusive")[-1]
    return timedelta(seconds=seconds)


def week_report(store, procedure: Procedure, week_start: date) -> WeekReport:
    with store.reading() as tx:
        return _week_report(tx, procedure, week_start)


def _week_report(tx, procedure: Procedure, week_start: date) -> WeekReport:
    start_at, end_at = procedure.window.bounds(week_start)
    # The weekly test page checks the phones; it is not a page anyone answered for a customer.
    pages = [p for p in tx.pages_between(start_at, end_at) if p.source != TEST_PAGE_SOURCE
             and p.state != "dismissed"]  # Not a ticket: chatter, not work anyone was asked to do
    events = tx.events_of_pages([p.id for p in pages])
    # From the timeline, not the page row: Escalate reopens the page and clears its On It!, but the person
    # who took it in time still took it.
    first_on_it: dict[int, tuple[datetime, str | None]] = {}
    for event in events:
        if event.kind in ("on_it", "done"):
            first_on_it.setdefault(event.page_id, (event.at, event.person_id))
    records = []
    for page in pages:
        taken_at, taken_by = first_on_it.get(page.id, (None, None))
        to_on_it = taken_at - page.created_at if taken_at else None
        records.append(PageRecord(page.id, page.responsible, page.created_at, to_on_it,
                                  page.done_at - page.created_at if page.done_at else None, taken_by,
                                  to_on_it is not None and to_on_it <= procedure.ack_window, page.fired))
    people = []
    for responsible in sorted({r.responsible for r in records}):
        mine = [r for r in records if r.responsible == responsible]
        times = [r.to_on_it for r in mine if r.to_on_it is not None]
        missed = sum(1 for r in mine if r.to_on_it is None
                     or (responsible not in ("office", "nobody") and r.on_it_by != responsible))
        people.append(PersonSummary(responsible, len(mine), median(times) if times else None, _p90(times),
                                    sum(r.within_window for r in mine) / len(mine), missed))
    return WeekReport(week_start, start_at, end_at, people, records)


def send_weekly_report(store, procedure: Procedure, now: datetime) -> bool:
    """DM last week's summary to the approvers: once per week, however many replicas run this."""
    from .presenting import report_text

    week = report_week_start(procedure, now)
    # One transaction: a claim without its DMs would be a week's report lost for good.
    with store.transaction() as tx:
        if not tx.claim_job_run("weekly_report", week.isoformat(), now):
            return False
        report = _week_report(tx, procedure, week)
        notify_approvers(tx, procedure, f"weekly:{week.isoformat()}", now, report_text(report, procedure))
    return True
