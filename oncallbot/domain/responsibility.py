"""Who handles a page arriving at an instant: the office, the on-call person, or nobody."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from .rotation import ONE_MINUTE, RotationProblem, Shift, ShiftWindow
from .timelabels import WEEKDAYS

HolidayLookup = Callable[[date], str | None]  # the holiday's name, or None on an ordinary day
Responsible = Literal["oncall", "office", "nobody"]


@dataclass(frozen=True)
class BusinessHours:
    """When the office handles pages. `end` is a minute label: 18:00 covers 18:00:00-18:00:59."""

    days: frozenset[int]
    start: time
    end: time

    def interval_on(self, day: date, window: ShiftWindow, holiday_on: HolidayLookup) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days or holiday_on(day):
            return None
        tz = window.tz
        start = datetime.combine(day, self.start).replace(tzinfo=tz)
        end = (datetime.combine(day, self.end) + ONE_MINUTE).replace(tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class Responsibility:
    responsible: Responsible
    shift: Shift | None  # the on-call week containing the instant, whoever handles it
    cause: str | None  # why nobody is responsible


def responsible_at(at: datetime, shift: Shift | None, hours: BusinessHours, window: ShiftWindow,
                   holiday_on: HolidayLookup) -> Responsibility:
    """The one rule every page router uses. `shift` is the stored shift containing `at`, if any."""
    local_day = at.astimezone(window.tz).date()
    office = hours.interval_on(local_day, window, holiday_on)
    if office and office[0] <= at < office[1]:
        return Responsibility("office", shift, None)
    if shift is not None:
        return Responsibility("oncall", shift, None)
    return Responsibility("nobody", None, _gap_cause(at, hours, window, holiday_on))


def _gap_cause(at: datetime, hours: BusinessHours, window: ShiftWindow, holiday_on: HolidayLookup) -> str:
    local = at.astimezone(window.tz)
    holiday = holiday_on(local.date())
    week_start = window.week_containing(at)
    if week_start is not None:
        return f"week of {week_start:%a %Y-%m-%d} missing from the calendar: nobody on call"
    if holiday and local.weekday() in hours.days:
        return f"{holiday}: office closed and nobody on call"
    return "outside business hours and outside the on-call week: nobody on call"


def coverage_gaps(start_at: datetime, end_at: datetime, shifts: list[Shift], hours: BusinessHours,
                  window: ShiftWindow, holiday_on: HolidayLookup) -> list[RotationProblem]:
    """Every interval in [start_at, end_at) where a page would reach nobody, with its cause."""
    tz = window.tz
    covered = [(s.start_at, s.end_at) for s in shifts if s.end_at > start_at and s.start_at < end_at]
    day = start_at.astimezone(tz).date() - timedelta(days=1)
    while day <= end_at.astimezone(tz).date():
        office = hours.interval_on(day, window, holiday_on)
        if office:
            covered.append(office)
        day += timedelta(days=1)
    covered.sort()

    gaps = []
    cursor = start_at
    for begin, finish in covered:
        if begin > cursor:
            gaps.append((cursor, min(begin, end_at)))
        cursor = max(cursor, finish)
        if cursor >= end_at:
            break
    if cursor < end_at:
        gaps.append((cursor, end_at))

    problems = []
    for begin, finish in gaps:
        if finish <= begin:
            continue
        local_begin, local_end = begin.astimezone(tz), finish.astimezone(tz)
        span = f"{WEEKDAYS[local_begin.weekday()]} {local_begin:%Y-%m-%d %H:%M}-"
        span += f"{local_end:%H:%M}" if local_end.date() == local_begin.date() else (
            f"{WEEKDAYS[local_end.weekday()]} {local_end:%Y-%m-%d %H:%M}")
        cause = _gap_cause(begin, hours, window, holiday_on)
        problems.append(RotationProblem("coverage_gap", local_begin.date(), f"{span}, {cause}"))
    return problems
