"""The words and buttons of the swap flow: pure functions of a request, the team and the rotation.

The rules (who may do what, what is valid) are in `swaps`; this module says how a request reads in a
message and which buttons a recipient gets while it stands where it stands.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .audit import AuditEntry, AuditSubject
from .messages import SwapButton, SwapCard
from .swaps import (
    PENDING_STATES,
    SwapKind,
    SwapRequest,
    SwapState,
    can_accept,
    can_approve,
    can_cancel,
    describe_state,
    local_label,
    week_label,
)
from .team import Team

ACCEPT, DECLINE, APPROVE, REJECT, CANCEL = "swap_accept", "swap_decline", "swap_approve", "swap_reject", "swap_cancel"
SWAP_ACTIONS = (ACCEPT, DECLINE, APPROVE, REJECT, CANCEL)


def name_of(team: Team, person_id: str | None) -> str:
    if person_id is None:
        return "nobody"
    person = team.person(person_id)
    return person.name if person else person_id


def summary(request: SwapRequest, team: Team) -> str:
    """One line: who gives which week to whom."""
    requester, counterpart = name_of(team, request.requester_id), name_of(team, request.counterpart_id)
    week = week_label(request.requester_week)
    if request.kind is SwapKind.SWAP and request.counterpart_week is not None:
        return (f"swap: {requester} takes {counterpart}'s week of {week_label(request.counterpart_week)}, "
                f"{counterpart} takes {requester}'s week of {week}")
    if request.kind is SwapKind.HANDOVER:
        return f"handover: {counterpart} takes {requester}'s week of {week}"
    return (f"reassignment by {requester}: the week of {week} goes to {counterpart} "
            f"(was {name_of(team, request.previous_owner_id)})")


def status_line(request: SwapRequest, team: Team) -> str:
    """Where the request stands, for everyone's copy of the message."""
    if request.state is SwapState.APPLIED and request.kind is not SwapKind.REASSIGNMENT:
        on = f" on {local_label(request.decided_at, team.timezone)}" if request.decided_at else ""
        return f"Approved by {name_of(team, request.decided_by)} and applied{on}"
    text = describe_state(request, team)
    text = text.removeprefix("Already ")
    return text[:1].upper() + text[1:]


def buttons_for(request: SwapRequest, person_id: str, team: Team) -> tuple[SwapButton, ...]:
    """The buttons `person_id` may press now; none once the request is decided."""
    if request.state not in PENDING_STATES or request.kind is SwapKind.REASSIGNMENT:
        return ()
    buttons: list[SwapButton] = []
    if can_accept(request, person_id, team).allowed:
        buttons += [SwapButton(ACCEPT, "Accept", "primary"), SwapButton(DECLINE, "Decline", "danger")]
    if can_approve(request, person_id, team).allowed:
        buttons += [SwapButton(APPROVE, "Approve", "primary"), SwapButton(REJECT, "Reject", "danger")]
    if can_cancel(request, person_id, team).allowed:
        buttons.append(SwapButton(CANCEL, "Cancel request"))
    return tuple(buttons)


def swap_card(request: SwapRequest, person_id: str, team: Team) -> SwapCard:
    return SwapCard(request.id, status_line(request, team), buttons_for(request, person_id, team))


# --- what the approvers are shown ----------------------------------------------------------------------


def quarter_of(day: date) -> tuple[date, date, str]:
    """The calendar quarter holding `day`: first day, first day after, label ('2027-Q1')."""
    index = (day.month - 1) // 3
    first = date(day.year, index * 3 + 1, 1)
    after = date(day.year + (index == 3), (index * 3 + 3) % 12 + 1, 1)
    return first, after, f"{day.year}-Q{index + 1}"


def weeks_in_quarter(rotation: Mapping[date, str | None], person_id: str, day: date) -> int:
    first, after, _ = quarter_of(day)
    return sum(1 for week, owner in rotation.items() if owner == person_id and first <= week < after)


def holiday_names(week: date, holiday_on: Callable[[date], str | None]) -> list[str]:
    days = (week + timedelta(days=i) for i in range(7))  # the days the week starts on
    return [f"{name} ({day:%a %Y-%m-%d})" for day in days if (name := holiday_on(day))]


def approver_text(request: SwapRequest, team: Team, before: Mapping[date, str | None],
                  after: Mapping[date, str | None], holiday_on: Callable[[date], str | None]) -> str:
    """The approver's DM: both weeks, both people, each one's weeks this quarter after it, holidays."""
    lines = [f"{name_of(team, request.counterpart_id)} accepted a {summary(request, team)}."]
    label = quarter_of(min(request.weeks))[2]
    for person_id in (request.requester_id, request.counterpart_id):
        now_n = weeks_in_quarter(before, person_id, min(request.weeks))
        then_n = weeks_in_quarter(after, person_id, min(request.weeks))
        lines.append(f"• {name_of(team, person_id)}: {then_n} week(s) in {label} after it (now {now_n})")
    for week in request.weeks:
        holidays = holiday_names(week, holiday_on)
        lines.append(f"• the week of {week_label(week)}: "
                     + (f"holiday week: {', '.join(holidays)}" if holidays else "no holiday"))
    if request.note:
        lines.append(f"Note: {request.note}")
    return "\n".join(lines)


# --- the audit trail -----------------------------------------------------------------------------------


def swap_entry(request: SwapRequest, at: datetime, actor: str | None, surface: str | None) -> AuditEntry:
    """An entry of a request's history: the state it moved to, who moved it, through which surface, why."""
    detail = {"kind": request.kind.value, "requester": request.requester_id, "counterpart": request.counterpart_id,
              "weeks": [w.isoformat() for w in request.weeks], "reason": request.reason, "note": request.note}
    return AuditEntry(AuditSubject.SWAP, request.id, at, request.state.value, actor=actor, channel=surface,
                      detail=json.dumps(detail, sort_keys=True))


@dataclass(frozen=True)
class HistoryLine:
    """One line of `rotation history`: a week's change of person, or a swap request's transition."""

    at: datetime
    subject: str  # rotation | swap
    subject_id: str  # the week's start (rotation), the request's id (swap)
    kind: str
    actor: str | None
    surface: str | None
    detail: dict[str, object]


def history_lines(entries: Iterable[AuditEntry]) -> list[HistoryLine]:
    return [HistoryLine(e.at, str(e.subject), e.subject_id, e.kind, e.actor, e.channel,
                        json.loads(e.detail) if e.detail else {}) for e in entries]

