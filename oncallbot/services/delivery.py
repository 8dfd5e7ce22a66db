"""Sending what the outbox holds, after the transaction that queued it has committed.

A row is marked `sending` with a deadline in its own commit before the provider is called. A process
that dies mid-send leaves a `sending` row past its deadline: `reap_stale_sends` marks it ambiguous and
tells the approvers instead of re-sending it, so nobody is called twice for one step; the next step of
the escalation covers the gap.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ..domain.procedure import Procedure
from ..domain.team import Person
from ..errors import ChannelOptedOut, DeliveryFailed, EditConflict
from ..logs import log_event

log = logging.getLogger("oncallbot.delivery")

SEND_DEADLINE = timedelta(seconds=60)
SEND_WORKERS = 8
MAX_ATTEMPTS = 3
RETRY_BACKOFF = timedelta(seconds=15)


@dataclass(frozen=True)
class PageCard:
    """What a page's Slack message shows; the Slack adapter lays it out."""

    id: int
    summary: str
    state: str
    responsible: str  # person id, office or nobody
    responsible_person: Person | None
    deadline: str  # local time label
    on_it: str | None  # "Kelly Nguyen at 19:04"
    done: str | None
    slack_channel: str | None
    slack_thread_ts: str | None
    slack_card_ts: str | None
    source: str = ""  # the weekly test page ("test") cannot be closed as not a ticket


@dataclass(frozen=True)
class Outgoing:
    id: int
    kind: str  # card | card_update | thread | channel | page | digest | report
    channel: str  # sms | voice | slack
    text: str
    person: Person | None
    target: str | None  # support | office, for channel posts
    card: PageCard | None
    etag: str | None = None  # a calendar write-back: the event version it was approved on


@dataclass(frozen=True)
class Delivered:
    ref: str | None
    slack_channel: str | None = None
    slack_ts: str | None = None


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


def _text(row, page, escalation: str | None = None) -> str:
    """`escalation`: "Escalated by Aisha Khan: <reason>", for the pages a person sent up the chain."""
    if row.kind == "page" and row.channel == "sms":
        why = f" -- {escalation}" if escalation else ""
        return f"[oncallbot] Page #{page.id}: {page.summary}{why} -- reply 1 for On It!, DONE when resolved."
    if row.kind == "page" and row.channel == "voice":
        if escalation:  # read out as its own sentence
            return f"On-call page number {page.id}. {_sentence(page.summary)} {_sentence(escalation)}"
        return f"On-call page number {page.id}. {page.summary}"
    if row.kind == "page":
        why = f"\n{escalation}" if escalation else ""
        return f"Page #{page.id} needs an On It!: {page.summary}{why}"
    if row.kind == "digest":
        return f"[oncallbot] {row.text}"
    return row.text


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _escalation(tx, page, procedure: Procedure) -> str | None:
    """Who sent this page up the chain and why, from the timeline (the reason is recorded there)."""
    if not page.escalated_by:
        return None
    reason = next((e.detail for e in reversed(tx.events_of(page.id)) if e.kind == "escalated"), None)
    person = procedure.team.person(page.escalated_by)
    name = person.name if person else page.escalated_by
    return f"Escalated by {name}: {reason}" if reason else f"Escalated by {name}."


def _outgoing(tx, row, procedure: Procedure) -> Outgoing:
    page = tx.page(row.page_id) if row.page_id else None
    text = row.text
    if page:
        text = _text(row, page, _escalation(tx, page, procedure) if row.kind == "page" else None)
    return Outgoing(row.id, row.kind, row.channel, text, procedure.team.person(row.person_id), row.target,
                    _card(page, procedure) if page else None,
                    etag=row.etag)


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
                key = message.card.id if message.card else ("notification", message.id)
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
    return bool(row.person_id) and row.channel in ("sms", "voice") and tx.opted_out(row.person_id, row.channel)


def _send(store, procedure: Procedure, deliverer: Deliverer, message: Outgoing, now: datetime) -> int:
    try:
        result = deliverer.deliver(message)
    except DeliveryFailed as exc:
        _record_failure(store, procedure, message, exc, now)
        return 0
    with store.transaction() as tx:
        row = tx.notification(message.id)
        row.state, row.sent_at, row.provider_ref = "sent", now, result.ref
        if row.page_id and message.kind == "card":
            page = tx.page(row.page_id)
            page.slack_card_ts = result.slack_ts
            if page.slack_thread_ts is None:
                page.slack_channel, page.slack_thread_ts = result.slack_channel, result.slack_ts
        if row.page_id and message.kind in ("page", "digest") and message.person:
            tx.add_event(row.page_id, now, "notified", message.person.id, message.channel)
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
            row.state, row.claimed_until = "pending", now + RETRY_BACKOFF * row.attempts
            log_event(log, "delivery will be retried", level=logging.WARNING, notification=row.id,
                      channel=row.channel, attempt=row.attempts, error=str(exc))
            return
        row.state = "failed"
        log_event(log, "delivery failed", level=logging.WARNING, notification=row.id, channel=row.channel,
                  kind=row.kind, error=str(exc))
        if row.kind == "writeback" and isinstance(exc, EditConflict):
            notify_approvers(tx, procedure, f"writeback:{row.id}", now,
                    f"Did not write an approved change to the rotation calendar ({row.text}, event {row.target}): "
                    f"{exc}. Check the event, and make the change by hand if it still holds.")
            return
        if row.kind == "writeback":
            notify_approvers(tx, procedure, f"writeback:{row.id}", now,
                    f"Could not write an approved change to the rotation calendar ({row.text}, event "
                    f"{row.target}) after {row.attempts} attempt(s): {exc}. Please change the calendar by hand.")
            return
        if person is None or row.kind not in ("page", "digest"):
            return
        if isinstance(exc, ChannelOptedOut) and tx.opt_out(person.id, row.channel, now, str(exc)):
            notify_approvers(tx, procedure, f"optout:{person.id}:{row.channel}", now,
                    f"{person.name} has opted out of {row.channel.upper()} (replied STOP). Pages reach them by "
                    f"their other channels until they text START.")
        if row.page_id:
            tx.add_event(row.page_id, now, "delivery_failed", person.id, row.channel, str(exc)[:200])
            _fall_back(tx, row, person, now)
            if not isinstance(exc, ChannelOptedOut):
                notify_approvers(tx, procedure, f"failed:{row.id}", now,
                        f"Could not reach {person.name} by {row.channel} for page #{row.page_id}: {exc}")


def _fall_back(tx, row, person: Person, now: datetime) -> None:
    """Try the person's other channels for the same step; keys make this a no-op where the step had them."""
    prefix = row.key.rsplit(":", 1)[0] if row.kind == "page" else f"{row.key}:fallback"
    for channel in ("sms", "voice", "slack"):
        if channel == row.channel or tx.opted_out(person.id, channel):
            continue
        if (channel in ("sms", "voice") and not person.phone) or (channel == "slack" and not person.slack_id):
            continue
        tx.add_notification(f"{prefix}:{channel}", now, page_id=row.page_id, kind="page", channel=channel,
                            person_id=person.id, text=row.text)


def notify_approvers(tx, procedure: Procedure, key: str, now: datetime, text: str) -> None:
    """Queue a Slack DM to every approver, once per key, in the caller's transaction."""
    for approver in procedure.team.approvers:
        tx.add_notification(f"report:{key}:{approver.id}", now, kind="report", channel="slack",
                            person_id=approver.id, text=text)


def reap_stale_sends(store, procedure: Procedure, now: datetime) -> int:
    """Sends interrupted by a crash: reported as ambiguous, never re-sent blindly."""
    with store.transaction() as tx:
        rows = tx.stale_sending(now)
        for row in rows:
            _mark_ambiguous(tx, procedure, row, now)
        return len(rows)


def _mark_ambiguous(tx, procedure: Procedure, row, now: datetime) -> None:
    row.state = "ambiguous"
    person = procedure.team.person(row.person_id)
    if row.page_id:
        tx.add_event(row.page_id, now, "delivery_ambiguous", row.person_id, row.channel,
                     "interrupted while sending; not re-sent (the next step covers it)")
    if row.kind in ("page", "digest") and person:
        notify_approvers(tx, procedure, f"ambiguous:{row.id}", now,
                f"A {row.channel} to {person.name} for page #{row.page_id} may not have been sent "
                f"(interrupted mid-send). It was not repeated.")


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
        if status not in FAILED_STATUSES or row.state == "failed" or person is None or row.kind not in ("page", "digest"):
            return True
        row.state, row.error = "failed", f"{status} (error {error_code})" if error_code else status
        if row.channel == "voice" and status in ("busy", "no-answer", "canceled"):
            return True  # an unanswered call is the escalation's job, not a delivery problem
        if error_code in OPT_OUT_CODES and tx.opt_out(person.id, row.channel, now, f"Twilio error {error_code}"):
            notify_approvers(tx, procedure, f"optout:{person.id}:{row.channel}", now,
                    f"{person.name} has opted out of {row.channel.upper()} (replied STOP). Pages reach them by "
                    f"their other channels until they text START.")
        elif error_code not in OPT_OUT_CODES:
            notify_approvers(tx, procedure, f"failed:{row.id}", now,
                    f"A {row.channel} to {person.name} for page #{row.page_id} was not delivered ({row.error}).")
        if row.page_id:
            tx.add_event(row.page_id, now, "delivery_failed", person.id, row.channel, row.error)
            _fall_back(tx, row, person, now)
        return True
