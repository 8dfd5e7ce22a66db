"""Sending what the outbox holds, after the transaction that queued it has committed.

A row is marked `sending` with a deadline in its own commit before the provider is called. A process
that dies mid-send leaves a `sending` row past its deadline: `reap_stale_sends` marks it ambiguous and
tells the approvers instead of re-sending it, so nobody is called twice for one step; the next step of
the escalation covers the gap.
"""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol

from ..domain import keys, wording
from ..domain.messages import (
    CardPayload,
    ChannelPayload,
    Delivered,
    Outgoing,
    PageCard,
    PagePayload,
    Payload,
    ReminderPayload,
    ReportPayload,
    ThreadPayload,
    WritebackPayload,
)
from ..domain.procedure import Procedure
from ..domain.team import Person
from ..domain.vocabulary import (
    PHONE_CHANNELS,
    Channel,
    MessageKind,
    NotificationState,
    PageEventKind,
    SlackTarget,
)
from ..errors import ChannelOptedOut, DeliveryFailed, EditConflict
from ..logs import log_event

log = logging.getLogger("oncallbot.delivery")

SEND_DEADLINE = timedelta(seconds=60)
SEND_WORKERS = 8
MAX_ATTEMPTS = 3
RETRY_BACKOFF = timedelta(seconds=15)


class Deliverer(Protocol):
    def deliver(self, message: Outgoing) -> Delivered: ...


def _card(page, procedure: Procedure) -> PageCard:
    tz, team = procedure.window.tz, procedure.team

    def who(person_id, at):
        person = team.person(person_id)
        return f"{person.name if person else person_id} at {at.astimezone(tz):%H:%M}" if at else None

    return PageCard(page.id, page.summary, page.state, page.responsible, team.person(page.responsible),
                    f"{page.deadline_at.astimezone(tz):%H:%M %Z}", who(page.on_it_by, page.on_it_at),
                    who(page.done_by, page.done_at), page.slack_channel, page.slack_thread_ts, page.slack_card_ts,
                    page.source)


def _payload(row, page, procedure: Procedure) -> Payload:
    """The typed payload of an outbox row; the card shows the page as it stands now."""
    kind = row.kind
    if kind in (MessageKind.CARD, MessageKind.CARD_UPDATE) and page:
        return CardPayload(_card(page, procedure), update=kind == MessageKind.CARD_UPDATE)
    if kind == MessageKind.THREAD and page:
        return ThreadPayload(_card(page, procedure))
    if kind == MessageKind.REMINDER and page:
        return ReminderPayload(_card(page, procedure))
    if kind in (MessageKind.PAGE, MessageKind.DIGEST) and row.page_id:
        return PagePayload(row.page_id, digest=kind == MessageKind.DIGEST)
    if kind == MessageKind.CHANNEL or kind == MessageKind.THREAD:
        return ChannelPayload(SlackTarget(row.target or SlackTarget.SUPPORT))
    if kind == MessageKind.WRITEBACK:
        return WritebackPayload(row.target, row.etag)
    return ReportPayload()


def _outgoing(tx, row, procedure: Procedure) -> Outgoing:
    page = tx.page(row.page_id) if row.page_id else None
    return Outgoing(row.id, MessageKind(row.kind), Channel(row.channel), row.text,
                    procedure.team.person(row.person_id), _payload(row, page, procedure), row.page_id)


def escalation_note(tx, page, procedure: Procedure) -> str | None:
    """Who sent this page up the chain and why, from the timeline (the reason is recorded there)."""
    if not page.escalated_by:
        return None
    reason = next((e.detail for e in reversed(tx.events_of(page.id)) if e.kind == PageEventKind.ESCALATED), None)
    person = procedure.team.person(page.escalated_by)
    return wording.escalation_note(person.name if person else page.escalated_by, reason)


def deliver_pending(store, procedure: Procedure, deliverer: Deliverer, now: datetime, page_id: int | None = None,
                    batch: int = 100, keep_going: Callable[[], bool] = lambda: True) -> int:
    """Send every pending notification (of one page, or all). Returns how many were sent.

    Different pages are sent in parallel; one page's messages go in order (its card before its thread).
    `keep_going` is asked between batches, so a shutdown does not wait for a whole backlog."""
    sent = 0
    with ThreadPoolExecutor(max_workers=SEND_WORKERS, thread_name_prefix="send") as pool:
        while keep_going():
            with store.transaction() as tx:
                rows = tx.claim_pending_notifications(now, now + SEND_DEADLINE, batch, page_id)
                messages = [(_outgoing(tx, row, procedure), _opted_out(tx, row)) for row in rows]
            if not messages:  # failures may have queued fallbacks, so stop only when nothing is left
                return sent
            groups: dict[object, list] = {}
            for message, opted_out in messages:
                key = message.page_id if message.page_id else ("notification", message.id)
                groups.setdefault(key, []).append((message, opted_out))
            futures = [pool.submit(_send_in_order, store, procedure, deliverer, group, now) for group in groups.values()]
            sent += sum(future.result() for future in futures)
    return sent


def _send_in_order(store, procedure: Procedure, deliverer: Deliverer, group: list, now: datetime) -> int:
    sent = 0
    for message, opted_out in group:
        if opted_out:  # queued before the opt-out, or by a path that did not check (a digest): never sent
            _record_failure(store, procedure, message,
                            ChannelOptedOut(f"not sent: the person opted out of {message.channel}"), now)
            continue
        sent += _send(store, procedure, deliverer, message, now)
    return sent


def _opted_out(tx, row) -> bool:
    return bool(row.person_id) and row.channel in PHONE_CHANNELS and tx.opted_out(row.person_id, row.channel)


def _send(store, procedure: Procedure, deliverer: Deliverer, message: Outgoing, now: datetime) -> int:
    try:
        result = deliverer.deliver(message)
    except DeliveryFailed as exc:
        _record_failure(store, procedure, message, exc, now)
        return 0
    with store.transaction() as tx:
        row = tx.notification(message.id)
        row.state, row.sent_at, row.provider_ref = NotificationState.SENT, now, result.ref
        if row.page_id and message.kind == MessageKind.CARD:
            page = tx.page(row.page_id)
            page.slack_card_ts = result.slack_ts
            if page.slack_thread_ts is None:
                page.slack_channel, page.slack_thread_ts = result.slack_channel, result.slack_ts
        if row.page_id and message.kind in (MessageKind.PAGE, MessageKind.DIGEST) and message.person:
            tx.add_event(row.page_id, now, PageEventKind.NOTIFIED, message.person.id, message.channel)
    return 1


def _record_failure(store, procedure: Procedure, message: Outgoing, exc: DeliveryFailed, now: datetime) -> None:
    person = message.person
    with store.transaction() as tx:
        row = tx.notification(message.id)
        row.attempts += 1
        row.error = str(exc)[:500]
        if exc.maybe_sent:  # never risk calling someone twice for one step
            _mark_ambiguous(tx, procedure, row, now)
            return
        if not exc.permanent and row.attempts < MAX_ATTEMPTS:
            row.state, row.claimed_until = NotificationState.PENDING, now + RETRY_BACKOFF * row.attempts
            log_event(log, "delivery will be retried", level=logging.WARNING, notification=row.id,
                      channel=row.channel, attempt=row.attempts, error=str(exc))
            return
        row.state = NotificationState.FAILED
        log_event(log, "delivery failed", level=logging.WARNING, notification=row.id, channel=row.channel,
                  kind=row.kind, error=str(exc))
        if row.kind == MessageKind.WRITEBACK and isinstance(exc, EditConflict):
            notify_approvers(tx, procedure, keys.writeback_failed(row.id), now,
                             wording.writeback_conflict_text(row.text, row.target, str(exc)))
            return
        if row.kind == MessageKind.WRITEBACK:
            notify_approvers(tx, procedure, keys.writeback_failed(row.id), now,
                             wording.writeback_failed_text(row.text, row.target, row.attempts, str(exc)))
            return
        if person is None or row.kind not in (MessageKind.PAGE, MessageKind.DIGEST):
            return
        if isinstance(exc, ChannelOptedOut) and tx.opt_out(person.id, row.channel, now, str(exc)):
            notify_approvers(tx, procedure, keys.opted_out(person.id, row.channel), now,
                             wording.opted_out_text(person.name, row.channel))
        if row.page_id:
            tx.add_event(row.page_id, now, PageEventKind.DELIVERY_FAILED, person.id, row.channel, str(exc)[:200])
            _fall_back(tx, procedure, row, person, now)
            if not isinstance(exc, ChannelOptedOut):
                notify_approvers(tx, procedure, keys.delivery_failed(row.id), now,
                                 wording.unreachable_text(person.name, row.channel, row.page_id, str(exc)))


def _fall_back(tx, procedure: Procedure, row, person: Person, now: datetime) -> None:
    """Try the person's other channels for the same step; the reach key makes this a no-op where the step
    had them."""
    page = tx.page(row.page_id)
    for channel in (Channel.SMS, Channel.VOICE, Channel.SLACK):
        if channel == row.channel or tx.opted_out(person.id, channel):
            continue
        if (channel in PHONE_CHANNELS and not person.phone) or (channel == Channel.SLACK and not person.slack_id):
            continue
        tx.add_notification(keys.on_channel(row.reach_key, channel), now, page_id=row.page_id, kind=MessageKind.PAGE,
                            channel=channel, person_id=person.id, reach_key=row.reach_key,
                            text=_fallback_text(tx, procedure, row, page, channel))


def _fallback_text(tx, procedure: Procedure, row, page, channel: str) -> str:
    """A fallback is a page on another channel; a digest's fallback pages with the digest's words."""
    if row.kind == MessageKind.DIGEST:
        return wording.page_text(channel, page.id, wording.digest_body(page.id), escalation_note(tx, page, procedure))
    return wording.page_text(channel, page.id, page.summary, escalation_note(tx, page, procedure))


def notify_approvers(tx, procedure: Procedure, subject: str, now: datetime, text: str) -> None:
    """Queue a Slack DM to every approver, once per subject (a `domain.keys` subject), in the caller's
    transaction."""
    for approver in procedure.team.approvers:
        tx.add_notification(keys.approver_report(subject, approver.id), now, kind=MessageKind.REPORT,
                            channel=Channel.SLACK, person_id=approver.id, text=text)


def reap_stale_sends(store, procedure: Procedure, now: datetime) -> int:
    """Sends interrupted by a crash: reported as ambiguous, never re-sent blindly."""
    with store.transaction() as tx:
        rows = tx.stale_sending(now)
        for row in rows:
            _mark_ambiguous(tx, procedure, row, now)
        return len(rows)


def _mark_ambiguous(tx, procedure: Procedure, row, now: datetime) -> None:
    row.state = NotificationState.AMBIGUOUS
    person = procedure.team.person(row.person_id)
    if row.page_id:
        tx.add_event(row.page_id, now, PageEventKind.DELIVERY_AMBIGUOUS, row.person_id, row.channel,
                     "interrupted while sending; not re-sent (the next step covers it)")
    if row.kind in (MessageKind.PAGE, MessageKind.DIGEST) and person:
        notify_approvers(tx, procedure, keys.delivery_ambiguous(row.id), now,
                         wording.ambiguous_text(row.channel, person.name, row.page_id))


FAILED_STATUSES = {"failed", "undelivered", "busy", "no-answer", "canceled"}
OPT_OUT_CODES = {"21610"}


def record_delivery_status(store, procedure: Procedure, provider_ref: str, status: str, error_code: str | None,
                           now: datetime) -> bool:
    """A Twilio status callback. A text that failed later falls back like one refused at once.

    Returns False for an unknown reference (not ours, or already forgotten)."""
    with store.transaction() as tx:
        row = tx.notification_by_ref(provider_ref)
        if row is None:
            return False
        row.delivery_status = status
        person = procedure.team.person(row.person_id)
        if status not in FAILED_STATUSES or row.state == NotificationState.FAILED or person is None \
                or row.kind not in (MessageKind.PAGE, MessageKind.DIGEST):
            return True
        row.state, row.error = NotificationState.FAILED, f"{status} (error {error_code})" if error_code else status
        if row.channel == Channel.VOICE and status in ("busy", "no-answer", "canceled"):
            return True  # an unanswered call is the escalation's job, not a delivery problem
        if error_code in OPT_OUT_CODES and tx.opt_out(person.id, row.channel, now, f"Twilio error {error_code}"):
            notify_approvers(tx, procedure, keys.opted_out(person.id, row.channel), now,
                             wording.opted_out_text(person.name, row.channel))
        elif error_code not in OPT_OUT_CODES:
            notify_approvers(tx, procedure, keys.delivery_failed(row.id), now,
                             wording.not_delivered_text(row.channel, person.name, row.page_id, row.error))
        if row.page_id:
            tx.add_event(row.page_id, now, PageEventKind.DELIVERY_FAILED, person.id, row.channel, row.error)
            _fall_back(tx, procedure, row, person, now)
        return True
