"""Who handles a page arriving at an instant: the office, the on-call person, or nobody."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from .rotation import ONE_MINUTE, RotationProblem, Shift, ShiftWindow
from .timelabels import WEEKDAYS

HolidayLookup = Callable[[date], str | None]  # the holiday's name, or None on an ordinary day
Responsible = Literal["oncall", "office", "nobody"]
OfficeHolidayRule = Literal["previous", "next", "nobody"]
# Longer than any gap between two business days: a gap already under way is seen from its real start.
GAP_LOOKBACK = timedelta(days=8)


@dataclass(frozen=True)
class BusinessHours:
    """When the office handles pages. `end` is a minute label: 18:00 covers 18:00:00-18:00:59."""

    days: frozenset[int]
    start: time
    end: time

    def interval_on(self, day: date, window: ShiftWindow,
                    holiday_on: HolidayLookup) -> tuple[datetime, datetime] | None:
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


def cover_office_holidays(shifts: list[Shift], rule: OfficeHolidayRule, hours: BusinessHours, window: ShiftWindow,
                          holiday_on: HolidayLookup) -> list[Shift]:
    """The stored weeks as they apply. When the changeover day is an office holiday, the office is closed for
    the hours it would cover between the outgoing week's end and the incoming week's start (Monday 07:00-18:01):
    `nobody` leaves them uncovered (the procedure read literally), `previous` keeps the outgoing person until
    the incoming week starts, `next` starts the incoming person's week at the office's opening time."""
    if rule == "nobody":
        return list(shifts)
    week = timedelta(weeks=1)
    applied = []
    for shift in shifts:
        if rule == "previous":
            incoming_start = window.bounds(shift.week_start + week)[0]
            if _office_closed_for_holiday(shift.end_at, incoming_start, hours, window, holiday_on):
                shift = replace(shift, end_at=incoming_start)
        else:
            outgoing_end = window.bounds(shift.week_start - week)[1]
            office = _office_closed_for_holiday(outgoing_end, shift.start_at, hours, window, holiday_on)
            if office and office[0] < shift.start_at:
                shift = replace(shift, start_at=max(outgoing_end, office[0]))
        applied.append(shift)
    return applied


def _office_closed_for_holiday(changeover_start: datetime, changeover_end: datetime, hours: BusinessHours,
                               window: ShiftWindow, holiday_on: HolidayLookup) -> tuple[datetime, datetime] | None:
    """The office hours the holiday takes away from the changeover between two weeks, if any."""
    day = changeover_end.astimezone(window.tz).date()
    if changeover_start >= changeover_end or not holiday_on(day):
        return None
    usual = hours.interval_on(day, window, lambda _: None)
    return usual if usual and usual[0] < changeover_end and usual[1] > changeover_start else None


def coverage_gaps(start_at: datetime, end_at: datetime, shifts: list[Shift], hours: BusinessHours,
                  window: ShiftWindow, holiday_on: HolidayLookup) -> list[RotationProblem]:
    """Every interval in [start_at, end_at) where a page would reach nobody, with its cause.

    Each gap's topic (what it is about, see RotationProblem.key) comes from its real start, so it stays the
    same while `start_at` moves through it; pass the shifts from GAP_LOOKBACK before `start_at`."""
    tz = window.tz
    scan_from = start_at - GAP_LOOKBACK
    covered = [(s.start_at, s.end_at) for s in shifts if s.end_at > scan_from and s.start_at < end_at]
    day = scan_from.astimezone(tz).date() - timedelta(days=1)
    while day <= end_at.astimezone(tz).date():
        office = hours.interval_on(day, window, holiday_on)
        if office:
            covered.append(office)
        day += timedelta(days=1)
    covered.sort()

    gaps = []
    cursor = scan_from
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
        if finish <= begin or finish <= start_at:
            continue
        shown_from = max(begin, start_at)
        local_begin, local_end = shown_from.astimezone(tz), finish.astimezone(tz)
        span = f"{WEEKDAYS[local_begin.weekday()]} {local_begin:%Y-%m-%d %H:%M}-"
        span += f"{local_end:%H:%M}" if local_end.date() == local_begin.date() else (
            f"{WEEKDAYS[local_end.weekday()]} {local_end:%Y-%m-%d %H:%M}")
        cause = _gap_cause(begin, hours, window, holiday_on)
        problems.append(RotationProblem("coverage_gap", local_begin.date(), f"{span}, {cause}",
                                        topic=f"{_week_of_gap(begin, window).isoformat()}:{cause}", ends_at=finish))
    return problems


def _week_of_gap(begin: datetime, window: ShiftWindow) -> date:
    """The week a gap starting at `begin` belongs to: the one it is in, else the next one to start."""
    week = window.week_containing(begin)
    if week is None:
        week = window.week_start_on_or_before(begin.astimezone(window.tz).date())
        if window.bounds(week)[0] < begin:
            week += timedelta(weeks=1)
    return week
