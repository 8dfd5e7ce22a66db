"""The support mailbox as an intake: a new email becomes a page, a reply in its thread is an acknowledgment
(when a team member's and authenticated) or a line in the page's timeline, and the watch's position and
outages are recorded. One transaction per email, which also moves the folder's position past it: a crash
neither loses nor repeats one, and the Message-ID key makes it one page however many replicas read it."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..domain import keys, wording
from ..domain.mail import (
    STORM_WINDOW,
    InboundMail,
    MailPolicy,
    authenticated,
    excerpt,
    joins_storm,
    loop_reason,
    message_key,
    page_details,
    page_summary,
    sender_key,
    sender_label,
)
from ..domain.paging import parse_ack_text
from ..domain.procedure import Procedure
from ..domain.vocabulary import PageEventKind
from ..ports import PageRecord, Store, StoreTx
from .acknowledgment import acknowledge_locked
from .delivery import notify_approvers
from .intake import SUMMARY_LIMIT, open_ticket_in
from .pages import NewPage, queue_thread_line

EMAIL_SOURCE = "email"

MailAction = Literal["opened", "grouped", "acknowledged", "already", "not_counted", "reply", "ignored", "duplicate"]


@dataclass(frozen=True)
class MailOutcome:
    action: MailAction
    page_id: int | None = None
    detail: str = ""  # why it was ignored, what an acknowledgment said


@dataclass(frozen=True)
class Position:
    """Where this email sits in the watched folder: handling it moves the folder's position past it."""

    mailbox: str
    uidvalidity: int
    uid: int


def receive_mail(store: Store, procedure: Procedure, policy: MailPolicy, mail: InboundMail, now: datetime,
                 position: Position | None = None) -> MailOutcome:
    with store.transaction() as tx:
        if position is not None:
            tx.set_mailbox_position(position.mailbox, position.uidvalidity, position.uid)
        reason = loop_reason(mail, policy)
        if reason is not None:
            return MailOutcome("ignored", detail=reason)
        message_id = message_key(mail.message_id)
        if not tx.first_time_seen(keys.mail_message(message_id), now):
            return MailOutcome("duplicate")
        page_id = tx.mail_thread_page([message_key(m) for m in mail.thread_ids])
        page = tx.page(page_id, lock=True) if page_id is not None else None
        if page is not None:
            tx.add_mail_message(message_id, page.id, sender_key(mail.sender_address), False, now)
            return _reply(tx, procedure, policy, page, mail, message_id, now)
        return _new_thread(tx, procedure, policy, mail, message_id, now)


def _reply(tx: StoreTx, procedure: Procedure, policy: MailPolicy, page: PageRecord, mail: InboundMail,
           message_id: str, now: datetime) -> MailOutcome:
    """A reply in a page's thread: a team member's On It!/Done (read as in Slack) counts when the team's own
    server vouches for the sender's domain; anything else is a line in the timeline and the Slack thread."""
    person = procedure.team.by_email(mail.sender_address)
    kind = parse_ack_text(mail.reply_text, EMAIL_SOURCE) if person else None
    if person is not None and kind is not None:
        if authenticated(mail.authentication_results, policy.authserv_id, mail.sender_domain):
            result = acknowledge_locked(tx, procedure, page, person, kind, EMAIL_SOURCE, now)
            return MailOutcome("acknowledged" if result.accepted else "already", page.id, result.message)
        tx.add_event(page.id, now, PageEventKind.NOT_COUNTED, person.id, EMAIL_SOURCE,
                     f"{'On It!' if kind == 'on_it' else 'Done'} by email not counted: unauthenticated")
        queue_thread_line(tx, page, keys.mail_reply(page.id, message_id), now,
                          wording.mail_not_counted_line(kind, person.name))
        return MailOutcome("not_counted", page.id, "unauthenticated")
    who = person.name if person else sender_label(mail.sender_name, mail.sender_address)
    words = excerpt(mail.reply_text or mail.text)
    tx.add_event(page.id, now, PageEventKind.EMAIL, person.id if person else None, EMAIL_SOURCE,
                 f"reply by email from {who}: {words}" if words else f"reply by email from {who}")
    queue_thread_line(tx, page, keys.mail_reply(page.id, message_id), now, wording.mail_reply_line(who, words))
    return MailOutcome("reply", page.id)


def _new_thread(tx: StoreTx, procedure: Procedure, policy: MailPolicy, mail: InboundMail, message_id: str,
                now: datetime) -> MailOutcome:
    sender = sender_key(mail.sender_address)
    recent = tx.mail_threads_from(sender, now - STORM_WINDOW)
    summary = page_summary(mail.subject)
    if joins_storm(len(recent), policy):
        storm_page = tx.page(recent[-1], lock=True)
        if storm_page is not None:
            tx.add_mail_message(message_id, storm_page.id, sender, True, now)
            label = sender_label(mail.sender_name, mail.sender_address)
            tx.add_event(storm_page.id, now, PageEventKind.GROUPED, None, EMAIL_SOURCE,
                         f"email {len(recent) + 1} within the hour from {label}: {excerpt(summary)}")
            queue_thread_line(tx, storm_page, keys.mail_grouped(storm_page.id, message_id), now,
                              wording.mail_grouped_line(label, len(recent) + 1, excerpt(summary)))
            return MailOutcome("grouped", storm_page.id)
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[:SUMMARY_LIMIT - 1] + "…"
    page, created = open_ticket_in(tx, procedure, NewPage(summary=summary, source=EMAIL_SOURCE,
                                                        external_id=message_id, details=page_details(mail)),
                                 summary, now)
    tx.add_mail_message(message_id, page.id, sender, True, now)
    return MailOutcome("opened" if created else "duplicate", page.id)


def mailbox_position(store: Store, mailbox: str) -> tuple[int | None, int]:
    with store.reading() as tx:
        return tx.mailbox_position(mailbox)


def record_position(store: Store, mailbox: str, uidvalidity: int, uid: int) -> None:
    """A folder read to its end with nothing new (or a fresh UIDVALIDITY): where the next look starts."""
    with store.transaction() as tx:
        tx.set_mailbox_position(mailbox, uidvalidity, uid)


def mailbox_unreachable(store: Store, procedure: Procedure, mailbox: str, reason: str, now: datetime) -> bool:
    """The watch failed (a drop, a timeout, a refused login): the approvers hear once per outage, not once
    per retry, whichever replica sees it first. Returns whether this call told them."""
    with store.transaction() as tx:
        since = tx.mark_mailbox_down(mailbox, now)
        if since is None:
            return False
        notify_approvers(tx, procedure, keys.mailbox_unreachable(mailbox, since), now,
                         wording.mailbox_unreachable_text(mailbox, reason))
        return True


def mailbox_reachable(store: Store, procedure: Procedure, mailbox: str, now: datetime) -> bool:
    """The watch works again: the approvers who heard of the outage hear of its end, once."""
    with store.transaction() as tx:
        since = tx.mark_mailbox_up(mailbox)
        if since is None:
            return False
        label = f"{since.astimezone(procedure.window.tz):%a %H:%M}"
        notify_approvers(tx, procedure, keys.mailbox_reachable(mailbox, since), now,
                         wording.mailbox_reachable_text(mailbox, label))
        return True
