"""Use cases that change one on-call week (an override: a swap's half, a handover, a reassignment) and read
back what changed (the rotation history). The store lays overrides over the calendar's weeks on every read,
so a change is seen at once by `who`, paging and /oncall; a sync replaces the calendar's weeks only."""

from dataclasses import dataclass, replace
from datetime import date, datetime

from ..domain.audit import (
    AuditSubject,
    RotationChangeKind,
    RotationChangeRecord,
    rotation_change_entry,
    rotation_change_of,
)
from ..domain.procedure import Procedure
from ..domain.rotation import RotationOverride, Shift, override_refusal
from ..domain.vocabulary import Channel, MessageKind
from ..errors import BadInput
from ..ports import Store, StoreTx


def queue_assignee_change(store: Store, procedure: Procedure, event_id: str, person_id: str, now: datetime) -> None:
    """Write an approved change of assignee back to the rotation calendar, through the outbox: it is
    retried when the calendar fails and reported to the approvers if it keeps failing, never dropped."""
    with store.transaction() as tx:
        _queue_writeback(tx, procedure, event_id, person_id, now)


def _queue_writeback(tx: StoreTx, procedure: Procedure, event_id: str, person_id: str, now: datetime) -> None:
    """Queue the write-back in the caller's transaction.

    It carries the etag of the event as our last sync saw it, the version the change was approved on: a
    human's edit made since (before or after the approval) makes the calendar refuse the write (412), and
    the approvers are told instead. Reading the etag again just before writing would protect nothing: it
    would be the etag of the human's edit, and the write would overwrite it."""
    person = procedure.team.person(person_id)
    if person is None:
        raise BadInput(f"{person_id} is not on the team")
    event = tx.calendar_event(event_id)
    if event is None:
        raise BadInput(f"{event_id} is not an event of the rotation calendar (as of the last sync)")
    if event.etag is None:
        raise BadInput(f"{event_id} has not been synced with its version yet: run `oncallbot sync` first")
    tx.add_notification(f"writeback:{event_id}:{person_id}:{now.isoformat()}", now, kind=MessageKind.WRITEBACK,
                        channel=Channel.CALENDAR, person_id=person_id, target=event_id, etag=event.etag,
                        text=f"On call: {person.name}")


@dataclass(frozen=True)
class AppliedOverride:
    override: RotationOverride  # as stored: with its id, applied at `now`
    shift: Shift  # the week as it is in effect now
    writeback_queued: bool  # False when the calendar cannot be written (an iCalendar file): change it by hand


def apply_override(store: Store, procedure: Procedure, override: RotationOverride, now: datetime) -> AppliedOverride:
    """Give one on-call week to someone else, in one transaction: check that the week is in the rotation
    and still with `override.from_person_id`, store the override (applied at `now`), write the change to
    the audit trail, and queue the write-back to the calendar event behind the week when the calendar can
    take it. Later syncs keep it: they replace the calendar's weeks, never the overrides laid over them.

    Raises BadInput, saying why, when the week is not there or is someone else's by now."""
    with store.transaction() as tx:
        return apply_override_in(tx, procedure, override, now)


def apply_override_in(tx: StoreTx, procedure: Procedure, override: RotationOverride, now: datetime) -> AppliedOverride:
    """`apply_override` inside the caller's transaction, so several weeks (both weeks of a swap) change
    together or not at all. Locks the week first (a no-op when the caller already holds it)."""
    week = tx.shift_for_week(override.week_start, lock=True)  # two changes of one week take turns
    refusal = override_refusal(week, override, procedure.team)
    if week is None or refusal is not None:
        raise BadInput(refusal or "the week is not in the rotation")
    stored = tx.add_override(replace(override, applied_at=now, id=None))
    tx.add_audit_entry(rotation_change_entry(RotationChangeRecord(
        stored.week_start, now, RotationChangeKind.OVERRIDE_APPLIED, week.person_id, stored.to_person_id,
        actor=stored.approved_by or stored.requested_by, reason=stored.reason, override_id=stored.id,
        override_kind=str(stored.kind))))
    event = tx.calendar_event(week.event_id) if week.event_id else None
    writeback = event is not None and event.etag is not None
    if writeback:
        _queue_writeback(tx, procedure, week.event_id, stored.to_person_id, now)
    shift = replace(week, person_id=stored.to_person_id, override_id=stored.id)
    return AppliedOverride(stored, shift, writeback)


HISTORY_LIMIT = 20


def rotation_history(store: Store, week_start: date | None = None,
                     limit: int = HISTORY_LIMIT) -> list[RotationChangeRecord]:
    """The changes of one week's person (every one), or the most recent changes of any week, oldest first:
    what a sync found changed in the calendar, and the overrides applied in the bot."""
    with store.reading() as tx:
        if week_start is not None:
            entries = tx.audit_entries(AuditSubject.ROTATION, week_start.isoformat())
        else:
            entries = tx.audit_entries(AuditSubject.ROTATION, limit=limit)
    return [rotation_change_of(entry) for entry in entries]
