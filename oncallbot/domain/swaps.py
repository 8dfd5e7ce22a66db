"""Swap rules: whole on-call weeks traded between colleagues, with notice and an approver's yes.

Pure rules only: what a valid request is at an instant, who may take each step, what the rotation looks
like once a request is applied. The flow (storing, telling people, transactions) is the service's.

The rotation here is a plain mapping, week start -> person id (None: nobody), of the effective rotation
(the calendar's weeks with the changes already applied laid over them).

Kinds:
- swap: the requester takes the counterpart's week, the counterpart takes the requester's.
- handover: the counterpart takes the requester's week; the requester takes nothing back.
- reassignment: an approver gives a week to someone, without notice or consent, for a stated reason.
"""

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from .rotation import RotationChange, ShiftWindow
from .team import Team
from .timelabels import WEEKDAYS

APPROVER_REMINDER = timedelta(hours=48)
_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NOTICE = re.compile(r"(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?")


class SwapKind(StrEnum):
    SWAP = "swap"
    HANDOVER = "handover"
    REASSIGNMENT = "reassignment"


class SwapState(StrEnum):
    REQUESTED = "requested"  # waiting for the counterpart
    ACCEPTED = "accepted"  # waiting for an approver
    APPROVED = "approved"  # waiting to be applied (in the same transaction, normally)
    APPLIED = "applied"
    DECLINED = "declined"  # by the counterpart
    REJECTED = "rejected"  # by an approver
    CANCELLED = "cancelled"  # by the requester
    EXPIRED = "expired"  # undecided when its earliest week started
    REFUSED_ON_APPLY = "refused_on_apply"  # the rotation changed under it


# Until applied a request holds its weeks: no second request may name them.
PENDING_STATES = frozenset({SwapState.REQUESTED, SwapState.ACCEPTED, SwapState.APPROVED})


class SwapRefused(Exception):
    """A request, step or week name the rules refuse; `str()` is the plain-words reason for the person."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule  # stable name of the rule, for logs, JSON and tests


@dataclass(frozen=True)
class SwapRequest:
    id: str
    kind: SwapKind
    requester_id: str  # who asked; for a reassignment, the approver who made it
    counterpart_id: str  # who takes the requester's week (for a reassignment: the week's new owner)
    requester_week: date  # for a reassignment: the week reassigned
    counterpart_week: date | None  # swaps only
    requested_at: datetime
    note: str = ""
    state: SwapState = SwapState.REQUESTED
    decided_by: str | None = None  # who made the latest transition
    decided_at: datetime | None = None
    reason: str = ""  # of a decline/rejection, what changed for refused_on_apply, why for a reassignment
    previous_owner_id: str | None = None  # reassignments only: who had the week (None: nobody)

    @property
    def weeks(self) -> tuple[date, ...]:
        return weeks_of(self)

    @property
    def expected_owners(self) -> dict[date, str | None]:
        """Who must still own each week for the request to apply."""
        if self.kind is SwapKind.REASSIGNMENT:
            return {self.requester_week: self.previous_owner_id}
        owners: dict[date, str | None] = {self.requester_week: self.requester_id}
        if self.counterpart_week is not None:
            owners[self.counterpart_week] = self.counterpart_id
        return owners


@dataclass(frozen=True)
class Permission:
    """The answer to "may this person take this step now?"; `message` says why not (empty when allowed)."""

    allowed: bool
    message: str = ""


@dataclass(frozen=True)
class Notice:
    """How long before its earliest week a request must be made.

    Whole days are calendar days in the team's zone (5 days before Monday 18:01 is Wednesday 18:01, 119 or
    121 hours across a DST change); `hours` is absolute time taken off after that.
    """

    days: int = 5
    hours: timedelta = field(default=timedelta(0))

    @classmethod
    def parse(cls, text: str) -> "Notice":
        """'5d', '36h', '5d 12h', '1w', '90m'. Weeks and days count on the calendar, hours and minutes don't."""
        match = _NOTICE.fullmatch(text.strip())
        if not text.strip() or match is None:
            raise ValueError(f'"{text}" is not a notice (use e.g. 5d, 36h, 5d 12h)')
        weeks, days, hours, minutes = (int(g) if g else 0 for g in match.groups())
        return cls(weeks * 7 + days, timedelta(hours=hours, minutes=minutes))

    @classmethod
    def of(cls, value: timedelta) -> "Notice":
        # A timedelta cannot tell "36h" from "1d 12h": whole days are calendar days, anything else absolute.
        if value < timedelta(0):
            raise ValueError("a notice cannot be negative")
        if value % _ONE_DAY == timedelta(0):
            return cls(value.days, timedelta(0))
        return cls(0, value)

    def __str__(self) -> str:
        parts = [f"{self.days}d"] if self.days else []
        hours, rest = divmod(int(self.hours.total_seconds()), 3600)
        parts += [f"{hours}h"] if hours else []
        parts += [f"{rest // 60}m"] if rest // 60 else []
        return " ".join(parts) or "0d"


# --- formatting: the words people read -----------------------------------------------------------------


def week_label(week: date) -> str:
    """'Mon 2027-01-04' (English weekday whatever the locale)."""
    return f"{WEEKDAYS[week.weekday()]} {week.isoformat()}"


def local_label(at: datetime, timezone: str) -> str:
    """'Wed 2027-03-10 18:01 PST', in the team's zone."""
    local = at.astimezone(ZoneInfo(timezone))
    return f"{WEEKDAYS[local.weekday()]} {local:%Y-%m-%d %H:%M} {local.tzname()}"


def _name(team: Team, person_id: str | None) -> str:
    person = team.person(person_id)
    return person.name if person else str(person_id)


def _names(team: Team, person_ids: Iterable[str]) -> str:
    return ", ".join(_name(team, p) for p in person_ids)


def _approvers_except(team: Team, *excluded: str | None) -> list[str]:
    return [p.id for p in team.approvers if p.id not in excluded]


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


# --- weeks -----------------------------------------------------------------------------------------------


def check_week_start(day: date, window: ShiftWindow) -> None:
    """Refuse a date that is not the first day of an on-call week, naming the nearest one."""
    if day.weekday() == window.start.weekday:
        return
    before = window.week_start_on_or_before(day)
    after = before + timedelta(days=7)
    nearest = before if day - before < after - day else after
    raise SwapRefused(
        f"{week_label(day)} is not the start of an on-call week (weeks start {window.start}); "
        f"the nearest week starts {week_label(nearest)}", "not_a_week_start")


def parse_week(text: str, requester_id: str, rotation: Mapping[date, str | None], window: ShiftWindow,
               now: datetime, *, name: str | None = None) -> date:
    """A week named by its start date ('2027-01-04') or 'next': `requester_id`'s next week not yet started.

    For the counterpart's week pass their id, and their name as `name` so a refusal speaks of them.
    """
    _require_aware(now)
    words = text.strip()
    if words.lower() == "next":
        upcoming = sorted(w for w, owner in rotation.items() if owner == requester_id and window.bounds(w)[0] > now)
        if not upcoming:
            who = f"{name} has" if name else "You have"
            raise SwapRefused(f"{who} no upcoming on-call week in the rotation", "no_next_week")
        return upcoming[0]
    if not _ISO_DATE.fullmatch(words):
        example = window.week_start_on_or_before(now.astimezone(window.tz).date()) + timedelta(days=7)
        raise SwapRefused(
            f'"{words}" is not a week: name it by the date its shift starts (e.g. {example.isoformat()}) or say next',
            "not_a_week")
    try:
        day = date.fromisoformat(words)
    except ValueError:
        raise SwapRefused(f"{words} is not a date", "not_a_week") from None
    check_week_start(day, window)
    return day


# --- notice ----------------------------------------------------------------------------------------------


def notice_deadline(week_start: date, window: ShiftWindow, notice: Notice | timedelta) -> datetime:
    """The last instant (UTC, inclusive) a request touching the week may be made."""
    n = notice if isinstance(notice, Notice) else Notice.of(notice)
    # Calendar days first, on the wall clock, so "5 days before 18:01" is 18:01 whatever DST did meanwhile.
    local = datetime.combine(week_start - timedelta(days=n.days), window.start.at).replace(tzinfo=window.tz)
    return local.astimezone(UTC) - n.hours


def _ask_approvers(team: Team, requester_id: str, what: str) -> str:
    others = _approvers_except(team, requester_id)
    if not others:
        return f"there is no approver who could {what} (swaps.approvers)"
    return f"ask an approver ({_names(team, others)}) to {what}"


def check_notice(weeks: Iterable[date], requester_id: str, team: Team, window: ShiftWindow,
                 notice: Notice | timedelta, now: datetime) -> None:
    _require_aware(now)
    earliest = min(weeks)
    deadline = notice_deadline(earliest, window, notice)
    if now > deadline:  # exactly at the deadline is still in time
        by = local_label(deadline, window.timezone)
        raise SwapRefused(f"Requests for the week of {week_label(earliest)} had to be made by {by}; "
                          f"{_ask_approvers(team, requester_id, 'reassign the week')}", "notice")


# --- validating a request --------------------------------------------------------------------------------


def _check_not_started(week: date, requester_id: str, team: Team, window: ShiftWindow, now: datetime) -> None:
    start, end = window.bounds(week)
    if end <= now:
        raise SwapRefused(f"The week of {week_label(week)} is already over", "past_week")
    if start <= now:
        raise SwapRefused(f"The week of {week_label(week)} has already started; "
                          f"{_ask_approvers(team, requester_id, 'reassign it')}", "running_week")


def _check_owner(week: date, owner_id: str, requester_id: str, rotation: Mapping[date, str | None],
                 team: Team) -> None:
    actual = rotation.get(week)
    if actual is None:
        raise SwapRefused(f"Nobody is assigned to the week of {week_label(week)}", "nobody_assigned")
    if actual != owner_id:
        whose = "yours" if actual == requester_id else f"{_name(team, actual)}'s"
        expected = "yours" if owner_id == requester_id else f"{_name(team, owner_id)}'s"
        raise SwapRefused(f"The week of {week_label(week)} is {whose}, not {expected}", "not_their_week")


def _check_colleague(counterpart_id: str, requester_id: str, team: Team) -> None:
    if team.person(requester_id) is None:
        raise SwapRefused(f"You are not on the {team.name} team", "requester_not_on_team")
    counterpart = team.person(counterpart_id)
    if counterpart is None:
        raise SwapRefused(f'"{counterpart_id}" is not on the {team.name} team', "counterpart_not_on_team")
    if counterpart_id == requester_id:
        raise SwapRefused("You cannot swap with yourself; name a colleague", "same_person")
    if "oncall" not in counterpart.roles:
        raise SwapRefused(f"{counterpart.name} does not take on-call weeks (no oncall role)", "counterpart_not_oncall")


def validate_request(kind: SwapKind, requester_id: str, counterpart_id: str, requester_week: date,
                     counterpart_week: date | None, rotation: Mapping[date, str | None], pending: Collection[date],
                     team: Team, window: ShiftWindow, notice: Notice | timedelta, now: datetime) -> tuple[date, ...]:
    """The weeks a swap or handover touches (earliest first), or SwapRefused with the first rule it breaks.

    `pending`: the weeks already held by pending requests (`pending_weeks`).
    """
    _require_aware(now)
    if kind is SwapKind.REASSIGNMENT:
        raise SwapRefused("A reassignment is made by an approver (reassign), not requested", "wrong_kind")
    _check_colleague(counterpart_id, requester_id, team)
    counterpart = _name(team, counterpart_id)
    if kind is SwapKind.SWAP and counterpart_week is None:
        raise SwapRefused(f"A swap needs one of {counterpart}'s weeks too; name it, or ask for a handover",
                          "missing_week")
    if kind is SwapKind.HANDOVER and counterpart_week is not None:
        raise SwapRefused("A handover gives your week away without taking one back; "
                          "leave out the second week, or ask for a swap", "extra_week")
    weeks = tuple(sorted({requester_week} | ({counterpart_week} if counterpart_week else set())))
    for week in (requester_week, counterpart_week):
        if week is not None:
            check_week_start(week, window)
    if counterpart_week == requester_week:
        raise SwapRefused(f"You named the week of {week_label(requester_week)} twice; "
                          "a swap exchanges two different weeks", "same_week")
    for week in weeks:
        _check_not_started(week, requester_id, team, window, now)
    _check_owner(requester_week, requester_id, requester_id, rotation, team)
    if counterpart_week is not None:
        _check_owner(counterpart_week, counterpart_id, requester_id, rotation, team)
    for week in weeks:
        if week in pending:
            raise SwapRefused(f"The week of {week_label(week)} is already part of a pending request; "
                              "it has to be decided or cancelled first", "pending")
    # Last: the other rules say "no" for good; this one says "too late, but an approver can still do it".
    check_notice(weeks, requester_id, team, window, notice, now)
    return weeks


def validate_reassignment(approver_id: str, week: date, to_id: str, reason: str,
                          rotation: Mapping[date, str | None], team: Team, window: ShiftWindow,
                          now: datetime) -> tuple[date, ...]:
    """An approver gives a week to someone: no notice, no consent, a reason. Running weeks too (illness)."""
    _require_aware(now)
    approvers = [p.id for p in team.approvers]
    if approver_id not in approvers:
        who = f" ({_names(team, approvers)})" if approvers else ""
        raise SwapRefused(f"Only an approver{who} can reassign a week", "not_an_approver")
    if not reason.strip():
        raise SwapRefused("Say why the week is reassigned: a reason is required", "reason_required")
    to = team.person(to_id)
    if to is None:
        raise SwapRefused(f'"{to_id}" is not on the {team.name} team', "counterpart_not_on_team")
    if "oncall" not in to.roles:
        raise SwapRefused(f"{to.name} does not take on-call weeks (no oncall role)", "counterpart_not_oncall")
    check_week_start(week, window)
    if window.bounds(week)[1] <= now:
        raise SwapRefused(f"The week of {week_label(week)} is already over", "past_week")
    owner = rotation.get(week)
    if owner == to_id:
        raise SwapRefused(f"The week of {week_label(week)} is already {to.name}'s", "already_theirs")
    # Same rule as approving a swap: nobody signs off their own change.
    if approver_id in (owner, to_id):
        others = _approvers_except(team, approver_id)
        if not others:
            raise SwapRefused("You are part of this reassignment and there is no other approver to make it; "
                              "add one to swaps.approvers", "own_change")
        raise SwapRefused(f"You are part of this reassignment, so another approver must make it "
                          f"({_names(team, others)})", "own_change")
    return (week,)


# --- who may do what -------------------------------------------------------------------------------------


def describe_state(request: SwapRequest, team: Team) -> str:
    """Where a request stands, for a button pressed after the fact: 'Already approved by Dana Lee on …'."""
    by = f" by {_name(team, request.decided_by)}" if request.decided_by else ""
    on = f" on {local_label(request.decided_at, team.timezone)}" if request.decided_at else ""
    why = f": {request.reason}" if request.reason else ""
    match request.state:
        case SwapState.REQUESTED:
            return f"Waiting for {_name(team, request.counterpart_id)} to accept"
        case SwapState.ACCEPTED:
            return f"Already accepted{by}{on}; waiting for an approver"
        case SwapState.APPROVED:
            return f"Already approved{by}{on}"
        case SwapState.APPLIED if request.kind is SwapKind.REASSIGNMENT:
            return f"Reassigned{by}{on}{why}"
        case SwapState.APPLIED:
            return f"Already applied{on}"
        case SwapState.DECLINED:
            return f"Already declined{by}{on}{why}"
        case SwapState.REJECTED:
            return f"Already rejected{by}{on}{why}"
        case SwapState.CANCELLED:
            return f"Already cancelled{by}{on}"
        case SwapState.EXPIRED:
            return (f"Expired{on}: it was not decided before the week of "
                    f"{week_label(min(request.weeks))} started")
        case SwapState.REFUSED_ON_APPLY:
            return f"Could not be applied{on}{why}"
    raise AssertionError(request.state)  # pragma: no cover - every state is handled above


def _the(request: SwapRequest) -> str:
    return f"this {request.kind.value}"


def _counterpart_step(request: SwapRequest, person_id: str, team: Team, verb: str) -> Permission:
    if request.state is not SwapState.REQUESTED:
        return Permission(False, describe_state(request, team))
    if person_id != request.counterpart_id:
        return Permission(False, f"Only {_name(team, request.counterpart_id)} can {verb} {_the(request)}")
    return Permission(True)


def can_accept(request: SwapRequest, person_id: str, team: Team) -> Permission:
    """Only the named counterpart, while the request waits for them."""
    return _counterpart_step(request, person_id, team, "accept")


def can_decline(request: SwapRequest, person_id: str, team: Team) -> Permission:
    return _counterpart_step(request, person_id, team, "decline")


def _approver_role(request: SwapRequest, approver_id: str, team: Team, verb: str) -> Permission:
    approvers = [p.id for p in team.approvers]
    if approver_id not in approvers:
        who = f" ({_names(team, approvers)})" if approvers else ""
        return Permission(False, f"Only an approver{who} can {verb} {_the(request)}")
    return Permission(True)


def can_approve(request: SwapRequest, approver_id: str, team: Team) -> Permission:
    """Only `swaps.approvers`, once the counterpart accepted, and never one who is part of the swap."""
    if request.state not in (SwapState.REQUESTED, SwapState.ACCEPTED):
        return Permission(False, describe_state(request, team))
    role = _approver_role(request, approver_id, team, "approve")
    if not role.allowed:
        return role
    if approver_id in (request.requester_id, request.counterpart_id):
        others = _approvers_except(team, request.requester_id, request.counterpart_id)
        if not others:
            return Permission(False, f"You are part of {_the(request)} and there is no other approver to approve it; "
                                     "add one to swaps.approvers")
        return Permission(False, f"You are part of {_the(request)}, so another approver must approve it "
                                 f"({_names(team, others)})")
    if request.state is SwapState.REQUESTED:
        return Permission(False, f"{_name(team, request.counterpart_id)} has not accepted yet; "
                                 "it comes to the approvers once they do")
    return Permission(True)


def can_reject(request: SwapRequest, approver_id: str, team: Team) -> Permission:
    """Any approver, before or after the counterpart's yes: saying no grants nobody anything."""
    if request.state not in (SwapState.REQUESTED, SwapState.ACCEPTED):
        return Permission(False, describe_state(request, team))
    return _approver_role(request, approver_id, team, "reject")


def can_cancel(request: SwapRequest, person_id: str, team: Team) -> Permission:
    """Only the requester, until the request is applied."""
    if request.state not in PENDING_STATES:
        return Permission(False, describe_state(request, team))
    if person_id != request.requester_id:
        return Permission(False, f"Only {_name(team, request.requester_id)}, who asked, can cancel {_the(request)}")
    return Permission(True)


# --- applying --------------------------------------------------------------------------------------------


def weeks_of(request: SwapRequest) -> tuple[date, ...]:
    """The weeks a request touches, earliest first."""
    weeks = {request.requester_week}
    if request.counterpart_week is not None:
        weeks.add(request.counterpart_week)
    return tuple(sorted(weeks))


def pending_weeks(requests: Iterable[SwapRequest]) -> frozenset[date]:
    """The weeks held by pending requests: what `validate_request` takes as `pending`."""
    return frozenset(w for r in requests if r.state in PENDING_STATES for w in weeks_of(r))


def clashes(request: SwapRequest, others: Iterable[SwapRequest]) -> tuple[SwapRequest, ...]:
    """Other pending requests sharing a week with `request`: once it is applied they cannot be."""
    mine = set(weeks_of(request))
    return tuple(o for o in others
                 if o.id != request.id and o.state in PENDING_STATES and mine.intersection(weeks_of(o)))


def still_applicable(request: SwapRequest, rotation: Mapping[date, str | None], team: Team) -> str | None:
    """The re-check at apply time: None when every week is still owned as requested, else what changed.

    Of two requests sharing a week, or a request racing a reassignment, the first applied wins: it changes
    the rotation, and this check then refuses the other.
    """
    changed = []
    for week, expected in sorted(request.expected_owners.items()):
        actual = rotation.get(week)
        if actual == expected:
            continue
        was = f"{_name(team, expected)}'s" if expected else "nobody's"
        is_ = f"{_name(team, actual)}'s" if actual else "nobody's"
        changed.append(f"the week of {week_label(week)} is now {is_}, not {was}")
    if not changed:
        return None
    text = "; ".join(changed)
    return text[0].upper() + text[1:]


def swapped_rotation(rotation: Mapping[date, str | None], request: SwapRequest,
                     team: Team) -> list[RotationChange]:
    """The weeks that change owner when the request is applied, earliest first.

    Refuses (SwapRefused, rule "changed") when the rotation moved since the request: never a half swap.
    """
    changed = still_applicable(request, rotation, team)
    if changed is not None:
        raise SwapRefused(changed, "changed")
    if request.kind is SwapKind.REASSIGNMENT:
        return [RotationChange(request.requester_week, request.previous_owner_id, request.counterpart_id)]
    changes = [RotationChange(request.requester_week, request.requester_id, request.counterpart_id)]
    if request.counterpart_week is not None:
        changes.append(RotationChange(request.counterpart_week, request.counterpart_id, request.requester_id))
    return sorted(changes, key=lambda c: c.week_start)


def rotation_after(rotation: Mapping[date, str | None], changes: Iterable[RotationChange]) -> dict[date, str | None]:
    """The rotation with the changes laid over it (e.g. to count each person's weeks after a swap)."""
    after = dict(rotation)
    after.update({c.week_start: c.after for c in changes})
    return after


# --- expiry ----------------------------------------------------------------------------------------------


def expires_at(request: SwapRequest, window: ShiftWindow) -> datetime:
    """A request not decided by the start of its earliest week is void: the week is then under way."""
    return window.bounds(min(weeks_of(request)))[0]


def is_expired(request: SwapRequest, window: ShiftWindow, now: datetime) -> bool:
    return request.state in PENDING_STATES and now >= expires_at(request, window)


def approver_reminder_at(request: SwapRequest, window: ShiftWindow) -> datetime | None:
    """One reminder to the approvers 48 h before expiry; None when that is not after the request was made
    (a short notice: the approvers were only just asked)."""
    at = expires_at(request, window) - APPROVER_REMINDER
    return at if at > request.requested_at else None
