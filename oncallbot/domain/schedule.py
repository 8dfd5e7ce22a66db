"""When a once-per-occasion job is due: the weekly test page at the shift's start, the weekly report.

APScheduler only triggers; a replica that was down at the minute a job was due works out on start and at
every tick what is still owed (`occasion_due`), runs it within the grace, or tells the approvers it was missed.
Occasions are named by the local date of the weekly time, which for the test page is the shift window's week
start (DST-safe: the wall-clock label in the team's zone, whatever the offset that week).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from .reports import report_week_start
from .rotation import ShiftWindow
from .timelabels import WEEKDAYS, WeeklyTime, format_duration


@dataclass(frozen=True)
class WeeklySchedule:
    """A weekly wall-clock time in a zone, e.g. Monday 18:01 in America/Los_Angeles."""

    at: WeeklyTime
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def occurrence(self, day: date) -> datetime:
        """The UTC instant of the occurrence on `day` (a day of the schedule's weekday)."""
        return datetime.combine(day, self.at.at).replace(tzinfo=self.tz).astimezone(UTC)

    def latest(self, now: datetime) -> date:
        """The local date of the latest occurrence at or before `now`."""
        local = now.astimezone(self.tz).date()
        day = local - timedelta(days=(local.weekday() - self.at.weekday) % 7)
        return day if self.occurrence(day) <= now else day - timedelta(days=7)

    def next_after(self, now: datetime) -> datetime:
        """The first occurrence strictly after `now` (UTC)."""
        return self.occurrence(self.latest(now) + timedelta(days=7))

    def first_on_or_after(self, at: datetime) -> date:
        day = self.latest(at)
        return day if self.occurrence(day) >= at else day + timedelta(days=7)

    def rest_of_day(self, day: date) -> timedelta:
        """From the occurrence on `day` to the end of that local day: a grace of "within the day"."""
        midnight = datetime.combine(day + timedelta(days=1), time(0)).replace(tzinfo=self.tz).astimezone(UTC)
        return midnight - self.occurrence(day)

    def __str__(self) -> str:
        return f"every {WEEKDAYS[self.at.weekday]} at {self.at.at:%H:%M} ({self.timezone})"


class Due(StrEnum):
    RUN = "run"  # within the grace: run it now
    MISSED = "missed"  # past the grace: skip it and tell the approvers once


@dataclass(frozen=True)
class Occasion:
    day: date  # the local date of the occurrence: the occasion's name
    at: datetime  # UTC
    due: Due


def occasion_due(schedule: WeeklySchedule, last: date | None, now: datetime, grace: timedelta) -> Occasion | None:
    """The latest occasion at or before `now` that has not run (`last`: the latest occasion claimed), run now
    within `grace` of its time, or missed past it. None when it ran already, or when nothing ever ran (a new
    installation owes no run from before it existed, and is not told of one)."""
    day = schedule.latest(now)
    at = schedule.occurrence(day)
    if last is not None and day <= last:
        return None
    if now - at <= grace:
        return Occasion(day, at, Due.RUN)
    if last is None:
        return None
    return Occasion(day, at, Due.MISSED)


def week_start_schedule(window: ShiftWindow) -> WeeklySchedule:
    """The test page goes out when the on-call week starts; its occasion's day is the week's start."""
    return WeeklySchedule(window.start, window.timezone)


REPORT_TIME = WeeklyTime(0, time(9, 0))  # Monday 09:00, after the week's handover


def report_schedule(window: ShiftWindow) -> WeeklySchedule:
    return WeeklySchedule(REPORT_TIME, window.timezone)


def reported_week(window: ShiftWindow, schedule: WeeklySchedule, day: date) -> date:
    """The week the report of occasion `day` covers: the latest week that has ended by then."""
    return report_week_start(window, schedule.occurrence(day))


def report_occasion(window: ShiftWindow, schedule: WeeklySchedule, week: date) -> date:
    """The report occasion that covers `week` (the inverse of `reported_week`)."""
    return schedule.first_on_or_after(window.bounds(week)[1])


@dataclass(frozen=True)
class PeriodicJob:
    """A job of the scheduler as `oncallbot jobs` describes it: an interval, or a weekly schedule whose runs
    are claimed in job_runs under `claim`."""

    name: str
    description: str
    every: timedelta | None = None
    weekly: WeeklySchedule | None = None
    claim: str | None = None
    grace: timedelta | None = None  # None with a weekly schedule: within the day

    def schedule_text(self) -> str:
        if self.weekly is not None:
            return str(self.weekly)
        assert self.every is not None
        seconds = self.every.total_seconds()
        return f"every {seconds:g}s" if seconds < 60 else f"every {format_duration(self.every)}"
