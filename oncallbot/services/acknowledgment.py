"""Acknowledgment: On It! and Done (from Slack or by phone), "not a ticket", and the reminders to whoever
holds a page at On It!. One transaction each."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from ..domain import keys, wording
from ..domain.paging import (
    CLOSED_STATES,
    TEST_PAGE_SOURCE,
    AckKind,
    DoneReminder,
    decide_acknowledgment,
    decide_dismissal,
    done_reminder_cutoffs,
    done_reminder_due,
    parse_phone_reply,
    phone_reply_targets,
)
from ..domain.paging import PageState as PageStateName
from ..domain.procedure import Procedure
from ..domain.team import Person
from ..domain.vocabulary import (
    Channel,
    MessageKind,
    PageEventKind,
)
from ..errors import BadInput, NotAuthorized
from ..ports import PageRecord, PageUpdate, Store, StoreTx
from .delivery import notify_approvers
from .pages import (
    AckResult,
    PageSnapshot,
    member,
    plan_from_json,
    queue_card_update,
    queue_thread_line,
    reachable,
    snapshot,
)


def acknowledge_page(store: Store, procedure: Procedure, page_id: int, person_id: str, kind: AckKind, channel: str,
                     now: datetime, inbound_key: str | None = None) -> AckResult:
    """On It! stops the escalation; Done closes the page. A second acknowledgment changes nothing.
    `inbound_key` (the event that carried it, e.g. a Slack thread reply's event id) is recorded as handled in
    the same transaction; when it already was, nothing is done (`repeat`)."""
    person = member(procedure, person_id)
    with store.transaction() as tx:
        page = tx.page(page_id, lock=True)
        if page is None:
            raise BadInput(f"no page {page_id}")
        if inbound_key is not None and not tx.first_time_seen(inbound_key, now):
            return AckResult(False, "", snapshot(tx, page), repeat=True)
        return acknowledge_locked(tx, procedure, page, person, kind, channel, now)


def acknowledge_locked(tx: StoreTx, procedure: Procedure, page: PageRecord, person: Person, kind: AckKind,
                       channel: str, now: datetime) -> AckResult:
    """acknowledge_page on a page row the caller's open transaction has locked."""
    tz = procedure.window.tz
    holder_id, holder_at = (page.done_by, page.done_at) if page.state in CLOSED_STATES \
        else (page.on_it_by, page.on_it_at)
    holder = procedure.team.person(holder_id)
    decision = decide_acknowledgment(cast(PageStateName, page.state), kind, holder.name if holder else holder_id,
                                     f"{holder_at.astimezone(tz):%H:%M}" if holder_at else None, person.name)
    if not decision.accepted:
        return AckResult(False, decision.message, snapshot(tx, page))
    changes: PageUpdate = {"state": decision.state, "next_due_at": None}
    if kind == "on_it" or page.on_it_at is None:
        changes["on_it_by"], changes["on_it_at"] = person.id, now
    if kind == "done":
        changes["done_by"], changes["done_at"] = person.id, now
    alerted = any(plan_from_json(page.plan).step(n).alert for n in range(page.fired))
    page = tx.update_page(page.id, **changes)
    tx.add_event(page.id, now, PageEventKind(decision.state), person.id, channel)
    if alerted:  # the approvers heard it was unconfirmed: they hear, once, that it resolved
        notify_approvers(tx, procedure, keys.test_page_resolved(page.id), now,
                         wording.test_page_resolved_text(page.id, person.name, f"{now.astimezone(tz):%H:%M}", channel))
    queue_thread_line(tx, page, keys.acknowledged(page.id, decision.state), now,
                       wording.ack_line(kind, person.name, f"{now.astimezone(tz):%H:%M}", channel))
    queue_card_update(tx, page, now)
    return AckResult(True, decision.message, snapshot(tx, page))


def fire_due_done_reminders(store: Store, procedure: Procedure, now: datetime, batch: int = 200,
                            keep_going: Callable[[], bool] = lambda: True) -> int:
    """Ask whoever has held a page at On It! for `done_reminder` whether it is done: a Slack DM, then an
    SMS. Each once per On It!, across processes. Returns the reminders queued."""
    every = procedure.done_reminder
    if every is None:
        return 0
    queued = 0
    while keep_going():
        with store.transaction() as tx:
            # The weekly test page is confirmed with an On It! and never needs a Done.
            pages = tx.claim_due_done_reminders(done_reminder_cutoffs(now, every), TEST_PAGE_SOURCE, batch)
            for page in pages:
                sent = page.done_reminders_sent
                while (reminder := done_reminder_due(page.on_it_at, sent, every)) and reminder.due_at <= now:
                    _queue_done_reminder(tx, page, reminder, procedure, now)
                    sent += 1
                    queued += 1
                if sent != page.done_reminders_sent:
                    tx.update_page(page.id, done_reminders_sent=sent)
        if len(pages) < batch:
            break
    return queued


def _queue_done_reminder(tx: StoreTx, page: PageRecord, reminder: DoneReminder, procedure: Procedure,
                         now: datetime) -> None:
    holder = procedure.team.person(page.on_it_by)
    if page.on_it_at is None:  # claimed because it is On It!
        return
    # A reminder the holder can receive on no channel is recorded, not retried.
    channel = next((c for c in reminder.channels if holder and reachable(tx, holder, c)), None)
    since = f"{page.on_it_at.astimezone(procedure.window.tz):%a %H:%M}"
    if channel is None or holder is None:
        tx.add_event(page.id, now, PageEventKind.REMINDER_SKIPPED, page.on_it_by, None,
                     f"On It! since {since}: the holder has no channel to be asked whether it is done")
        return
    tx.add_notification(keys.done_reminder(page.id, page.on_it_at, reminder.number), now,
                        page_id=page.id, kind=MessageKind.REMINDER, channel=channel, person_id=holder.id,
                        text=wording.done_reminder_text(channel, page.id, page.summary, since))
    tx.add_event(page.id, now, PageEventKind.REMINDED, holder.id, channel,
                 f"asked whether it is done (On It! since {since})")


# --- replies by phone ---------------------------------------------------------------------------

STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
START_WORDS = {"start", "yes", "unstop"}


@dataclass(frozen=True)
class PhoneReplyResult:
    pages: list[PageSnapshot]  # the pages this reply acknowledged
    message: str | None  # the answer to text back, if any


def acknowledge_phone_reply(store: Store, procedure: Procedure, from_number: str, body: str,
                            now: datetime, inbound_key: str | None = None) -> PhoneReplyResult:
    """An SMS from a team member: "1", "ok", or a sentence beginning with On It! or Done, optionally naming
    a page ("done 42") or all of them ("done all").

    Without a number On It! applies to every page waiting on them (a storm is taken with one reply); a bare
    Done closes the one page it can mean and asks which when there are several. One transaction: a crash
    never leaves the reply half applied. `inbound_key` (the SMS's id) is recorded as handled in that
    transaction; a reply whose key already was does nothing and answers nothing (a repeat of the webhook:
    "on it" again would otherwise take pages that came in since)."""
    person = procedure.team.by_phone(from_number)
    if person is None:
        raise NotAuthorized("this number is not a team member's")
    words = " ".join(body.lower().split())
    if words in STOP_WORDS or words in START_WORDS:
        _record_sms_preference(store, procedure, person, words in STOP_WORDS, now, inbound_key)
        return PhoneReplyResult([], None)  # Twilio answers STOP and START itself
    reply = parse_phone_reply(body)
    if reply is None:  # changes nothing, so records nothing; but a repeat of an SMS handled (a code) is not help
        if inbound_key is not None:
            with store.reading() as tx:
                if tx.seen(inbound_key):
                    return PhoneReplyResult([], None)
        return PhoneReplyResult([], "Reply 1 (or ON IT) to take your pages, DONE when resolved; add a page "
                                    "number to pick one, e.g. DONE 42.")
    with store.transaction() as tx:
        if inbound_key is not None and not tx.first_time_seen(inbound_key, now):
            return PhoneReplyResult([], None)
        if reply.page_number is not None:
            number = reply.page_number
            page = tx.page(int(number), lock=True) if len(number) <= 12 else None  # int() of 5000 digits raises
            if page is None or not _waits_on(tx, page, person):
                shown = number if len(number) <= 24 else number[:24] + "…"
                return PhoneReplyResult([], f"No page {shown} is waiting on you.")
            pages = [page]
        else:
            phoned = tx.open_pages_phoned(person.id)
            held = [p.id for p in phoned if p.state == "on_it" and p.on_it_by == person.id]
            choice = phone_reply_targets(reply, held, [p.id for p in phoned if p.state == "open"])
            if choice.question:
                return PhoneReplyResult([], choice.question)
            pages = [p for page_id in choice.page_ids if (p := tx.page(page_id, lock=True)) is not None]
        results = [acknowledge_locked(tx, procedure, page, person, reply.kind, "sms", now) for page in pages]
    accepted = [r.page for r in results if r.accepted]
    if not results:
        return PhoneReplyResult([], "No page is waiting on you.")
    label = "On It!" if reply.kind == "on_it" else "Done"
    if accepted:
        return PhoneReplyResult(accepted, f"{label} recorded for page " + ", ".join(f"#{p.id}" for p in accepted) + ".")
    return PhoneReplyResult([], results[0].message)


def _waits_on(tx: StoreTx, page: PageRecord, person: Person) -> bool:
    """A page someone may answer by number: theirs to answer (responsible, paged, holding it), not any page."""
    if person.id in (page.responsible, page.on_it_by, page.done_by, page.escalated_by):
        return True
    return any(n.person_id == person.id and n.kind in (MessageKind.PAGE, MessageKind.DIGEST)
               for n in tx.notifications_of(page.id))


def _record_sms_preference(store: Store, procedure: Procedure, person: Person, stopped: bool, now: datetime,
                           inbound_key: str | None) -> None:
    with store.transaction() as tx:
        if inbound_key is not None and not tx.first_time_seen(inbound_key, now):
            return
        if stopped:
            if tx.opt_out(person.id, Channel.SMS, now, "replied STOP"):
                notify_approvers(tx, procedure, keys.opted_out(person.id, Channel.SMS, now.date()), now,
                                 wording.opted_out_text(person.name, Channel.SMS))
        else:
            tx.opt_in(person.id, "sms")


# --- not a ticket; the list of pages --------------------------------------------------------------

def dismiss_page(store: Store, procedure: Procedure, page_id: int, person_id: str, channel: str,
                 now: datetime) -> AckResult:
    """"Not a ticket": close the page without paging anyone. It stays in the timeline, out of the report."""
    person = member(procedure, person_id)
    tz = procedure.window.tz
    with store.transaction() as tx:
        page = tx.page(page_id, lock=True)
        if page is None:
            raise BadInput(f"no page {page_id}")
        holder_id, holder_at = (page.done_by, page.done_at) if page.state in CLOSED_STATES \
            else (page.on_it_by, page.on_it_at)
        holder = procedure.team.person(holder_id)
        decision = decide_dismissal(cast(PageStateName, page.state), page.source, holder_id,
                                    holder.name if holder else holder_id,
                                    f"{holder_at.astimezone(tz):%H:%M}" if holder_at else None, person.id)
        if not decision.accepted:
            return AckResult(False, decision.message, snapshot(tx, page))
        # done_by/done_at say who closed it and when, whichever way it was closed.
        page = tx.update_page(page.id, state=decision.state, next_due_at=None, done_by=person.id, done_at=now)
        tx.add_event(page.id, now, PageEventKind.DISMISSED, person.id, channel, "not a ticket")
        queue_thread_line(tx, page, keys.dismissed(page.id), now, wording.dismissed_line(person.name))
        queue_card_update(tx, page, now)
        return AckResult(True, decision.message, snapshot(tx, page))
