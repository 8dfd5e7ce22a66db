"""The audit trail: one list of what happened to what, by whom, for pages, the rotation and (next) swaps.

An entry is about a *subject* (a page, an on-call week) named by `subject_id` (the page's id, the week's
start date), says what happened (`kind`), when (`at`), who did it (`actor`, a person id; None when the bot
or the calendar did it) and, for pages, through which `channel`. `detail` is free text for a page; for
the rotation it is a small JSON object (see RotationChangeRecord), so the history reads back who had the
week before and after without parsing prose.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class AuditSubject(StrEnum):
    PAGE = "page"  # subject_id: the page's id
    ROTATION = "rotation"  # subject_id: the week's start date, ISO
    SWAP = "swap"  # subject_id: the swap request's id; kind: the state it moved to
    CONTACT = "contact"  # subject_id: the person's id; kind: a ContactChangeKind


class ContactChangeKind(StrEnum):
    PHONE_VERIFIED = "phone_verified"  # detail: the channel the code came back on (sms, slack)
    CHANNEL_ORDER = "channel_order"  # detail: the new order, e.g. "voice,sms,slack"


class RotationChangeKind(StrEnum):
    CALENDAR_CHANGED = "calendar_changed"  # a sync found the week with someone else
    OVERRIDE_APPLIED = "override_applied"  # a swap, handover or reassignment made in the bot


@dataclass(frozen=True)
class AuditEntry:
    subject: str  # an AuditSubject
    subject_id: str
    at: datetime  # UTC
    kind: str
    actor: str | None = None  # a person id
    channel: str | None = None  # a page event's channel (sms, voice, slack, ...)
    detail: str | None = None


@dataclass(frozen=True)
class PageEvent:
    """One line of a page's timeline: a state change or a step, with who and through which channel."""

    page_id: int
    at: datetime
    kind: str
    person_id: str | None = None
    channel: str | None = None
    detail: str | None = None


def page_event_entry(event: PageEvent) -> AuditEntry:
    return AuditEntry(AuditSubject.PAGE, str(event.page_id), event.at, event.kind, actor=event.person_id,
                      channel=event.channel, detail=event.detail)


def page_event_of(entry: AuditEntry) -> PageEvent:
    return PageEvent(int(entry.subject_id), entry.at, entry.kind, entry.actor, entry.channel, entry.detail)


@dataclass(frozen=True)
class RotationChangeRecord:
    """A change of who has an on-call week, as the rotation history shows it."""

    week_start: date
    at: datetime
    kind: RotationChangeKind
    before: str | None  # person id; None: the week was not in the rotation
    after: str | None
    actor: str | None = None  # who made the change (the approver of an override); None: the calendar
    reason: str | None = None
    override_id: int | None = None
    override_kind: str | None = None  # swap | handover | reassignment


def rotation_change_entry(change: RotationChangeRecord) -> AuditEntry:
    detail = {"before": change.before, "after": change.after}
    if change.reason is not None:
        detail["reason"] = change.reason
    extra: dict[str, object] = {}
    if change.override_id is not None:
        extra = {"override_id": change.override_id, "override_kind": change.override_kind}
    return AuditEntry(AuditSubject.ROTATION, change.week_start.isoformat(), change.at, change.kind,
                      actor=change.actor, detail=json.dumps({**detail, **extra}, sort_keys=True))


def rotation_change_of(entry: AuditEntry) -> RotationChangeRecord:
    detail = json.loads(entry.detail or "{}")
    override_id = detail.get("override_id")
    return RotationChangeRecord(date.fromisoformat(entry.subject_id), entry.at, RotationChangeKind(entry.kind),
                                detail.get("before"), detail.get("after"), entry.actor, detail.get("reason"),
                                int(override_id) if override_id is not None else None, detail.get("override_kind"))
