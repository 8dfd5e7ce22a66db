"""The web view's and the calendar feeds' rules: who may see what, how long a sign-in link and a session last,
and the on-call weeks a feed lists.

- A sign-in link is DM'd in Slack (the identity the team already has), valid `SIGN_IN_WINDOW`, usable once.
- A session lasts the configured `web.session_expiry`; every state-changing request carries its CSRF token.
- Team members see everything but contact details; approvers also see contacts (masked) and act on swaps.
- A feed token is private to its person (their weeks) or, for an approver, the team's (every week).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from . import wording
from .rotation import Shift, ShiftWindow
from .team import Team

SIGN_IN_WINDOW = timedelta(minutes=10)


class WebRole(StrEnum):
    MEMBER = "member"  # the team: everything but contact details
    APPROVER = "approver"  # also contacts (masked) and the swap queue's decisions


class FeedScope(StrEnum):
    PERSON = "person"  # the person's own weeks
    TEAM = "team"  # every week, for approvers


def web_role(team: Team, person_id: str | None) -> WebRole | None:
    """None: not on the team (any more), so refused."""
    if team.person(person_id) is None:
        return None
    return WebRole.APPROVER if person_id in team.approver_ids else WebRole.MEMBER


def may_have_feed(team: Team, person_id: str, scope: FeedScope) -> bool:
    role = web_role(team, person_id)
    return role is WebRole.APPROVER if scope is FeedScope.TEAM else role is not None


@dataclass(frozen=True)
class SignIn:
    """A sign-in link as stored: only the hash of its token."""

    person_id: str
    created_at: datetime
    used_at: datetime | None


def sign_in_refusal(sign_in: SignIn | None, team: Team, now: datetime) -> str | None:
    """Why this link cannot sign anyone in now, or None when it can."""
    if sign_in is None:
        return wording.SIGN_IN_INVALID
    if sign_in.used_at is not None:
        return wording.SIGN_IN_USED
    if now >= sign_in.created_at + SIGN_IN_WINDOW:
        return wording.SIGN_IN_EXPIRED
    if web_role(team, sign_in.person_id) is None:
        return wording.NOT_ON_TEAM
    return None


@dataclass(frozen=True)
class WebSession:
    person_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class FeedWeek:
    """One on-call week as a calendar event: `uid` stays the same for the week, `sequence` counts its changes."""

    uid: str
    week_start: date
    person_id: str
    person_name: str
    start_at: datetime
    end_at: datetime
    sequence: int
    changed: bool  # a swap, handover or reassignment gave it to this person


def feed_weeks(shifts: list[Shift], team: Team, scope: FeedScope, person_id: str,
               changes_by_week: dict[date, int]) -> list[FeedWeek]:
    """The weeks a feed lists: the person's own (swaps included) or, for the team's feed, every week."""
    weeks = []
    for shift in shifts:
        if scope is FeedScope.PERSON and shift.person_id != person_id:
            continue
        owner = team.person(shift.person_id)
        suffix = "team" if scope is FeedScope.TEAM else person_id
        weeks.append(FeedWeek(f"oncall-week-{shift.week_start.isoformat()}-{suffix}@oncallbot", shift.week_start,
                              shift.person_id, owner.name if owner else shift.person_id, shift.start_at,
                              shift.end_at, changes_by_week.get(shift.week_start, 0), shift.overridden))
    return weeks


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_quarter_start(day: date) -> date:
    start = quarter_start(day)
    return date(start.year + (start.month == 10), (start.month + 2) % 12 + 1, 1)


def quarter_label(day: date) -> str:
    return f"Q{(day.month - 1) // 3 + 1} {day.year}"


def quarter_weeks(window: ShiftWindow, now: datetime, quarters: int = 2) -> list[date]:
    """The on-call weeks starting in this calendar quarter (team-local) and the next `quarters - 1`."""
    first = quarter_start(now.astimezone(window.tz).date())
    end = first
    for _ in range(quarters):
        end = next_quarter_start(end)
    week = window.week_start_on_or_before(first)
    if week < first:
        week += timedelta(days=7)
    weeks = []
    while week < end:
        weeks.append(week)
        week += timedelta(days=7)
    return weeks
