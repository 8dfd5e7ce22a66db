"""The weekly report as pure functions: per page (time to On It!, to Done, within the window or not) and per
person (how many, median and p90 time to On It!, the share within the window, the pages they missed).

The service loads the week's pages and their timelines as the plain records below and calls `week_report`.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import quantiles

from .paging import TEST_PAGE_SOURCE
from .rotation import ShiftWindow

TAKEN_KINDS = ("on_it", "done")  # the timeline events that show someone took a page (Done without On It! too)


@dataclass(frozen=True)
class ReportedPage:
    """What the report needs of a page."""

    id: int
    source: str
    state: str
    responsible: str  # a person id, "office" or "nobody"
    created_at: datetime
    done_at: datetime | None
    steps_ran: int  # escalation steps fired


@dataclass(frozen=True)
class ReportedEvent:
    """What the report needs of a timeline entry."""

    page_id: int
    kind: str
    at: datetime
    person_id: str | None


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


def report_week_start(window: ShiftWindow, now: datetime, day: date | None = None) -> date:
    """The week containing `day`; by default the latest week that has ended by `now`."""
    if day is not None:
        return window.week_start_on_or_before(day)
    week = window.week_start_on_or_before(now.astimezone(window.tz).date())
    while window.bounds(week)[1] > now:
        week -= timedelta(days=7)
    return week


def counts_in_report(page: ReportedPage) -> bool:
    # The weekly test page checks the phones; it is not a page anyone answered for a customer. "Not a ticket"
    # is chatter, not work anyone was asked to do.
    return page.source != TEST_PAGE_SOURCE and page.state != "dismissed"


def p90(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    seconds = quantiles([v.total_seconds() for v in values], n=10, method="inclusive")[-1]
    return timedelta(seconds=seconds)


def median_time(values: Sequence[timedelta]) -> timedelta | None:
    # statistics.median's own rule (the mean of the middle two), spelled out: its types take numbers only.
    if not values:
        return None
    ordered, middle = sorted(values), len(values) // 2
    return ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def first_taken(events: Iterable[ReportedEvent]) -> dict[int, tuple[datetime, str | None]]:
    """Per page, when and by whom it was first taken. From the timeline, not the page: Escalate reopens the page
    and clears its On It!, but the person who took it in time still took it."""
    taken: dict[int, tuple[datetime, str | None]] = {}
    for event in sorted(events, key=lambda e: e.at):  # stable: same-instant events keep their recorded order
        if event.kind in TAKEN_KINDS:
            taken.setdefault(event.page_id, (event.at, event.person_id))
    return taken


def page_records(pages: Iterable[ReportedPage], events: Iterable[ReportedEvent],
                 ack_window: timedelta) -> list[PageRecord]:
    taken = first_taken(events)
    records = []
    for page in pages:
        if not counts_in_report(page):
            continue
        taken_at, taken_by = taken.get(page.id, (None, None))
        to_on_it = taken_at - page.created_at if taken_at else None
        records.append(PageRecord(page.id, page.responsible, page.created_at, to_on_it,
                                  page.done_at - page.created_at if page.done_at else None, taken_by,
                                  to_on_it is not None and to_on_it <= ack_window, page.steps_ran))
    return records


def person_summaries(records: Sequence[PageRecord]) -> list[PersonSummary]:
    people = []
    for responsible in sorted({r.responsible for r in records}):
        mine = [r for r in records if r.responsible == responsible]
        times = [r.to_on_it for r in mine if r.to_on_it is not None]
        # The office and "nobody" are not people: anyone's On It! counts; a person misses what someone else took.
        missed = sum(1 for r in mine if r.to_on_it is None
                     or (responsible not in ("office", "nobody") and r.on_it_by != responsible))
        people.append(PersonSummary(responsible, len(mine), median_time(times), p90(times),
                                    sum(r.within_window for r in mine) / len(mine), missed))
    return people


def week_report(window: ShiftWindow, week_start: date, pages: Iterable[ReportedPage],
                events: Iterable[ReportedEvent], ack_window: timedelta) -> WeekReport:
    start_at, end_at = window.bounds(week_start)
    records = page_records(pages, events, ack_window)
    return WeekReport(week_start, start_at, end_at, person_summaries(records), records)
