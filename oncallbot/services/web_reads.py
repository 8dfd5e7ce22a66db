"""What the web view reads: the quarter's weeks with their changes, holidays and problems; the pages, open and
recent; the response numbers per person and week (the weekly report's, so they equal `oncallbot report`);
and the weeks a calendar feed lists. Reads only; the verbs are the services Slack and the CLI use."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..domain.procedure import Procedure
from ..domain.reports import WeekReport
from ..domain.rotation import OverrideKind, RotationProblem
from ..domain.swaps import SwapRequest, can_approve, can_reject
from ..domain.web import FeedScope, FeedWeek, feed_weeks, quarter_label, quarter_weeks
from ..errors import BadInput
from ..ports import Store
from . import paging, rotation
from .pages import PageSnapshot
from .reports import report_week_start, week_report
from .swap_reads import list_requests

RECENT_WINDOW = timedelta(days=30)
RESPONSE_WEEKS = 8
FEED_BACK = timedelta(weeks=13)  # a feed lists the last quarter's weeks too, so the calendar keeps them
FEED_AHEAD = timedelta(weeks=53)


@dataclass(frozen=True)
class WeekChange:
    kind: OverrideKind
    from_person_id: str
    approved_by: str | None
    applied_at: datetime
    reason: str


@dataclass(frozen=True)
class WeekView:
    week_start: date
    start_at: datetime
    end_at: datetime
    person_id: str | None  # None: nobody is assigned (a gap)
    change: WeekChange | None  # the swap, handover or reassignment that gave it to them
    holidays: tuple[tuple[date, str], ...]
    problems: tuple[RotationProblem, ...]
    mine: bool
    started: bool  # a week under way or past: no swap can be requested for it
    quarter: str  # "Q1 2027": the calendar quarter the week starts in


def quarter(store: Store, procedure: Procedure, viewer_id: str, now: datetime) -> list[WeekView]:
    """This quarter's weeks and the next's, each with its person, its change, holidays and problems."""
    window = procedure.window
    weeks = quarter_weeks(window, now)
    start_at, end_at = window.bounds(weeks[0])[0], window.bounds(weeks[-1])[1]
    with store.reading() as tx:
        shifts = {s.week_start: s for s in tx.shifts_between(start_at, end_at)}
        overrides = {o.id: o for o in tx.overrides_between(weeks[0], weeks[-1])}
    problems: dict[date, list[RotationProblem]] = {}
    for problem in rotation.rotation_problems(store, procedure, now, span=end_at - now) if end_at > now else []:
        problems.setdefault(window.week_start_on_or_before(problem.day), []).append(problem)
    views = []
    for week in weeks:
        shift = shifts.get(week)
        override = overrides.get(shift.override_id) if shift and shift.override_id is not None else None
        change = (WeekChange(override.kind, override.from_person_id, override.approved_by, override.applied_at,
                             override.reason) if override else None)
        days = (week + timedelta(days=n) for n in range(7))
        holidays = tuple((d, name) for d in days if (name := procedure.holiday_on(d)))
        week_start_at, week_end_at = window.bounds(week)
        views.append(WeekView(week, week_start_at, week_end_at, shift.person_id if shift else None, change, holidays,
                              tuple(problems.get(week, ())), bool(shift and shift.person_id == viewer_id),
                              week_start_at <= now, quarter_label(week)))
    return views


# --- pages -------------------------------------------------------------------------------------------


def open_pages(store: Store, now: datetime) -> list[PageSnapshot]:
    """The pages not closed yet, newest first, each with its plan's steps and timeline."""
    listing = paging.list_pages(store, now, state="open", limit=paging.LIST_LIMIT_MAX)
    return [paging.get_page(store, line.id) for line in listing.pages]


OUTCOMES = ("open", "on_it", "done", "dismissed")


@dataclass(frozen=True)
class RecentPages:
    pages: tuple[PageSnapshot, ...]  # newest first
    sources: tuple[str, ...]  # every source seen in the window, for the filter


def recent_pages(store: Store, now: datetime, person_id: str | None = None, source: str | None = None,
                 outcome: str | None = None) -> RecentPages:
    """The last 30 days' pages, filtered by person (responsible, or who took or closed it), source and outcome."""
    if outcome is not None and outcome not in OUTCOMES:
        raise BadInput(f'outcome "{outcome}" is not one of: {", ".join(OUTCOMES)}')
    with store.reading() as tx:
        records = tx.pages_between(now - RECENT_WINDOW, now + timedelta(seconds=1))
        sources = tuple(sorted({p.source for p in records}))
        chosen = [p for p in records
                  if (person_id is None or person_id in (p.responsible, p.on_it_by, p.done_by))
                  and (source is None or p.source == source) and (outcome is None or p.state == outcome)]
        chosen.sort(key=lambda p: p.created_at, reverse=True)
        return RecentPages(tuple(paging.snapshot(tx, p) for p in chosen), sources)


# --- response ----------------------------------------------------------------------------------------


def response_weeks(store: Store, procedure: Procedure, now: datetime,
                   count: int = RESPONSE_WEEKS) -> list[WeekReport]:
    """The weekly reports of the last `count` weeks that ended, oldest first: the very numbers of
    `oncallbot report --week` for each."""
    last = report_week_start(procedure, now)
    return [week_report(store, procedure, last - timedelta(weeks=n)) for n in reversed(range(count))]


# --- swaps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedRequest:
    request: SwapRequest
    may_approve: bool  # the viewer may approve it now (an approver not part of it, once accepted)
    may_reject: bool
    why_not: str  # why they may not approve it, in the rules' words ("" when they may)


def swap_queue(store: Store, procedure: Procedure,
               viewer_id: str) -> tuple[list[QueuedRequest], list[SwapRequest]]:
    """(pending requests, oldest first; every decided request and reassignment, newest first)."""
    every = list_requests(store, include_all=True)
    pending = list_requests(store)
    pending_ids = {r.id for r in pending}
    decided = sorted((r for r in every if r.id not in pending_ids), key=lambda r: r.decided_at or r.requested_at,
                     reverse=True)
    queued = []
    for r in pending:
        approval = can_approve(r, viewer_id, procedure.team)
        queued.append(QueuedRequest(r, approval.allowed, can_reject(r, viewer_id, procedure.team).allowed,
                                    "" if approval.allowed else approval.message))
    return queued, decided


# --- calendar feeds ----------------------------------------------------------------------------------


def feed(store: Store, procedure: Procedure, person_id: str, scope: FeedScope, now: datetime) -> list[FeedWeek]:
    """The weeks a feed lists, from a quarter back to a year ahead, as in effect now (swaps included)."""
    with store.reading() as tx:
        shifts = tx.shifts_between(now - FEED_BACK, now + FEED_AHEAD)
        counts = tx.week_change_counts(shifts[0].week_start, shifts[-1].week_start) if shifts else {}
    return feed_weeks(shifts, procedure.team, scope, person_id, counts)


def people_named(procedure: Procedure, ids: Sequence[str | None]) -> dict[str, str]:
    return {i: (p.name if (p := procedure.team.person(i)) else i) for i in ids if i}
