"""Contact details: what `oncallbot contacts` shows the approvers (channels, opt-outs, verification, channel
order, details masked by domain.masking), the verification of phone numbers by a code, and each person's
channel order. The rules are in domain/contacts.py; each verb is one transaction."""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..domain import keys, wording
from ..domain.audit import AuditEntry, AuditSubject, ContactChangeKind
from ..domain.contacts import (
    CODE_DIGITS,
    CODE_WINDOW,
    CodeCheck,
    Verification,
    allowed_channels,
    check_code,
    code_digest,
    code_in,
    is_verified,
    needs_code,
    number_tag,
    reminder_due,
)
from ..domain.masking import mask_email, mask_phone
from ..domain.procedure import Procedure
from ..domain.team import Person, Team
from ..domain.vocabulary import Channel, MessageKind
from ..errors import BadInput
from ..ports import Store, StoreTx
from .delivery import notify_approvers

EMAIL = "email"  # not a paging channel (vocabulary.Channel), but a way the team reaches the person


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


@dataclass(frozen=True)
class ContactView:
    person_id: str
    name: str
    roles: tuple[str, ...]
    channels: tuple[str, ...]  # the channels their details allow: sms, voice (phone), slack (slack_id), email
    opted_out: tuple[str, ...]  # of those, the ones they said STOP to: nothing is sent on them
    phone: str | None  # masked
    email: str | None  # masked
    slack_id: str | None  # a Slack user id is not a contact detail: shown whole
    verified: bool | None  # the phone number confirmed with a code; None without a number
    channel_order: tuple[str, ...] = ()  # their order for escalation steps (`/oncall channels`); empty: the step's


def contacts(store: Store, team: Team) -> list[ContactView]:
    views = []
    with store.reading() as tx:
        for person in team.people:
            channels: list[str] = []
            if person.phone:
                channels += [Channel.SMS.value, Channel.VOICE.value]
            if person.slack_id:
                channels.append(Channel.SLACK.value)
            if person.email:
                channels.append(EMAIL)
            opted_out = tuple(c for c in (Channel.SMS.value, Channel.VOICE.value) if tx.opted_out(person.id, c))
            views.append(ContactView(person.id, person.name, tuple(sorted(person.roles)), tuple(channels), opted_out,
                                     mask_phone(person.phone), mask_email(person.email), person.slack_id,
                                     is_verified(tx.verification(person.id), person.phone),
                                     tx.channel_order(person.id)))
    return views


# --- verification of phone numbers ---------------------------------------------------------------------

def _send_code(tx: StoreTx, procedure: Procedure, person: Person, phone: str, codes_sent: int, code: str,
               now: datetime) -> None:
    tx.add_notification(keys.verification_code(person.id, number_tag(phone), codes_sent), now,
                        kind=MessageKind.REPORT, channel=Channel.SMS, person_id=person.id,
                        text=wording.verification_sms(procedure.team.name, code,
                                                      int(CODE_WINDOW.total_seconds() // 60)))
    if person.slack_id:
        tx.add_notification(keys.verification_dm(person.id, number_tag(phone), codes_sent), now,
                            kind=MessageKind.VERIFY, channel=Channel.SLACK, person_id=person.id,
                            text=wording.verification_dm_text(mask_phone(phone) or ""))


def request_verifications(store: Store, procedure: Procedure, now: datetime,
                          make_code: Callable[[], str] = new_code) -> list[str]:
    """Text a code to every number the bot has not texted one to yet (new in the config, or changed): once
    per number, however many replicas look. Returns the people texted."""
    texted = []
    for person in procedure.team.people:
        with store.transaction() as tx:
            current = tx.verification(person.id)
            if person.phone is None or not needs_code(current, person.phone):
                continue
            code = make_code()
            record = Verification(person.id, person.phone, code_digest(person.id, person.phone, code), 1, now, 0, now)
            if tx.start_verification(record, current.phone if current else None):
                _send_code(tx, procedure, person, person.phone, 1, code, now)
                texted.append(person.id)
    return texted


@dataclass(frozen=True)
class VerificationResult:
    outcome: CodeCheck
    message: str  # what the person is told


_REPLIES = {CodeCheck.VERIFIED: wording.VERIFIED_REPLY, CodeCheck.ALREADY: wording.ALREADY_VERIFIED_REPLY,
            CodeCheck.WRONG: wording.WRONG_CODE_REPLY, CodeCheck.EXPIRED: wording.EXPIRED_CODE_REPLY,
            CodeCheck.LOCKED: wording.LOCKED_CODE_REPLY, CodeCheck.NO_NUMBER: wording.NO_NUMBER_REPLY}


def verify_code(store: Store, procedure: Procedure, person_id: str, text: str, channel: str, now: datetime,
                make_code: Callable[[], str] = new_code) -> VerificationResult:
    """A code typed by the person (SMS reply or Slack): verifies the number, counts a wrong code, or, for a
    code that expired, texts a new one."""
    person = procedure.team.person(person_id)
    if person is None:
        raise BadInput(f"{person_id} is not on the team")
    with store.transaction() as tx:
        return _check_code_in(tx, procedure, person, text, channel, now, make_code)


def _check_code_in(tx: StoreTx, procedure: Procedure, person: Person, text: str, channel: str, now: datetime,
                   make_code: Callable[[], str]) -> VerificationResult:
    """verify_code inside the caller's transaction."""
    current = tx.verification(person.id, lock=True)
    outcome = check_code(current, person.phone, code_in(text), now)
    if outcome is CodeCheck.VERIFIED:
        tx.update_verification(person.id, verified_at=now)
        tx.add_audit_entry(AuditEntry(AuditSubject.CONTACT, person.id, now, ContactChangeKind.PHONE_VERIFIED,
                                      actor=person.id, channel=channel, detail=mask_phone(person.phone)))
    elif outcome is CodeCheck.WRONG:
        assert current is not None
        tx.update_verification(person.id, attempts=current.attempts + 1)
    elif outcome is CodeCheck.EXPIRED:
        assert current is not None and person.phone is not None
        code, number = make_code(), current.codes_sent + 1
        tx.update_verification(person.id, code_digest=code_digest(person.id, person.phone, code),
                               codes_sent=number, code_sent_at=now, attempts=0)
        _send_code(tx, procedure, person, person.phone, number, code, now)
    return VerificationResult(outcome, _REPLIES[outcome])


def verify_by_sms(store: Store, procedure: Procedure, from_number: str, body: str, now: datetime,
                  inbound_key: str | None = None, make_code: Callable[[], str] = new_code) -> VerificationResult | None:
    """An SMS that is a code from a number waiting for one; None for anything else (an acknowledgment, "1",
    "done 42", or a code-like reply from a verified number), which the caller handles as before.
    `inbound_key` (the SMS's id) is recorded as handled in the transaction that checks the code; a repeat of
    an SMS whose key already was changes nothing and answers None: the caller's acknowledgment, given the same
    key, does nothing either."""
    person = procedure.team.by_phone(from_number)
    if person is None or code_in(body) is None:
        return None
    with store.reading() as tx:
        current = tx.verification(person.id)
    if current is None or not current.is_for(person.phone) or current.verified_at is not None:
        return None
    with store.transaction() as tx:
        if inbound_key is not None and not tx.first_time_seen(inbound_key, now):
            return None
        return _check_code_in(tx, procedure, person, body, Channel.SMS, now, make_code)


def remind_unverified(store: Store, procedure: Procedure, now: datetime) -> list[str]:
    """48 hours after a code went to a new number and it is still unverified: the person and the approvers
    are told once (a conditional claim on the row, so once across replicas). Returns the people reminded."""
    reminded = []
    with store.reading() as tx:
        pending = tx.verifications()
    for record in pending:
        person = procedure.team.person(record.person_id)
        if person is None or not reminder_due(record, person.phone, now):
            continue
        with store.transaction() as tx:
            if not tx.mark_verification_reminded(person.id, record.phone, now):
                continue
            tag = number_tag(record.phone)
            channel = Channel.SLACK if person.slack_id else Channel.SMS
            tx.add_notification(keys.verification_reminder(person.id, tag), now, kind=MessageKind.REPORT,
                                channel=channel, person_id=person.id,
                                text=wording.verification_reminder_text(person.name))
            notify_approvers(tx, procedure, keys.verification_overdue(person.id, tag), now,
                             wording.verification_overdue_text(person.name))
            reminded.append(person.id)
    return reminded


def verification_pending(store: Store, procedure: Procedure, person_id: str) -> bool:
    """Whether the person has a number waiting for its code (App Home shows the Verify button then)."""
    person = procedure.team.person(person_id)
    if person is None or person.phone is None:
        return False
    with store.reading() as tx:
        return is_verified(tx.verification(person.id), person.phone) is False


# --- channel order ---------------------------------------------------------------------------------------

def team_channels(procedure: Procedure) -> tuple[str, ...]:
    """The channels a person may order: those the team's escalation steps page people on."""
    return allowed_channels([s.channels for s in procedure.escalation.chain if s.notify != "office"])


def channel_order_of(store: Store, person_id: str) -> tuple[str, ...]:
    with store.reading() as tx:
        return tx.channel_order(person_id)


def set_channel_order(store: Store, procedure: Procedure, person_id: str, channels: tuple[str, ...],
                      now: datetime) -> tuple[str, ...]:
    """Store and audit a person's order; every channel must be one the team's steps allow."""
    allowed = team_channels(procedure)
    if procedure.team.person(person_id) is None:
        raise BadInput(f"{person_id} is not on the team")
    if not channels or any(c not in allowed for c in channels) or len(set(channels)) != len(channels):
        raise BadInput("choose an order of " + ", ".join(allowed))
    with store.transaction() as tx:
        before = tx.channel_order(person_id)
        if before == channels:
            return channels
        tx.set_channel_order(person_id, channels, now)
        tx.add_audit_entry(AuditEntry(AuditSubject.CONTACT, person_id, now, ContactChangeKind.CHANNEL_ORDER,
                                      actor=person_id, channel=Channel.SLACK, detail=",".join(channels)))
    return channels
