"""Escalation: the steps of a page's frozen plan, fired when due (exactly once, across processes), and
"beyond my scope" (a page sent up the chain by hand). Each step is loaded, decided by
`domain.escalation.decide_step` and applied."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..domain import keys, wording
from ..domain.audit import PageEvent
from ..domain.confirmation import ChannelOutcome
from ..domain.contacts import Verification, awaiting_code
from ..domain.escalation import Reach, StepPage, decide_step
from ..domain.messages import QueuedMessage
from ..domain.paging import (
    CLOSED_STATES,
    EscalationPlan,
    keep_alerts,
    plan_manual_escalation,
)
from ..domain.procedure import Procedure
from ..domain.team import Person
from ..domain.vocabulary import (
    PHONE_CHANNELS,
    Channel,
    MessageKind,
    NotificationState,
    PageEventKind,
    PageState,
)
from ..errors import BadInput
from ..ports import FiredSteps, NewNotification, PageRecord, Store, StoreTx
from .delivery import escalation_note_of, notify_approvers
from .pages import (
    AckResult,
    member,
    outcomes_of,
    plan_from_json,
    plan_to_json,
    queue_card_update,
    queue_thread_line,
    reachable_by_contact,
    snapshot,
    thread_line,
)

FIRE_BATCH = 200  # pages claimed (and locked) by one transaction of the dispatcher


def escalate_page(store: Store, procedure: Procedure, page_id: int, person_id: str, reason: str,
                  now: datetime) -> AckResult:
    """Beyond my scope: page my direct manager now, and continue up the chain if they don't take it."""
    person = member(procedure, person_id)
    reason = " ".join(reason.split())[:500]
    if not reason:
        raise BadInput("say why the page is beyond your scope")
    with store.transaction() as tx:
        page = tx.page(page_id, lock=True)
        if page is None:
            raise BadInput(f"no page {page_id}")
        if page.state in CLOSED_STATES:
            closed = "done" if page.state == "done" else "closed as not a ticket"
            return AckResult(False, f"This page is already {closed}; nothing changed.", snapshot(tx, page))
        plan = keep_alerts(plan_from_json(page.plan),
                           plan_manual_escalation(person.id, procedure.escalation, procedure.team, now,
                                                  procedure.ack_window))
        # Open again for the manager to take, with a new deadline; the first On It! stays in the timeline.
        # The next On It! (the manager's) is chased for a Done from its own time.
        page = tx.update_page(page.id, plan=plan_to_json(plan), fired=0, next_due_at=plan.due_at(0),
                              state=PageState.OPEN, escalated_by=person.id, deadline_at=now + procedure.ack_window,
                              on_it_by=None, on_it_at=None, done_reminders_sent=0)
        tx.add_event(page.id, now, PageEventKind.ESCALATED, person.id, Channel.SLACK, reason)
        queue_thread_line(tx, page, keys.escalated(page.id, now), now, wording.escalated_line(person.name, reason))
        _, page = fire_due_steps(tx, page, procedure, now)
        queue_card_update(tx, page, now)
        return AckResult(True, "Escalated to your direct manager.", snapshot(tx, page))


def fire_due_escalations(store: Store, procedure: Procedure, now: datetime, batch: int = FIRE_BATCH,
                         keep_going: Callable[[], bool] = lambda: True) -> int:
    """Run every escalation step that is due, exactly once, across processes. Returns the steps fired.

    Each batch of claimed pages is one transaction: fired together, committed with its outbox rows, or (a crash,
    an error) not at all."""
    fired = 0
    while keep_going():
        with store.transaction() as tx:
            pages = tx.claim_due_pages(now, batch)
            fired += fire_due_batch(tx, pages, procedure, now)[0]
        if len(pages) < batch:
            break
    return fired


def next_escalation_at(store: Store) -> datetime | None:
    with store.transaction() as tx:
        return tx.next_due_at()


def fire_due_steps(tx: StoreTx, page: PageRecord, procedure: Procedure, now: datetime) -> tuple[int, PageRecord]:
    """Every step of one page that came due (several after downtime), each once; the page row is locked by the
    caller. Returns the steps fired and the page as it now is."""
    fired, pages = fire_due_batch(tx, [page], procedure, now)
    return fired, pages[0]


def fire_due_batch(tx: StoreTx, pages: Sequence[PageRecord], procedure: Procedure,
                   now: datetime) -> tuple[int, list[PageRecord]]:
    """Every due step of these pages (rows locked by the caller), in their order, each once: load what the steps
    depend on for the whole batch (a few queries, not a dozen a page), decide each step
    (domain.escalation.decide_step), write the batch's rows together. Returns the steps fired and the pages as
    they now are."""
    due = [(page, plan_from_json(page.plan)) for page in pages
           if page.state == PageState.OPEN and page.next_due_at is not None and page.next_due_at <= now]
    if not due:
        return 0, list(pages)
    facts = _BatchFacts.load(tx, due, procedure, now)
    writes = _Writes()
    fired, done = 0, []
    for page, plan in due:
        first_due_at = page.next_due_at
        assert first_due_at is not None  # due, above
        number, due_at = page.fired, page.next_due_at
        while due_at is not None and due_at <= now:
            _fire_step(tx, page, plan, number, procedure, now, facts, writes)
            number += 1
            due_at = plan.due_at(number)
            fired += 1
        done.append(FiredSteps(page.id, number, due_at, was_due_at=first_due_at))
    writes.apply(tx)
    tx.record_fired(done)
    changed = {f.page_id: f for f in done}
    return fired, [replace(p, fired=changed[p.id].fired, next_due_at=changed[p.id].next_due_at) if p.id in changed
                   else p for p in pages]


@dataclass
class _BatchFacts:
    """What a batch's steps depend on beyond their own page, loaded once for everyone the batch pages (the same
    few people are responsible for thousands of pages in a storm), and kept true as the batch fires: a page
    fired earlier in the batch counts for the digests and the call throttle of the pages after it, exactly as
    if each page had been fired in a round of its own."""

    opted_out: set[tuple[str, str]]
    orders: dict[str, tuple[str, ...]]
    verifications: dict[str, Verification]
    waiting: dict[str, set[int]]  # person -> the open pages they were really phoned for since `since`
    calls: dict[str, list[datetime]]  # person -> the calls queued to them since `since`
    notes: dict[int, str | None]  # page -> who sent it up the chain and why

    @classmethod
    def load(cls, tx: StoreTx, due: list[tuple[PageRecord, EscalationPlan]], procedure: Procedure,
             now: datetime) -> "_BatchFacts":
        since = now - procedure.escalation.calls_period
        people: set[str] = set()
        phoned: set[str] = set()  # people a step pages by phone (their digests)
        called: set[str] = set()  # people a step calls (their throttle)
        for page, plan in due:
            people.add(page.responsible)
            number, due_at = page.fired, page.next_due_at
            while due_at is not None and due_at <= now:
                step = plan.step(number)
                people.update(step.person_ids)
                if any(c in PHONE_CHANNELS for c in step.channels):
                    phoned.update(step.person_ids)
                if Channel.VOICE in step.channels:
                    called.update(step.person_ids)
                number += 1
                due_at = plan.due_at(number)
        on_team = sorted(p for p in people if procedure.team.person(p) is not None)
        timelines: dict[int, list[PageEvent]] = {page.id: [] for page, _ in due if page.escalated_by}
        for event in tx.events_of_pages(list(timelines)) if timelines else ():
            timelines[event.page_id].append(event)
        notes = {page.id: escalation_note_of(page, timelines.get(page.id, []), procedure) for page, _ in due}
        return cls(tx.opted_out_of(on_team), tx.channel_orders(on_team), tx.verifications_of(on_team),
                   tx.pages_waiting_on_people(sorted(phoned), since) if phoned else {},
                   tx.recent_calls_to(sorted(called), since) if called else {}, notes)

    def reachable(self, person: Person, channel: str) -> bool:
        if channel in PHONE_CHANNELS:
            return bool(person.phone) and (person.id, channel) not in self.opted_out
        return reachable_by_contact(person, channel)

    def unverified(self, person: Person) -> bool:
        return awaiting_code(self.verifications.get(person.id), person.phone)

    def queued(self, page_id: int, message: QueuedMessage, now: datetime) -> None:
        """What a queued page means for the pages after it in the batch."""
        if message.kind != MessageKind.PAGE or message.grouped or message.person_id is None:
            return
        if message.channel in PHONE_CHANNELS:
            self.waiting.setdefault(message.person_id, set()).add(page_id)
        if message.channel == Channel.VOICE:
            self.calls.setdefault(message.person_id, []).append(now)


class _Writes:
    """The batch's rows, written together: one INSERT of outbox rows, one of timeline lines."""

    def __init__(self) -> None:
        self.notifications: dict[str, NewNotification] = {}  # by key: the first queued wins, as ON CONFLICT would
        self.events: list[PageEvent] = []

    def notification(self, row: NewNotification) -> None:
        self.notifications.setdefault(row.key, row)

    def apply(self, tx: StoreTx) -> None:
        tx.add_notifications(list(self.notifications.values()))
        tx.add_events(self.events)
        self.notifications, self.events = {}, []


def _fire_step(tx: StoreTx, page: PageRecord, plan: EscalationPlan, number: int, procedure: Procedure,
               now: datetime, facts: _BatchFacts, writes: _Writes) -> None:
    """Take what the step depends on from the batch's facts, decide it (domain.escalation), queue the decision."""
    step = plan.step(number)
    team, policy = procedure.team, procedure.escalation
    phones = any(c in PHONE_CHANNELS for c in step.channels)
    people: dict[str, Reach] = {}
    for person_id in step.person_ids:
        person = team.person(person_id)
        if person is None:
            continue
        open_channels = frozenset(c for c in (Channel.SMS, Channel.VOICE, Channel.SLACK, Channel.EMAIL)
                                  if facts.reachable(person, c))
        waiting = phones and bool(facts.waiting.get(person.id, set()) - {page.id})
        calls = tuple(facts.calls.get(person.id, ())) if Channel.VOICE in step.channels else ()
        people[person_id] = Reach(person, open_channels, waiting, calls, facts.orders.get(person.id, ()),
                                  facts.unverified(person))
    responsible = team.person(page.responsible)
    outcomes: tuple[ChannelOutcome, ...] = ()
    if step.alert:  # rare (the weekly test page): read from the database, with this batch's rows written first
        writes.apply(tx)
        outcomes = outcomes_of(tx, page, page.responsible)
    unverified = responsible is not None and facts.unverified(responsible)
    decision = decide_step(StepPage(page.id, page.summary, responsible.name if responsible else page.responsible,
                                    facts.notes.get(page.id), outcomes, procedure.window.tz,
                                    page.responsible, unverified),
                           step, number, len(plan.steps), people, policy, now)
    for message in decision.messages:
        writes.notification(NewNotification(
            message.key, now, message.kind, message.channel, message.text, page_id=page.id,
            person_id=message.person_id, target=message.target, reach_key=message.reach_key,
            state_override=NotificationState.GROUPED if message.grouped else None))
        facts.queued(page.id, message, now)
    if decision.alert:  # the procedure: tell the managers at once
        writes.apply(tx)
        notify_approvers(tx, procedure, keys.test_page_unconfirmed(page.id), now, decision.alert)
    writes.events.extend(PageEvent(page.id, now, event.kind, event.person_id, event.channel, event.detail)
                         for event in decision.events)
    writes.notification(thread_line(page, keys.step_thread(page.id, number), now, decision.thread_line))
