"""The swap flow: request, accept, decline, approve, reject, cancel, reassign, expire.

Each verb is one transaction that re-reads (and locks) what it decides on, asks the domain's rules
(`domain.swaps`), records the transition in the audit trail (who, when, what, why, which surface) and queues
every message it causes in the outbox: a DM to each person concerned (with the buttons they may press now)
and a redraw (`swap_update`) of every DM already sent about the request, so no button goes stale.

A refusal raises `SwapRefused` (its message is for the person) and changes nothing; a request that can no
longer apply when approved (the rotation changed under it) is recorded as refused, everyone is told what
changed, and the rotation stays as it is.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from ..domain import keys
from ..domain.procedure import Procedure
from ..domain.rotation import OverrideKind, RotationChange, RotationOverride
from ..domain.swap_flow import (
    approver_text,
    name_of,
    status_line,
    summary,
    swap_entry,
)
from ..domain.swaps import (
    PENDING_STATES,
    Notice,
    Permission,
    SwapKind,
    SwapRefused,
    SwapRequest,
    SwapState,
    approver_reminder_at,
    can_accept,
    can_approve,
    can_cancel,
    can_decline,
    can_reject,
    expires_at,
    is_expired,
    parse_week,
    rotation_after,
    still_applicable,
    swapped_rotation,
    validate_reassignment,
    validate_request,
    week_label,
)
from ..domain.team import Team
from ..domain.vocabulary import Channel, MessageKind
from ..ports import Store, StoreTx
from .delivery import notify_approvers
from .overrides import apply_override_in

# The reads, re-exported so callers find the whole workflow in services.swaps.
from .swap_reads import HISTORY_LIMIT as HISTORY_LIMIT
from .swap_reads import get_request as get_request
from .swap_reads import history as history
from .swap_reads import list_requests as list_requests
from .swap_reads import pending_of as pending_of
from .swap_reads import rotation_in_effect
from .swap_reads import waiting_on as waiting_on
from .swap_reads import weeks_of_person as weeks_of_person

_OVERRIDE_KIND = {SwapKind.SWAP: OverrideKind.SWAP, SwapKind.HANDOVER: OverrideKind.HANDOVER,
                  SwapKind.REASSIGNMENT: OverrideKind.REASSIGNMENT}


@dataclass(frozen=True)
class SwapOutcome:
    request: SwapRequest  # as it stands after the step
    message: str  # what the person who took the step is told


# --- reading ---------------------------------------------------------------------------------------------


def _notice(procedure: Procedure) -> Notice:
    return Notice.of(procedure.swap_notice)


# --- telling people --------------------------------------------------------------------------------------


def _dm(tx: StoreTx, request: SwapRequest, person_id: str, step: str, text: str, now: datetime) -> None:
    """A DM about the request, drawn with the buttons this person may press when it is sent."""
    tx.add_notification(keys.swap_message(request.id, person_id, step), now, kind=MessageKind.SWAP,
                        channel=Channel.SLACK, person_id=person_id, target=request.id, text=text)


def _redraw(tx: StoreTx, procedure: Procedure, request: SwapRequest, step: str, now: datetime) -> None:
    """Every DM already sent about the request is redrawn as it stands now."""
    for person_id in tx.swap_recipients(request.id):
        tx.add_notification(keys.swap_update(request.id, person_id, step), now, kind=MessageKind.SWAP_UPDATE,
                            channel=Channel.SLACK, person_id=person_id, target=request.id,
                            text=f"{summary(request, procedure.team)}: {status_line(request, procedure.team)}")


def _eligible_approvers(request: SwapRequest, procedure: Procedure) -> list[str]:
    return [p.id for p in procedure.team.approvers if p.id not in (request.requester_id, request.counterpart_id)]


def _transition(tx: StoreTx, procedure: Procedure, request: SwapRequest, state: SwapState, actor: str | None,
                now: datetime, surface: str | None, reason: str = "") -> SwapRequest:
    moved = replace(request, state=state, decided_by=actor, decided_at=now, reason=reason or request.reason)
    tx.update_swap_request(moved)
    if state not in PENDING_STATES:
        tx.release_swap_weeks(request.id)
    tx.add_audit_entry(swap_entry(moved, now, actor, surface))
    _redraw(tx, procedure, moved, state.value, now)
    return moved


def _refused(request: SwapRequest, message: str, procedure: Procedure) -> SwapRefused:
    """A step refused: on a decided request, where it stands (who decided it, when); else the rule's words."""
    if request.state not in PENDING_STATES:
        return SwapRefused(status_line(request, procedure.team), "decided")
    return SwapRefused(message, "not_allowed")


def _locked(tx: StoreTx, request_id: str) -> SwapRequest:
    request: SwapRequest | None = tx.swap_request(str(request_id), lock=True)
    if request is None:
        raise SwapRefused(f"There is no swap request {request_id}", "unknown_request")
    return request


def _expire_if_due(tx: StoreTx, procedure: Procedure, request: SwapRequest, now: datetime) -> SwapOutcome | None:
    if not is_expired(request, procedure.window, now):
        return None
    expired = _expire(tx, procedure, request, now)
    return SwapOutcome(expired, status_line(expired, procedure.team))


# --- the verbs -------------------------------------------------------------------------------------------


def _decidable(tx: StoreTx, procedure: Procedure, request_id: str, person_id: str,
               may: Callable[[SwapRequest, str, Team], Permission],
               now: datetime) -> tuple[SwapRequest, SwapOutcome | None]:
    """The request locked, as it stands: expired (the outcome says so), or open to this person's step
    (else SwapRefused, saying why)."""
    request = _locked(tx, request_id)
    expired = _expire_if_due(tx, procedure, request, now)
    if expired is None:
        permission = may(request, person_id, procedure.team)
        if not permission.allowed:
            raise _refused(request, permission.message, procedure)
    return request, expired


def request_swap(store: Store, procedure: Procedure, requester_id: str, counterpart_id: str, requester_week: str,
                 counterpart_week: str | None, now: datetime, *, note: str = "", surface: str = "slack",
                 kind: SwapKind | None = None) -> SwapOutcome:
    """A swap (two weeks) or a handover (`counterpart_week` None): validated at `now`, stored with its weeks
    held, the counterpart asked (Accept / Decline) and the requester told (Cancel)."""
    team = procedure.team
    kind = kind or (SwapKind.SWAP if counterpart_week else SwapKind.HANDOVER)
    with store.transaction() as tx:
        rotation = rotation_in_effect(tx, procedure, now)
        mine = parse_week(requester_week, requester_id, rotation, procedure.window, now)
        theirs = (parse_week(counterpart_week, counterpart_id, rotation, procedure.window, now,
                             name=name_of(team, counterpart_id)) if counterpart_week else None)
        if max(mine, theirs or mine) not in rotation:  # a week beyond a year ahead: read it too
            rotation = rotation_in_effect(tx, procedure, now, through=max(mine, theirs or mine))
        pending = {w for r in tx.swap_requests(sorted(PENDING_STATES)) for w in r.weeks}
        weeks = validate_request(kind, requester_id, counterpart_id, mine, theirs, rotation, pending, team,
                                 procedure.window, _notice(procedure), now)
        draft = SwapRequest("", kind, requester_id, counterpart_id, mine, theirs, now, note=note.strip())
        request: SwapRequest = tx.add_swap_request(draft, expires_at(draft, procedure.window),
                                                   approver_reminder_at(draft, procedure.window))
        if not tx.hold_swap_weeks(request.id, weeks):  # a concurrent request took one of them first
            raise SwapRefused(f"The week of {week_label(weeks[0])} is already part of a pending request; "
                              "it has to be decided or cancelled first", "pending")
        tx.add_audit_entry(swap_entry(request, now, requester_id, surface))
        requester, counterpart = name_of(team, requester_id), name_of(team, counterpart_id)
        ask = f"{requester} asks you to accept a {summary(request, team)}."
        if request.note:
            ask += f"\nNote: {request.note}"
        _dm(tx, request, counterpart_id, "requested", ask, now)
        _dm(tx, request, requester_id, "requested",
            f"Your request was sent to {counterpart}: {summary(request, team)}.", now)
    return SwapOutcome(request, f"Sent to {counterpart} to accept: {summary(request, team)}.")


def accept(store: Store, procedure: Procedure, request_id: str, person_id: str, now: datetime,
           surface: str = "slack") -> SwapOutcome:
    """The counterpart's yes: every approver who is not part of it is asked (Approve / Reject)."""
    team = procedure.team
    with store.transaction() as tx:
        request, expired = _decidable(tx, procedure, request_id, person_id, can_accept, now)
        if expired is not None:
            return expired
        accepted = _transition(tx, procedure, request, SwapState.ACCEPTED, person_id, now, surface)
        approvers = _eligible_approvers(accepted, procedure)
        counterpart = name_of(team, person_id)
        if approvers:
            before = rotation_in_effect(tx, procedure, now, through=max(accepted.weeks))
            after = rotation_after(before, swapped_rotation(before, accepted, team)) \
                if still_applicable(accepted, before, team) is None else before
            text = approver_text(accepted, team, before, after, procedure.holiday_on)
            for approver in approvers:
                _dm(tx, accepted, approver, "accepted", text, now)
            waiting = "waiting for an approver"
        else:
            waiting = "but there is no approver who is not part of it (swaps.approvers): it cannot be approved"
        _dm(tx, accepted, accepted.requester_id, "accepted",
            f"{counterpart} accepted your {summary(accepted, team)}; {waiting}.", now)
    return SwapOutcome(accepted, f"Accepted; {waiting}.")


def decline(store: Store, procedure: Procedure, request_id: str, person_id: str, now: datetime, reason: str = "",
            surface: str = "slack") -> SwapOutcome:
    team = procedure.team
    with store.transaction() as tx:
        request, expired = _decidable(tx, procedure, request_id, person_id, can_decline, now)
        if expired is not None:
            return expired
        declined = _transition(tx, procedure, request, SwapState.DECLINED, person_id, now, surface, reason.strip())
        why = f": {declined.reason}" if declined.reason else ""
        _dm(tx, declined, declined.requester_id, "declined",
            f"{name_of(team, person_id)} declined your {summary(declined, team)}{why}.", now)
    return SwapOutcome(declined, "Declined; the requester is told.")


def reject(store: Store, procedure: Procedure, request_id: str, approver_id: str, now: datetime, reason: str = "",
           surface: str = "slack") -> SwapOutcome:
    team = procedure.team
    with store.transaction() as tx:
        request, expired = _decidable(tx, procedure, request_id, approver_id, can_reject, now)
        if expired is not None:
            return expired
        rejected = _transition(tx, procedure, request, SwapState.REJECTED, approver_id, now, surface, reason.strip())
        why = f": {rejected.reason}" if rejected.reason else ""
        text = f"{name_of(team, approver_id)} rejected the {summary(rejected, team)}{why}."
        for person_id in (rejected.requester_id, rejected.counterpart_id):
            _dm(tx, rejected, person_id, "rejected", text, now)
    return SwapOutcome(rejected, "Rejected; both people are told.")


def cancel(store: Store, procedure: Procedure, request_id: str, person_id: str, now: datetime,
           surface: str = "slack") -> SwapOutcome:
    team = procedure.team
    with store.transaction() as tx:
        request, expired = _decidable(tx, procedure, request_id, person_id, can_cancel, now)
        if expired is not None:
            return expired
        cancelled = _transition(tx, procedure, request, SwapState.CANCELLED, person_id, now, surface)
        text = f"{name_of(team, person_id)} cancelled the {summary(cancelled, team)}."
        _dm(tx, cancelled, cancelled.counterpart_id, "cancelled", text, now)
        if request.state is SwapState.ACCEPTED:
            for approver in _eligible_approvers(cancelled, procedure):
                _dm(tx, cancelled, approver, "cancelled", text, now)
    return SwapOutcome(cancelled, "Cancelled.")


def approve(store: Store, procedure: Procedure, request_id: str, approver_id: str, now: datetime,
            surface: str = "slack") -> SwapOutcome:
    """An approver's yes: both weeks locked and re-checked, then both changed, in this one transaction.

    Of two approvers pressing at once, the second finds it applied; of an approval racing a reassignment
    (or another request) of one of its weeks, whichever locks the week first wins and the other finds the
    week changed. Never half applied: both overrides commit together or neither does."""
    team = procedure.team
    with store.transaction() as tx:
        request, expired = _decidable(tx, procedure, request_id, approver_id, can_approve, now)
        if expired is not None:
            return expired
        for week in request.weeks:  # earliest first: every transaction locks weeks in the same order
            tx.shift_for_week(week, lock=True)
        rotation = rotation_in_effect(tx, procedure, now, through=max(request.weeks))
        changed = still_applicable(request, rotation, team)
        if changed is not None:
            refused = _transition(tx, procedure, request, SwapState.REFUSED_ON_APPLY, approver_id, now, surface,
                                  changed)
            text = (f"The {summary(refused, team)} could not be applied: {changed}. "
                    "The rotation is left as it is.")
            for person_id in {refused.requester_id, refused.counterpart_id, *_eligible_approvers(refused, procedure)}:
                _dm(tx, refused, person_id, "refused_on_apply", text, now)
            return SwapOutcome(refused, f"Not applied: {changed}. Everyone concerned is told.")
        _apply(tx, procedure, request, swapped_rotation(rotation, request, team), approver_id, now)
        applied = _transition(tx, procedure, request, SwapState.APPLIED, approver_id, now, surface)
        approver = name_of(team, approver_id)
        text = f"Approved by {approver} and applied: {summary(applied, team)}."
        for person_id in (applied.requester_id, applied.counterpart_id):
            _dm(tx, applied, person_id, "applied", text, now)
    return SwapOutcome(applied, f"Approved and applied: {summary(applied, team)}.")


def _apply(tx: StoreTx, procedure: Procedure, request: SwapRequest, changes: Iterable[RotationChange],
           approver_id: str | None, now: datetime) -> None:
    reason = request.reason or request.note or f"{request.kind.value} request {request.id}"
    for change in changes:
        if change.before is None or change.after is None:
            raise SwapRefused(f"Nobody is assigned to the week of {week_label(change.week_start)}", "nobody_assigned")
        apply_override_in(tx, procedure, RotationOverride(
            change.week_start, change.before, change.after, _OVERRIDE_KIND[request.kind], reason,
            requested_by=request.requester_id, approved_by=approver_id, applied_at=now), now)


def reassign_week(store: Store, procedure: Procedure, approver_id: str, week: str, to_id: str, reason: str,
                  now: datetime, surface: str = "slack") -> SwapOutcome:
    """An approver gives a week to someone, with a reason and without notice or consent (illness, emergency).
    Both people and the other approvers are told. A pending request holding the week stays pending and is
    refused, saying what changed, if it is approved later."""
    team = procedure.team
    with store.transaction() as tx:
        rotation = rotation_in_effect(tx, procedure, now)
        day = parse_week(week, approver_id, rotation, procedure.window, now)
        shift = tx.shift_for_week(day, lock=True)
        rotation = rotation_in_effect(tx, procedure, now, through=day)
        validate_reassignment(approver_id, day, to_id, reason, rotation, team, procedure.window, now)
        if shift is None:
            raise SwapRefused(f"The week of {week_label(day)} is not in the rotation (nobody is assigned): "
                              "add it to the calendar", "nobody_assigned")
        draft = SwapRequest("", SwapKind.REASSIGNMENT, approver_id, to_id, day, None, now, state=SwapState.APPLIED,
                            decided_by=approver_id, decided_at=now, reason=reason.strip(),
                            previous_owner_id=shift.person_id)
        request: SwapRequest = tx.add_swap_request(draft, expires_at(draft, procedure.window), None)
        _apply(tx, procedure, request, swapped_rotation(rotation, request, team), approver_id, now)
        tx.add_audit_entry(swap_entry(request, now, approver_id, surface))
        text = f"{name_of(team, approver_id)} reassigned the week of {week_label(day)} to {name_of(team, to_id)} " \
               f"(was {name_of(team, shift.person_id)}): {request.reason}"
        for person_id in {shift.person_id, to_id, *[p.id for p in team.approvers if p.id != approver_id]}:
            _dm(tx, request, person_id, "applied", text, now)
    return SwapOutcome(request, f"Reassigned: {summary(request, team)}.")


# --- expiry and the approvers' reminder ------------------------------------------------------------------


def _expire(tx: StoreTx, procedure: Procedure, request: SwapRequest, now: datetime) -> SwapRequest:
    team = procedure.team
    expired = _transition(tx, procedure, request, SwapState.EXPIRED, None, now, "scheduler")
    text = (f"The {summary(expired, team)} expired: it was not decided before the week of "
            f"{week_label(min(expired.weeks))} started.")
    people = {expired.requester_id, expired.counterpart_id}
    if request.state is SwapState.ACCEPTED:
        people |= set(_eligible_approvers(expired, procedure))
    for person_id in people:
        _dm(tx, expired, person_id, "expired", text, now)
    return expired


def expire_due(store: Store, procedure: Procedure, now: datetime) -> list[SwapRequest]:
    """Expire the pending requests whose earliest week has started, and send the approvers their one reminder
    48 h before; each exactly once across replicas (locked rows, a conditional update)."""
    team = procedure.team
    with store.transaction() as tx:
        expired = [_expire(tx, procedure, r, now) for r in tx.due_swap_requests(sorted(PENDING_STATES), now)]
        for request in tx.swap_requests_to_remind([SwapState.REQUESTED, SwapState.ACCEPTED], now):
            if not tx.mark_swap_reminded(request.id, now):
                continue
            waits = ("an approver" if request.state is SwapState.ACCEPTED
                     else name_of(team, request.counterpart_id))
            notify_approvers(tx, procedure, keys.swap_reminder(request.id), now,
                             f"Reminder: the {summary(request, team)} is waiting for {waits} and expires "
                             f"when the week of {week_label(min(request.weeks))} starts, in 48 hours.")
    return expired
