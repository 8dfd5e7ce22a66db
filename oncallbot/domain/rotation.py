"""The weekly rotation: which person owns which on-call week, and what is wrong with the calendar.

The calendar says *who* owns a week; the shift window says *when* the week is. A calendar event names
the weeks it covers for at least half of their length, so an all-day Monday-to-Monday event, a
Monday 18:01 to Monday 06:59 event and a Monday-to-Sunday event all name the same week.
"""

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .team import Person, Team
from .timelabels import WeeklyTime

ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class ShiftWindow:
    """The on-call week's start and end labels (the end label includes its last minute)."""

    start: WeeklyTime
    end: WeeklyTime
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _days_to_end(self) -> int:
        days = (self.end.weekday - self.start.weekday) % 7
        if days == 0 and self.end.at <= self.start.at:
            days = 7
        return days

    def week_start_on_or_before(self, day: date) -> date:
        return day - timedelta(days=(day.weekday() - self.start.weekday) % 7)

    def bounds(self, week_start: date) -> tuple[datetime, datetime]:
        """UTC start and exclusive end of the week starting on `week_start` (wall-clock, so DST-safe)."""
        tz = self.tz
        start_local = datetime.combine(week_start, self.start.at)
        end_local = datetime.combine(week_start + timedelta(days=self._days_to_end()), self.end.at) + ONE_MINUTE
        return (start_local.replace(tzinfo=tz).astimezone(UTC), end_local.replace(tzinfo=tz).astimezone(UTC))

    def week_containing(self, at: datetime) -> date | None:
        """The week_start of the week whose window contains `at`, or None between weeks."""
        candidate = self.week_start_on_or_before(at.astimezone(self.tz).date())
        for week_start in (candidate, candidate - timedelta(days=7)):
            start, end = self.bounds(week_start)
            if start <= at < end:
                return week_start
        return None

    def weeks_between(self, start_at: datetime, end_at: datetime) -> list[date]:
        """Every week whose window overlaps [start_at, end_at)."""
        first = self.week_start_on_or_before(start_at.astimezone(self.tz).date()) - timedelta(days=7)
        weeks: list[date] = []
        week_start = first
        while True:
            start, end = self.bounds(week_start)
            if start >= end_at:
                return weeks
            if end > start_at:
                weeks.append(week_start)
            week_start += timedelta(days=7)


@dataclass(frozen=True)
class CalendarEvent:
    """One occurrence of a rotation calendar event (recurrences already expanded)."""

    event_id: str  # unique per occurrence
    summary: str
    start_at: datetime  # tz-aware; an all-day event starts at local midnight
    end_at: datetime
    all_day: bool = False
    attendee_emails: tuple[str, ...] = ()
    etag: str | None = None  # the calendar's version of it (Google), so a write-back cannot clobber an edit


@dataclass(frozen=True)
class Shift:
    """One on-call week owned by one person."""

    week_start: date
    person_id: str
    start_at: datetime  # UTC
    end_at: datetime  # UTC, exclusive
    event_id: str = ""


@dataclass(frozen=True)
class RotationProblem:
    """Something in the calendar the approvers should fix. `key` identifies it across syncs."""

    kind: str  # "missing_week" | "overlap" | "misaligned" | "unknown_person" | "coverage_gap"
    day: date
    message: str
    # What it is about, stable while it lasts: a gap's cause and the week it belongs to, never its start or
    # end, which move as the checked window clips them. Empty when the message itself is stable.
    topic: str = ""
    ends_at: datetime | None = None  # when it stops mattering: gone before then, it was fixed

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.topic}" if self.topic else f"{self.kind}:{self.day.isoformat()}:{self.message}"


def match_person(event: CalendarEvent, team: Team) -> Person | None:
    """Attendee email first; else exactly one team member's name or id appearing in the summary."""
    for email in event.attendee_emails:
        person = team.by_email(email)
        if person:
            return person
    found = {
        p.id: p
        for p in team.people
        for label in (p.name, p.id)
        if re.search(rf"(?<!\w){re.escape(label)}(?!\w)", event.summary, re.IGNORECASE)
    }
    return next(iter(found.values())) if len(found) == 1 else None


def weeks_named_by(event: CalendarEvent, window: ShiftWindow) -> list[date]:
    """The weeks an event covers for at least half their length."""
    named = []
    for week_start in window.weeks_between(event.start_at, event.end_at):
        start, end = window.bounds(week_start)
        overlap = min(end, event.end_at) - max(start, event.start_at)
        if overlap * 2 >= end - start:
            named.append(week_start)
    return named


def is_aligned(event: CalendarEvent, window: ShiftWindow, weeks: list[date]) -> bool:
    """True when the event starts and ends on week boundaries (all-day events: on the start weekday)."""
    if not weeks:
        return False
    tz = window.tz
    if event.all_day:
        first_day = event.start_at.astimezone(tz).date()
        last_day = event.end_at.astimezone(tz).date()
        return (first_day.weekday() == window.start.weekday and (last_day - first_day).days % 7 == 0
                and weeks[0] == first_day)
    start, _ = window.bounds(weeks[0])
    _, end = window.bounds(weeks[-1])
    # People write "06:59" for a week that ends at 07:00:00; accept both.
    return event.start_at == start and event.end_at in (end, end - ONE_MINUTE)


@dataclass(frozen=True)
class Rotation:
    shifts: tuple[Shift, ...]  # sorted by start
    problems: tuple[RotationProblem, ...]


def build_rotation(events: list[CalendarEvent], team: Team, window: ShiftWindow) -> Rotation:
    """Turn calendar events into one shift per week, reporting what does not fit."""
    tz = window.tz
    owners: dict[date, list[tuple[Person, CalendarEvent]]] = {}
    problems: list[RotationProblem] = []
    for event in sorted(events, key=lambda e: (e.start_at, e.event_id)):
        local_day = event.start_at.astimezone(tz).date()
        person = match_person(event, team)
        weeks = weeks_named_by(event, window)
        if person is None:
            problems.append(RotationProblem(
                "unknown_person", local_day,
                f'event "{event.summary}" on {local_day:%a %Y-%m-%d} names nobody on the team', ends_at=event.end_at))
            continue
        if not is_aligned(event, window, weeks):
            what = "covers no whole on-call week" if not weeks else "does not line up with the on-call week"
            problems.append(RotationProblem(
                "misaligned", local_day,
                f'event "{event.summary}" on {local_day:%a %Y-%m-%d} {what} ({window.start} to {window.end})',
                ends_at=event.end_at))
        for week_start in weeks:
            owners.setdefault(week_start, []).append((person, event))

    shifts = []
    for week_start, claims in sorted(owners.items()):
        person, event = claims[0]
        others = sorted({p.name for p, _ in claims if p.id != person.id})
        if others:
            problems.append(RotationProblem(
                "overlap", week_start,
                f"week of {week_start:%a %Y-%m-%d} is claimed by {person.name} and {', '.join(others)}",
                ends_at=window.bounds(week_start)[1]))
        start_at, end_at = window.bounds(week_start)
        shifts.append(Shift(week_start, person.id, start_at, end_at, event.event_id))
    return Rotation(tuple(shifts), tuple(problems))


@dataclass(frozen=True)
class RotationChange:
    """A week whose owner changed between two versions of the rotation."""

    week_start: date
    before: str | None  # person id, None when the week was not in the calendar
    after: str | None


def rotation_changes(old: list[Shift], new: list[Shift]) -> list[RotationChange]:
    before = {s.week_start: s.person_id for s in old}
    after = {s.week_start: s.person_id for s in new}
    return [RotationChange(week, before.get(week), after.get(week))
            for week in sorted(before.keys() | after.keys()) if before.get(week) != after.get(week)]


@dataclass(frozen=True)
class Neighbours:
    """The shift containing an instant (if any), the one before it and the one after it."""

    current: Shift | None
    previous: Shift | None
    next: Shift | None


def neighbours_at(at: datetime, shifts: list[Shift]) -> Neighbours:
    """`shifts` sorted by start. Works on any slice that holds the shifts around `at`."""
    starts = [s.start_at for s in shifts]
    index = bisect_right(starts, at)  # shifts[:index] start at or before `at`
    before = shifts[:index]
    current = before[-1] if before and before[-1].end_at > at else None
    previous = (before[-2] if len(before) > 1 else None) if current else (before[-1] if before else None)
    following = shifts[index] if index < len(shifts) else None
    return Neighbours(current, previous, following)
