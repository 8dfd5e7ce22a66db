"""Sending what the outbox holds, after the transaction that queued it has committed.

A row is marked `sending` with a deadline in its own commit before the provider is called. A process
that dies mid-send leaves a `sending` row past its deadline (a send the provider did not answer in time is
left so too): `reap_stale_sends` asks the provider whether it has the message (Slack: by the outbox key in
the message's metadata; Twilio: the texts and calls to that number since it was queued). It is marked sent
when the provider has it, sent again only when the provider shows it never went, and reported to the
approvers as ambiguous only when the provider cannot tell, so nobody is called twice for one step.

What a failure changes (retry, give up, fall back, opt-out, reports) is decided by `domain.delivery`;
this module loads the facts and applies the decision.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo

from ..domain import keys, wording
from ..domain.audit import PageEvent
from ..domain.confirmation import DELIVERED_STATUSES, answered, leaves_voicemail
from ..domain.delivery import (
    FAILED_STATUSES,
    FALLBACK_ORDER,
    FailedMessage,
    FailureDecision,
    SendError,
    SendTrail,
    decide_interrupted_send,
    decide_reconciled,
    decide_send_failure,
    decide_status_failure,
    may_have_reached_provider,
    provider_shows,
    resolve_lookups,
    status_error,
)
from ..domain.messages import (
    CardPayload,
    ChannelPayload,
    Delivered,
    Found,
    Outgoing,
    PageCard,
    PagePayload,
    Payload,
    ReminderPayload,
    ReportPayload,
    SendCheck,
    SentSwapMessage,
    StormPayload,
    SwapPayload,
    ThreadPayload,
    VoicemailPayload,
    WritebackPayload,
)
from ..domain.pacing import Bucket, PacingPlan, SlackPace, pace_slack, queued_for_slack
from ..domain.paging import TEST_PAGE_SOURCE, voice_calls_allowed
from ..domain.procedure import Procedure
from ..domain.swap_flow import swap_card
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
from ..ports import (
    Deliverer,
    NotificationRecord,
    NotificationUpdate,
    PageRecord,
    PageUpdate,
    SentFinder,
    Store,
    StoreTx,
)

__all__ = [
    "Delivered",
    "Deliverer",
    "Outgoing",
    "PageCard",
    "Claimed",
    "apply_early_statuses",
    "claim_pending",
    "deliver_pending",
    "notify_approvers",
    "reap_stale_sends",
    "record_answered_by",
    "record_delivery_status",
]

log = logging.getLogger("oncallbot.delivery")

SEND_DEADLINE = timedelta(seconds=60)
# A send starts only while this much of its claim is left: it is over (answered, or given up by the client's
# 10 s timeout) before the claim ends and another replica may look it up.
SEND_MARGIN = timedelta(seconds=15)
SEND_WORKERS = 8
SLOT_MEMORY = timedelta(minutes=10)


def _card(page: PageRecord, procedure: Procedure, recording: bool = False) -> PageCard:
    tz, team = procedure.window.tz, procedure.team

    def who(person_id: str | None, at: datetime | None) -> str | None:
        person = team.person(person_id)
        return f"{person.name if person else person_id} at {at.astimezone(tz):%H:%M}" if at else None

    return PageCard(page.id, page.summary, page.state, page.responsible, team.person(page.responsible),
                    f"{page.deadline_at.astimezone(tz):%H:%M %Z}", who(page.on_it_by, page.on_it_at),
                    who(page.done_by, page.done_at), page.slack_channel, page.slack_thread_ts, page.slack_card_ts,
                    page.source, page.details, recording)


def _payload(row: NotificationRecord, page: PageRecord | None, procedure: Procedure,
             recording: bool = False) -> Payload:
    """The typed payload of an outbox row; the card shows the page as it stands now."""
    kind = row.kind
    if kind in (MessageKind.CARD, MessageKind.CARD_UPDATE) and page:
        return CardPayload(_card(page, procedure, recording), update=kind == MessageKind.CARD_UPDATE)
    if kind == MessageKind.THREAD and page:
        return ThreadPayload(_card(page, procedure))
    if kind == MessageKind.REMINDER and page:
        return ReminderPayload(_card(page, procedure))
    if kind in (MessageKind.PAGE, MessageKind.DIGEST) and row.page_id:
        # The test page's DM carries a Confirm button: pressing it is one of the deliberate answers.
        confirm = kind == MessageKind.PAGE and row.channel == Channel.SLACK and page is not None \
            and page.source == TEST_PAGE_SOURCE
        # With the office line, the test page's call goes through it: the line rings the person, screened.
        line = procedure.phone_line
        through_line = line.numbers[0] if line and kind == MessageKind.PAGE and row.channel == Channel.VOICE \
            and page is not None and page.source == TEST_PAGE_SOURCE else None
        return PagePayload(row.page_id, digest=kind == MessageKind.DIGEST, confirm=confirm, through_line=through_line)
    if kind == MessageKind.VOICEMAIL:
        return VoicemailPayload(row.target or "")
    if kind in (MessageKind.CHANNEL, MessageKind.THREAD):
        return ChannelPayload(SlackTarget(row.target or SlackTarget.SUPPORT))
    if kind == MessageKind.WRITEBACK:
        return WritebackPayload(row.target or "", row.etag)
    return ReportPayload(verify=kind == MessageKind.VERIFY)


def _outgoing(tx: StoreTx, row: NotificationRecord, procedure: Procedure,
              carried: Sequence[NotificationRecord] | None = None) -> Outgoing:
    """`carried`: the rows sent as part of this one (the pacer's grouping); None: not known here (a send
    looked up after an interruption), so a card that may carry a storm is looked up."""
    page = tx.page(row.page_id) if row.page_id else None
    call = tx.phone_call_of_page(page.id) if page is not None and page.source == "voicemail" else None
    recording = call is not None and call.recording_sid is not None
    payload: Payload
    if row.kind in SWAP_KINDS:
        payload = _swap_payload(tx, row, procedure)
    elif row.kind == MessageKind.CARD and row.channel == Channel.SLACK and (storm := _storm_rows(tx, row, carried)):
        payload = StormPayload(tuple(r.id for r in storm))
    elif row.kind == MessageKind.THREAD and page is not None and _in_storm_thread(page) \
            and (storm_ts := storm_thread(tx, page.id)) not in (None, STORM_LINK):
        payload = ThreadPayload(_card(page, procedure), storm_ts=storm_ts)
    else:
        payload = _payload(row, page, procedure, recording)
    return Outgoing(row.id, MessageKind(row.kind), Channel(row.channel), row.text,
                    procedure.team.person(row.person_id), payload, row.page_id, row.key)


# --- a storm's cards (domain.pacing): one row carries the storm message, the others are folded into it ----
# A folded card's provider_ref links it to its carrier (`storm:<id>`) from the moment it is folded, in the
# transaction that claims the carrier, and becomes the storm message's ts once it is posted (the carrier's
# own ref); a page whose card went so has no card ts of its own: no redraws, its lines in the storm's thread.

STORM_LINK = "storm:"


def _storm_link(row_id: int) -> str:
    return f"{STORM_LINK}{row_id}"


def _may_carry(row: NotificationRecord) -> bool:
    """Only a card that was tried before can carry folded cards already (its first try's transaction both
    folded them and claimed it): its send failed or was interrupted, and it came back."""
    return row.kind == MessageKind.CARD and (row.attempts > 0 or row.error is not None)


def _storm_rows(tx: StoreTx, row: NotificationRecord,
                carried: Sequence[NotificationRecord] | None) -> list[NotificationRecord]:
    if carried is not None:
        return [r for r in carried if r.kind == MessageKind.CARD]
    return tx.notifications_by_refs([_storm_link(row.id)])


def storm_thread(tx: StoreTx, page_id: int) -> str | None:
    """The ts of the storm message a page's card was folded into (posted), `STORM_LINK` while that message
    is not posted yet, or None (not folded)."""
    for n in tx.notifications_of(page_id):
        if n.kind == MessageKind.CARD and n.channel == Channel.SLACK \
                and n.state in (NotificationState.SENT, NotificationState.GROUPED) and n.provider_ref:
            return STORM_LINK if n.provider_ref.startswith(STORM_LINK) else n.provider_ref
    return None


SWAP_KINDS = (MessageKind.SWAP, MessageKind.SWAP_UPDATE)


def _swap_payload(tx: StoreTx, row: NotificationRecord, procedure: Procedure) -> Payload:
    """A swap DM shows the request as it stands when sent, with the buttons its recipient may press now."""
    request = tx.swap_request(row.target or "")
    if request is None:
        return ReportPayload()
    card = swap_card(request, row.person_id or "", procedure.team)
    if row.kind == MessageKind.SWAP_UPDATE:
        sent = tuple(SentSwapMessage(c, t, x) for c, t, x in tx.swap_messages(request.id, row.person_id or ""))
        return SwapPayload(card, update=True, sent=sent)
    return SwapPayload(card)


def escalation_note(tx: StoreTx, page: PageRecord, procedure: Procedure) -> str | None:
    """Who sent this page up the chain and why, from the timeline (the reason is recorded there)."""
    return escalation_note_of(page, tx.events_of(page.id) if page.escalated_by else (), procedure)


def escalation_note_of(page: PageRecord, timeline: Sequence[PageEvent], procedure: Procedure) -> str | None:
    """The same, from the page's timeline as read."""
    if not page.escalated_by:
        return None
    reason = next((e.detail for e in reversed(timeline) if e.kind == PageEventKind.ESCALATED), None)
    person = procedure.team.person(page.escalated_by)
    return wording.escalation_note(person.name if person else page.escalated_by, reason)


Batch = list[tuple[Outgoing, bool]]  # each message, and whether its person opted out of its channel
Folded = dict[int, list[NotificationRecord]]  # a row sent now -> the rows grouped into it


class SlackPacer:
    """This process's Slack buckets (domain.pacing), shared by every thread that sends. Per process: with
    several replicas each paces its own sends."""

    def __init__(self, pace: SlackPace | None = None, tz: tzinfo = UTC, pages_url: str | None = None):
        self.pace = pace or SlackPace()
        self.tz = tz  # the team's: a storm message says when its pages were opened
        self.pages_url = pages_url  # the web view's pages list, where a storm's pages can be looked at
        self._buckets: dict[str, Bucket] = {}
        self._slots: dict[int, datetime] = {}  # rows left waiting, and the slot each already holds
        self._storm_slots: dict[int, datetime] = {}  # of those, the cards waiting for a storm message's slot
        self._lock = threading.Lock()
        self.backlog = 0  # the largest number of Slack messages left waiting after one round (the bench reads it)

    def plan(self, tx: StoreTx, rows: list[NotificationRecord],
             now: datetime) -> tuple[list[NotificationRecord], Folded]:
        """Pace the claimed rows in the claiming transaction: the rows to send now (grouped rows' words joined
        into the one that carries them, and the rows it carries); the others left pending until their
        destination has room, or marked grouped."""
        slack = [row for row in rows if row.channel == Channel.SLACK and not _no_card_to_redraw(tx, row)]
        if not slack:
            return [row for row in rows if row.channel != Channel.SLACK], {}
        storm_threads = {row.id: ts for row in slack if row.kind == MessageKind.THREAD and row.page_id
                         and (ts := _storm_thread_of(tx, row.page_id)) is not None}
        by_id = {row.id: row for row in slack}
        for row_id in [r for r, ts in storm_threads.items() if ts == STORM_LINK]:  # its storm message is not
            # posted yet (being sent, or retried): the line waits for it rather than go to the channel itself,
            # until the storm message's slot at the earliest (not claimed again every second until then)
            soonest = now + timedelta(seconds=1 / self.pace.per_second)
            slot = _storm_slot(tx, by_id[row_id].page_id or 0)
            tx.update_notification(row_id, state=NotificationState.PENDING,
                                   claimed_until=max(soonest, slot) if slot is not None else soonest)
            del storm_threads[row_id]
            slack = [row for row in slack if row.id != row_id]
        if not slack:
            return [row for row in rows if row.channel != Channel.SLACK], {}
        # A folded page's line says which page it is about: many pages' lines share that thread.
        slack = [replace(row, text=wording.storm_thread_line(row.page_id or 0, row.text))
                 if row.id in storm_threads else row for row in slack]
        queued = [replace(queued_for_slack(row.id, row.kind, row.target, row.person_id, row.page_id,
                                           confirm=_confirm_dm(tx, row), storm_thread=storm_threads.get(row.id)),
                          chars=len(row.text))
                  for row in slack]
        with self._lock:
            queued = [replace(q, reserved=q.id in self._slots) for q in queued]
            plan = pace_slack(queued, self._buckets, self.pace, now)
            self._buckets.update(plan.buckets)
            for unit in plan.send:
                if unit.storm:  # its slot is spent: cards that waited for it and come later join the next one
                    spent = {self._storm_slots[i] for i in (unit.id, *unit.folded) if i in self._storm_slots}
                    self._forget([r for r, until in self._storm_slots.items() if until in spent])
                self._forget([unit.id, *unit.folded])
            self._slots.update(plan.defer)
            cards = {q.id for q in queued if q.card}
            self._storm_slots.update((row_id, until) for row_id, until in plan.defer if row_id in cards)
            # A slot whose row another replica sent (or that a rollback lost) is forgotten in time.
            self._forget([r for r, until in self._slots.items() if until < now - SLOT_MEMORY])
            self.backlog = max(self.backlog, len(plan.defer))
        sending, folded = _apply_pacing(tx, slack, plan, self, now)
        return [row for row in rows if row.channel != Channel.SLACK] + sending, folded

    def _forget(self, row_ids: Sequence[int]) -> None:
        for row_id in row_ids:
            self._slots.pop(row_id, None)
            self._storm_slots.pop(row_id, None)

    def forget(self, row_ids: Sequence[int]) -> None:
        """Rows sent by another path than a plan of ours (the cards a storm message takes)."""
        with self._lock:
            self._forget(row_ids)


def _storm_slot(tx: StoreTx, page_id: int) -> datetime | None:
    """When the storm message a page's card was folded into is due to be sent (its carrier's slot), if known."""
    for n in tx.notifications_of(page_id):
        if n.kind == MessageKind.CARD and n.provider_ref and n.provider_ref.startswith(STORM_LINK):
            carrier = tx.notification(int(n.provider_ref.removeprefix(STORM_LINK)))
            return carrier.claimed_until if carrier is not None and carrier.state == NotificationState.PENDING \
                else None
    return None


def _storm_thread_of(tx: StoreTx, page_id: int) -> str | None:
    page = tx.page(page_id)
    return storm_thread(tx, page_id) if page is not None and _in_storm_thread(page) else None


def _in_storm_thread(page: PageRecord) -> bool:
    """Whether a page's lines go to the thread of the storm message its card was folded into: only when it has
    no thread of its own. A Slack ticket keeps its own thread from the start, whenever its card is folded, so
    its lines are always there (and looked for there)."""
    return page.slack_card_ts is None and page.slack_thread_ts is None


def _no_card_to_redraw(tx: StoreTx, row: NotificationRecord) -> bool:
    """A redraw of a card still waiting its turn is grouped into it (marked so): the card, when posted, shows
    the page as it then stands. A page whose card was folded into a storm message has no card to redraw:
    its redraws are marked grouped too (the storm message is not redrawn; the page's timeline has it all)."""
    if row.kind != MessageKind.CARD_UPDATE or not row.page_id:
        return False
    page = tx.page(row.page_id)
    if page is None or page.slack_card_ts is not None:
        return False
    cards = [n for n in tx.notifications_of(page.id) if n.kind == MessageKind.CARD]
    waiting = any(n.state in (NotificationState.PENDING, NotificationState.SENDING) for n in cards)
    folded = not waiting and any(n.state in (NotificationState.SENT, NotificationState.GROUPED) for n in cards)
    if waiting or folded:
        tx.update_notification(row.id, state=NotificationState.GROUPED, claimed_until=None)
    return waiting or folded


CARD_WAIT = timedelta(seconds=1)  # a line waiting for its card is claimed again after this at the soonest


def _waits_for_its_card(tx: StoreTx, row: NotificationRecord, now: datetime) -> bool:
    """A page's line whose card is not posted yet (queued, being sent, or being looked up) waits for the card's
    thread rather than go to the channel on its own (put back, until the card's slot at the soonest), where
    nobody could tell which page it is about and an interrupted one could not be found again in a busy
    channel. A card folded into a storm message has the storm's thread (`storm_thread`); without a card to
    wait for (it failed), the line goes to the channel."""
    if row.kind != MessageKind.THREAD or row.channel != Channel.SLACK or not row.page_id:
        return False
    page = tx.page(row.page_id)
    if page is None or page.slack_thread_ts is not None:
        return False
    cards = [n for n in tx.notifications_of(page.id) if n.kind == MessageKind.CARD
             and n.state in (NotificationState.PENDING, NotificationState.SENDING)]
    if not cards:
        return False
    slot = cards[0].claimed_until if cards[0].state == NotificationState.PENDING else None
    tx.update_notification(row.id, state=NotificationState.PENDING,
                           claimed_until=max(now + CARD_WAIT, slot) if slot is not None else now + CARD_WAIT)
    return True


def _confirm_dm(tx: StoreTx, row: NotificationRecord) -> bool:
    if row.kind != MessageKind.PAGE or not row.page_id:
        return False
    page = tx.page(row.page_id)
    return page is not None and page.source == TEST_PAGE_SOURCE


STORM_TAKES = 1000  # cards a storm message takes beyond the claimed batch: its words and its writes stay small


def _apply_pacing(tx: StoreTx, rows: list[NotificationRecord], plan: PacingPlan, pacer: SlackPacer,
                  now: datetime) -> tuple[list[NotificationRecord], Folded]:
    by_id = {row.id: row for row in rows}
    carried: Folded = {}
    for row_id, until in plan.defer:
        tx.update_notification(row_id, state=NotificationState.PENDING, claimed_until=until)
    sending = []
    for unit in plan.send:
        row = by_id[unit.id]
        if row.kind == MessageKind.CARD:
            members = [row, *(by_id[i] for i in unit.folded)]
            if unit.storm:  # every card waiting for the channel joins the storm message sent now, not just this batch
                waiting = tx.claim_waiting_cards(now, now + SEND_DEADLINE, STORM_TAKES)
                pacer.forget([w.id for w in waiting])
                members += waiting
            # A card that carried a storm before (its send failed and it came back) still carries it.
            before = tx.notifications_by_refs([_storm_link(m.id) for m in members if _may_carry(m)])
            if unit.storm or before:
                row, carried[row.id] = _fold_storm(tx, members, before, pacer)
            sending.append(row)
            continue
        if unit.folded:
            folded = [by_id[i] for i in unit.folded]
            for other in folded:
                tx.update_notification(other.id, state=NotificationState.GROUPED, claimed_until=None)
            texts = [row.text, *(other.text for other in folded)]
            if row.kind == MessageKind.THREAD:
                row = replace(row, text=wording.slack_grouped_lines(texts))
            elif row.kind != MessageKind.CARD_UPDATE:
                row = replace(row, text=wording.slack_grouped_dm(texts))
            tx.update_notification(row.id, text=row.text)
            carried[row.id] = folded
        sending.append(row)
    return sending, carried


@dataclass(frozen=True)
class Claimed:
    """Outbox rows claimed for sending (marked `sending` with their deadline) in some transaction: how many
    were claimed, the messages to send now (each with whether its person opted out of its channel), and the
    rows grouped into them. What pacing left waiting is not among them."""

    count: int
    messages: Batch
    folded: Folded
    claimed_until: datetime  # the claim's end: a send that no longer holds it is not made


def claim_pending(tx: StoreTx, procedure: Procedure, now: datetime, page_id: int | None = None, batch: int = 100,
                  keys: Sequence[str] | None = None, pacer: SlackPacer | None = None) -> Claimed:
    """Claim what the outbox holds (of one page, those queued under `keys`, or all) in the caller's transaction;
    `deliver_pending(..., claimed=...)` sends it once that transaction has committed."""
    rows = tx.claim_pending_notifications(now, now + SEND_DEADLINE, batch, page_id, keys)
    count = len(rows)
    rows = [row for row in rows if not _waits_for_its_card(tx, row, now)]
    folded: Folded = {}
    if pacer is not None:
        rows, folded = pacer.plan(tx, rows, now)
    return Claimed(count, [(_outgoing(tx, row, procedure, folded.get(row.id, ())), _opted_out(tx, row))
                                    for row in rows], folded, now + SEND_DEADLINE)


def _fold_storm(tx: StoreTx, members: list[NotificationRecord], before: list[NotificationRecord],
                pacer: SlackPacer) -> tuple[NotificationRecord, list[NotificationRecord]]:
    """The storm message of `members` (cards; the first carries it) and of the cards they carried before:
    the others are marked grouped and linked to the carrier, the carrier's text is the storm message."""
    carrier = members[0]
    seen = {carrier.id}
    folded = []
    for other in [*members[1:], *before]:
        if other.id not in seen:
            seen.add(other.id)
            folded.append(other)
            tx.update_notification(other.id, state=NotificationState.GROUPED, claimed_until=None,
                                   provider_ref=_storm_link(carrier.id))
    pages = tx.pages_by_ids([c.page_id for c in (carrier, *folded) if c.page_id])
    text = wording.storm_text([(p.id, p.summary, p.created_at) for p in pages], pacer.tz, pacer.pages_url)
    tx.update_notification(carrier.id, text=text)
    return replace(carrier, text=text), folded


def deliver_pending(store: Store, procedure: Procedure, deliverer: Deliverer, now: datetime,
                    page_id: int | None = None, batch: int = 100,
                    keep_going: Callable[[], bool] = lambda: True, keys: Sequence[str] | None = None,
                    pacer: SlackPacer | None = None, claimed: Claimed | None = None,
                    clock: Callable[[], datetime] | None = None) -> int:
    """Send every pending notification (of one page, those queued under `keys`, or all). Returns how many
    were sent.

    Different pages are sent in parallel; one page's messages go in order (its card before its thread).
    `keep_going` is asked between batches, so a shutdown does not wait for a whole backlog. With a `pacer`,
    Slack messages keep to Slack's pace: what backs up is grouped or waits for a later round. `claimed`: a
    first batch already claimed (`claim_pending`) in a transaction that has committed, e.g. the one that opened
    the page: sent first, whatever `keep_going` says (its rows are ours until their deadline). With a `clock`,
    each round claims from the time it starts: a loop that outlasts SEND_DEADLINE (a backlog with failures
    keeps it going) would otherwise claim rows until a time already past, and another replica would take those
    sends, still in flight, for interrupted and send them again."""
    sent = 0
    pool: ThreadPoolExecutor | None = None  # only when there is more than one page to send for at once
    try:
        while claimed is not None or keep_going():
            if claimed is None:
                if clock is not None:
                    now = clock()
                with store.transaction() as tx:
                    claimed = claim_pending(tx, procedure, now, page_id, batch, keys, pacer)
            this_round, claimed = claimed, None
            messages, folded = this_round.messages, this_round.folded
            claim = Claim(this_round.claimed_until, clock)
            if not this_round.count:  # failures may have queued fallbacks, so stop only when nothing is left
                return sent
            if not messages:  # what was claimed waits for Slack's pace: a later round sends it
                if this_round.count < batch:
                    return sent
                continue
            groups: dict[object, Batch] = {}
            for message, opted_out in messages:
                key = message.page_id if message.page_id else _group(message)
                groups.setdefault(key, []).append((message, opted_out))
            if len(groups) == 1:  # one page (an intake's card): no thread hop on the way to the provider
                round_sent = _send_in_order(store, procedure, deliverer, next(iter(groups.values())), now, claim,
                                            folded)
            else:
                pool = pool or ThreadPoolExecutor(max_workers=SEND_WORKERS, thread_name_prefix="send")
                futures = [pool.submit(_send_in_order, store, procedure, deliverer, group, now, claim, folded)
                           for group in groups.values()]
                round_sent = sum(future.result() for future in futures)
            sent += round_sent
            if round_sent == len(messages) and this_round.count < batch:  # no failure queued a fallback, none left
                return sent
    finally:
        if pool is not None:
            pool.shutdown()
    return sent


def _group(message: Outgoing) -> object:
    """One swap request's DMs and redraws go in order (a redraw after the DM it redraws); others in parallel."""
    if isinstance(message.payload, SwapPayload):
        return ("swap", message.payload.card.request_id)
    return ("notification", message.id)


@dataclass(frozen=True)
class Claim:
    """A round's claim on its rows: until when, and the clock it is read by (None: the round's start, when it
    holds)."""

    until: datetime
    clock: Callable[[], datetime] | None = None

    def holds(self) -> bool:
        return self.clock is None or self.until - self.clock() >= SEND_MARGIN


def _send_in_order(store: Store, procedure: Procedure, deliverer: Deliverer, group: Batch, now: datetime,
                   claim: Claim, folded: Folded | None = None) -> int:
    sent = 0
    for message, opted_out in group:
        if opted_out:  # queued before the opt-out, or by a path that did not check (a digest): never sent
            _record_failure(store, procedure, message,
                            ChannelOptedOut(f"not sent: the person opted out of {message.channel}"), now)
            continue
        sent += _send(store, procedure, deliverer, message, now, claim, (folded or {}).get(message.id, ()))
    return sent


def _opted_out(tx: StoreTx, row: NotificationRecord) -> bool:
    return bool(row.person_id) and row.channel in PHONE_CHANNELS and tx.opted_out(row.person_id or "", row.channel)


def _send(store: Store, procedure: Procedure, deliverer: Deliverer, message: Outgoing, now: datetime,
          claim: Claim, folded: Sequence[NotificationRecord] = ()) -> int:
    # A round that outlasted its claim (a slow provider, a long backlog) leaves the rest to the lookup of
    # interrupted sends: another replica may be sending them already.
    if not claim.holds():
        log_event(log, "send left to the lookup: its claim is ending", notification=message.id,
                  channel=message.channel)
        return 0
    if message.channel in PHONE_CHANNELS:  # in a commit of its own: without it, the provider never had it
        with store.transaction() as tx:
            if not tx.hand_over(message.id, claim.until, now):
                log_event(log, "send not made: no longer ours", notification=message.id, channel=message.channel)
                return 0
    try:
        result = deliverer.deliver(message)
    except DeliveryFailed as exc:
        _record_failure(store, procedure, message, exc, now)
        return 0
    with store.transaction() as tx:
        _record_sent(tx, message, result, now)
        for row in folded:  # sent as part of this message: their pages were notified too
            if isinstance(message.payload, StormPayload):
                continue  # recorded with the storm message (_record_sent)
            tx.update_notification(row.id, sent_at=now)
            if row.page_id and row.person_id and row.kind in (MessageKind.PAGE, MessageKind.DIGEST):
                tx.add_event(row.page_id, now, PageEventKind.NOTIFIED, row.person_id, row.channel)
    # After the commit above, so a status callback kept meanwhile is found by one of us.
    if result.ref and message.channel in PHONE_CHANNELS and apply_early_statuses(store, procedure, result.ref, now):
        # Counted like a failure: a status kept meanwhile may have queued a fallback, so the caller looks again.
        return 0
    return 1


def _record_sent(tx: StoreTx, message: Outgoing, result: Delivered, now: datetime) -> None:
    """What a send that reached the provider changes: the row, the page's card, the swap's DMs, the timeline."""
    tx.mark_sent(message.id, now, result.ref)
    if isinstance(message.payload, StormPayload):  # no page's card: each folded card carries the message's ts
        for row_id in message.payload.rows:
            tx.update_notification(row_id, sent_at=now, provider_ref=result.slack_ts or result.ref)
        return
    if message.page_id and message.kind == MessageKind.CARD:
        page = tx.page(message.page_id)
        changes: PageUpdate = {"slack_card_ts": result.slack_ts}
        if page is not None and page.slack_thread_ts is None:
            changes["slack_channel"], changes["slack_thread_ts"] = result.slack_channel, result.slack_ts
        tx.update_page(message.page_id, **changes)
    payload = message.payload
    if isinstance(payload, SwapPayload) and not payload.update and message.person and result.slack_ts:
        tx.add_swap_message(payload.card.request_id, message.person.id, result.slack_channel or "",
                            result.slack_ts, message.text)
    if message.page_id and message.kind in (MessageKind.PAGE, MessageKind.DIGEST) and message.person:
        tx.add_event(message.page_id, now, PageEventKind.NOTIFIED, message.person.id, message.channel)
    if message.page_id and message.kind == MessageKind.VOICEMAIL and message.person:
        tx.add_event(message.page_id, now, PageEventKind.VOICEMAIL, message.person.id, message.channel,
                     "voicemail left: a page is waiting, check Slack (a voicemail does not confirm)")


# --- failures: load, decide (domain.delivery), apply ---------------------------------------------------

def _failed(tx: StoreTx, procedure: Procedure, row: NotificationRecord, attempts: int,
            now: datetime) -> FailedMessage:
    """What a failure decision needs to know of a row (and, for a fallback, of its page)."""
    person = procedure.team.person(row.person_id)
    page = tx.page(row.page_id) if row.page_id and row.kind in (MessageKind.PAGE, MessageKind.DIGEST) else None
    opted_out = frozenset(c for c in FALLBACK_ORDER if person and tx.opted_out(person.id, c))
    policy = procedure.escalation
    throttled = page is not None and person is not None and not voice_calls_allowed(
        tx.recent_calls(person.id, now - policy.calls_period), policy, now)
    return FailedMessage(row.id, MessageKind(row.kind), Channel(row.channel), person, row.page_id, attempts,
                         row.text, row.target, row.reach_key, opted_out, page.summary if page else None,
                         escalation_note(tx, page, procedure) if page else None, row.person_id, throttled)


def _apply_failure(tx: StoreTx, procedure: Procedure, row: NotificationRecord, decision: FailureDecision,
                   now: datetime, changes: NotificationUpdate) -> None:
    changes["state"] = decision.state
    if decision.retry_at is not None:
        changes["claimed_until"] = decision.retry_at
    tx.update_notification(row.id, **changes)
    if decision.opt_out and row.person_id:
        tx.opt_out(row.person_id, decision.opt_out, now, decision.opt_out_reason)
    for event in decision.events:
        if row.page_id:
            tx.add_event(row.page_id, now, event.kind, event.person_id, event.channel, event.detail)
    for message in decision.fallbacks:
        tx.add_notification(message.key, now, page_id=row.page_id, kind=message.kind, channel=message.channel,
                            person_id=message.person_id, reach_key=message.reach_key, text=message.text)
    for report in decision.reports:
        notify_approvers(tx, procedure, report.subject, now, report.text)


def _record_failure(store: Store, procedure: Procedure, message: Outgoing, exc: DeliveryFailed,
                    now: datetime) -> None:
    with store.transaction() as tx:
        row = tx.notification(message.id)
        if row is None:
            return
        attempts = row.attempts + 1
        error = SendError(str(exc), exc.permanent, exc.maybe_sent, isinstance(exc, ChannelOptedOut),
                          isinstance(exc, EditConflict))
        decision = decide_send_failure(_failed(tx, procedure, row, attempts, now), error, now)
        _apply_failure(tx, procedure, row, decision, now, {"attempts": attempts, "error": str(exc)[:500]})
    if decision.state == NotificationState.PENDING:
        log_event(log, "delivery will be retried", level=logging.WARNING, notification=row.id,
                  channel=row.channel, attempt=attempts, error=str(exc))
    elif decision.state == NotificationState.FAILED:
        log_event(log, "delivery failed", level=logging.WARNING, notification=row.id, channel=row.channel,
                  kind=row.kind, error=str(exc))


def notify_approvers(tx: StoreTx, procedure: Procedure, subject: str, now: datetime, text: str) -> None:
    """Queue a Slack DM to every approver, once per subject (a `domain.keys` subject), in the caller's
    transaction."""
    for approver in procedure.team.approvers:
        tx.add_notification(keys.approver_report(subject, approver.id), now, kind=MessageKind.REPORT,
                            channel=Channel.SLACK, person_id=approver.id, text=text)


EARLY_STATUS_KEPT = timedelta(hours=1)  # a send records its sid within SEND_DEADLINE, or never
LOOKUP_MARGIN = timedelta(seconds=5)  # the provider's clock may run a little behind ours
RECONCILING = "interrupted; asking the provider whether it went"  # the `error` of a row being looked up
# After a text or call is handed over, the provider has it within this (the client's 10 s timeout, and its
# retries of a connection that failed).
PROVIDER_WINDOW = timedelta(seconds=30)


def _window(row: NotificationRecord) -> tuple[datetime, datetime] | None:
    """When the provider may have taken an interrupted send (by the provider's clock, give or take
    LOOKUP_MARGIN); None: it never reached the provider. A text or call: from its hand-over; a Slack post: its
    claim (`handed_at` holds the claim's start once it is looked up)."""
    if not may_have_reached_provider(row.channel, row.handed_at):
        return None
    start = row.handed_at or row.created_at
    length = PROVIDER_WINDOW if row.channel in PHONE_CHANNELS else SEND_DEADLINE
    return start - LOOKUP_MARGIN, start + length + LOOKUP_MARGIN


def _claim_start(row: NotificationRecord, now: datetime) -> datetime:
    """The earliest a Slack post left `sending` may have been made: its claim's start (a claim lasts
    SEND_DEADLINE; one that timed out was extended by less), or when it was queued if later."""
    if row.error == RECONCILING or row.claimed_until is None:  # looked up before, by a version without the mark
        return row.created_at
    return min(max(row.created_at, row.claimed_until - SEND_DEADLINE), now)


def reap_stale_sends(store: Store, procedure: Procedure, now: datetime, finder: SentFinder | None = None) -> int:
    """Sends interrupted by a crash, or not answered by the provider in time: never re-sent blindly.

    A text or call never handed to the provider is sent again at once. With a `finder` the provider is asked
    about the rest first: sent when it has the message, sent again when it shows the message never went, asked
    again later when it could not be reached, and reported as ambiguous only when it cannot tell. Without one,
    every such send is reported. Early statuses no send of ours claimed in time are
    forgotten. Returns how many sends were looked at."""
    with store.transaction() as tx:
        tx.forget_early_statuses(now - EARLY_STATUS_KEPT)
        stale = tx.stale_sending(now)
        unsent = [row for row in stale if not may_have_reached_provider(row.channel, row.handed_at)]
        for row in unsent:  # never handed to the provider: sent now, nothing to ask
            _apply_failure(tx, procedure, row, decide_reconciled(_failed(tx, procedure, row, row.attempts, now),
                                                                 Found(SendCheck.ABSENT), row.created_at, now),
                           now, {"error": "interrupted before it reached the provider"})
            log_event(log, "interrupted send looked up", notification=row.id, channel=row.channel, kind=row.kind,
                      provider="never handed over")
        rows = [row for row in stale if row not in unsent]
        if finder is None:
            for row in rows:
                _apply_failure(tx, procedure, row,
                               decide_interrupted_send(_failed(tx, procedure, row, row.attempts, now)), now, {})
            return len(stale)
        marked = []
        for row in rows:  # ours while the provider is asked; a replica that dies asking leaves them stale again
            if row.handed_at is None:  # a Slack post: the window it was made in, kept for every lookup
                row = replace(row, handed_at=_claim_start(row, now))
            tx.update_notification(row.id, claimed_until=now + SEND_DEADLINE, error=RECONCILING,
                                   handed_at=row.handed_at)
            marked.append(row)
        rows = marked
        messages = [_outgoing(tx, row, procedure) for row in rows]
    if not rows:
        return len(stale)
    def look_up(row: NotificationRecord, message: Outgoing) -> Found:
        since, until = _window(row) or (row.created_at, now)
        return finder.find_sent(message, since, until)

    with ThreadPoolExecutor(max_workers=SEND_WORKERS, thread_name_prefix="lookup") as pool:  # not one at a time
        founds = list(pool.map(look_up, rows, messages))
    groups: dict[tuple[str | None, str, str | int | None], list[tuple[NotificationRecord, Outgoing, Found]]] = {}
    for row, message, found in zip(rows, messages, founds, strict=True):
        # The sends to one person on one channel are placed together where the provider's records may not tell
        # them apart: all calls, the texts with one body.
        group = (row.person_id, row.channel, provider_shows(row.channel, row.text)) if row.person_id \
            else (None, row.channel, row.id)
        groups.setdefault(group, []).append((row, message, found))
    for group_rows in groups.values():
        for cluster in _overlapping(group_rows):
            _reconcile(store, procedure, cluster, now)
    return len(stale)


def _overlapping(group: list[tuple[NotificationRecord, Outgoing, Found]]
                 ) -> list[list[tuple[NotificationRecord, Outgoing, Found]]]:
    """A group's sends in runs whose windows overlap, oldest first: only within one can the provider's records
    of one be taken for another's."""
    ordered = sorted(group, key=lambda entry: _window(entry[0]) or (entry[0].created_at, entry[0].created_at))
    clusters: list[list[tuple[NotificationRecord, Outgoing, Found]]] = []
    end = None
    for entry in ordered:
        since, until = _window(entry[0]) or (entry[0].created_at, entry[0].created_at)
        if end is None or since > end:
            clusters.append([])
            end = until
        clusters[-1].append(entry)
        end = max(end, until)
    return clusters


def _trail(tx: StoreTx, rows: list[NotificationRecord]) -> SendTrail:
    first = rows[0]
    if first.person_id is None:
        return SendTrail()
    ours = {row.id for row in rows}
    windows = [w for row in rows if (w := _window(row))]
    since, until = min(w[0] for w in windows), max(w[1] for w in windows)
    there = tx.notifications_to(first.person_id, first.channel, since - SEND_DEADLINE,
                                provider_shows(first.channel, first.text))
    known = frozenset(r.provider_ref for r in there if r.provider_ref)

    def overlaps(row: NotificationRecord) -> bool:  # only then may one of its records be among ours
        window = _window(row)
        return window is not None and window[0] <= until and window[1] >= since

    others = [r for r in there if r.id not in ours and not r.provider_ref and overlaps(r)]
    sending = [r for r in others if r.state == NotificationState.SENDING]
    looked_up = sum(1 for r in sending if r.error == RECONCILING)  # by another replica, or waiting to be again
    return SendTrail(known, len(sending) - looked_up, sum(1 for r in others if r.state == NotificationState.AMBIGUOUS),
                     looked_up)


def _reconcile(store: Store, procedure: Procedure, group: list[tuple[NotificationRecord, Outgoing, Found]],
               now: datetime) -> None:
    with store.transaction() as tx:
        current = [tx.notification(row.id) for row, _, _ in group]
        live = [(row, message, found) for (_, message, found), row in zip(group, current, strict=True)
                if row is not None and row.state == NotificationState.SENDING]
        if not live:
            return
        resolved = resolve_lookups([found for _, _, found in live], _trail(tx, [row for row, _, _ in live]))
        for (row, message, _), found in zip(live, resolved, strict=True):
            if found.check == SendCheck.FOUND and found.delivered is not None:
                _record_sent(tx, message, found.delivered, now)
                tx.update_notification(row.id, error=None)
            else:
                decision = decide_reconciled(_failed(tx, procedure, row, row.attempts, now), found, row.created_at, now)
                still_asking = decision.state == NotificationState.SENDING
                _apply_failure(tx, procedure, row, decision, now,
                               {"error": RECONCILING if still_asking else f"interrupted; the provider: {found.check}"})
            log_event(log, "interrupted send looked up", notification=row.id, channel=row.channel,
                      kind=row.kind, provider=found.check.value)


def record_delivery_status(store: Store, procedure: Procedure, provider_ref: str, status: str,
                           error_code: str | None, now: datetime) -> bool:
    """A Twilio status callback. A text that failed later falls back like one refused at once.

    Twilio may post it before its API answer (the message's sid) reaches us and is stored: then it is kept,
    and applied once the send records that sid (`_send`), by whichever of the two comes second.
    Returns whether it may have queued something to send: only a failure does (the step on the person's other
    channels); a `sent` or `delivered`, most callbacks, never does, so the caller runs no outbox round for it."""
    with store.transaction() as tx:
        row = tx.notification_by_ref(provider_ref)
        if row is not None:
            _apply_status(tx, procedure, row, status, error_code, now)
            return status in FAILED_STATUSES
        tx.keep_early_status(provider_ref, status, error_code, now)
    # Committed first, then looked for again: a send that stored the sid meanwhile may have looked before.
    return apply_early_statuses(store, procedure, provider_ref, now) and status in FAILED_STATUSES


def apply_early_statuses(store: Store, procedure: Procedure, provider_ref: str, now: datetime) -> bool:
    """The statuses kept for a reference that is now known, applied once each. Whether any were."""
    with store.reading() as tx:  # nearly always none: no write transaction for them
        if not tx.early_statuses_kept(provider_ref):
            return False
    with store.transaction() as tx:
        row = tx.notification_by_ref(provider_ref)
        if row is None:
            return False
        statuses = tx.take_early_statuses(provider_ref)
        for status, error_code in statuses:
            _apply_status(tx, procedure, row, status, error_code, now)
            row = tx.notification(row.id) or row  # the next status sees what this one changed
        return bool(statuses)


def _apply_status(tx: StoreTx, procedure: Procedure, row: NotificationRecord, status: str, error_code: str | None,
                  now: datetime) -> None:
    decision = decide_status_failure(_failed(tx, procedure, row, row.attempts, now), status, error_code,
                                     row.state == NotificationState.FAILED)
    if (row.page_id and row.person_id and row.kind == MessageKind.PAGE and status in DELIVERED_STATUSES
            and row.delivery_status not in DELIVERED_STATUSES):  # the first word that it reached the device
        tx.add_event(row.page_id, now, PageEventKind.DELIVERED, row.person_id, row.channel, status)
    if decision is None:
        tx.update_notification(row.id, delivery_status=status)
    else:
        _apply_failure(tx, procedure, row, decision, now,
                       {"delivery_status": status, "error": status_error(status, error_code)})


def record_answered_by(store: Store, procedure: Procedure, call_sid: str, answered_by: str, now: datetime) -> bool:
    """Twilio's answering machine detection on a page call: who picked up (human, machine, unknown) goes on
    the page's timeline. A machine never confirms anything; a voicemail box is left the words that a page is
    waiting (the live call's TwiML is replaced). Once per call, however often Twilio repeats the callback.

    Returns whether something was recorded (False for a call not ours, or a repeat)."""
    with store.transaction() as tx:
        row = tx.notification_by_ref(call_sid)
        if row is None or row.page_id is None or row.person_id is None or row.kind != MessageKind.PAGE:
            return False
        if not tx.first_time_seen(f"twilio-amd:{call_sid}", now):
            return False
        page = tx.page(row.page_id)
        if page is None:
            return False
        tx.add_event(page.id, now, PageEventKind.ANSWERED, row.person_id, row.channel,
                     f"{answered(answered_by)} ({answered_by})")
        if leaves_voicemail(answered_by):
            tx.add_notification(keys.voicemail(call_sid), now, page_id=page.id, kind=MessageKind.VOICEMAIL,
                                channel=Channel.VOICE, person_id=row.person_id, target=call_sid,
                                text=wording.voicemail_text(page.id, page.source == TEST_PAGE_SOURCE))
        return True
