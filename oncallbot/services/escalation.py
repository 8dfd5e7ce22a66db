"""Escalation: the steps of a page's frozen plan, fired when due (exactly once, across processes), and
"beyond my scope" (a page sent up the chain by hand). Each step is loaded, decided by
`domain.escalation.decide_step` and applied."""

from collections.abc import Callable
from datetime import datetime

from ..domain import keys, wording
from ..domain.contacts import awaiting_code
from ..domain.escalation import Reach, StepPage, decide_step
from ..domain.paging import (
    CLOSED_STATES,
    EscalationPlan,
    keep_alerts,
    plan_manual_escalation,
)
from ..domain.procedure import Procedure
from ..domain.vocabulary import (
    PHONE_CHANNELS,
    Channel,
    NotificationState,
    PageEventKind,
    PageState,
)
from ..errors import BadInput
from ..ports import PageRecord, Store, StoreTx
from .delivery import escalation_note, notify_approvers
from .pages import (
    AckResult,
    member,
    outcomes_of,
    plan_from_json,
    plan_to_json,
    queue_card_update,
    queue_thread_line,
    reachable,
    snapshot,
)


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


def fire_due_escalations(store: Store, procedure: Procedure, now: datetime, batch: int = 200,
                         keep_going: Callable[[], bool] = lambda: True) -> int:
    """Run every escalation step that is due, exactly once, across processes. Returns the steps fired."""
    fired = 0
    while keep_going():
        with store.transaction() as tx:
            pages = tx.claim_due_pages(now, batch)
            for page in pages:
                fired += fire_due_steps(tx, page, procedure, now)[0]
        if len(pages) < batch:
            break
    return fired


def next_escalation_at(store: Store) -> datetime | None:
    with store.transaction() as tx:
        return tx.next_due_at()


def fire_due_steps(tx: StoreTx, page: PageRecord, procedure: Procedure, now: datetime) -> tuple[int, PageRecord]:
    """Every step that came due (several after downtime), each once; the page row is locked by the caller.
    Returns the steps fired and the page as it now is."""
    plan = plan_from_json(page.plan)
    fired, number, due_at = 0, page.fired, page.next_due_at
    while page.state == PageState.OPEN and due_at is not None and due_at <= now:
        _fire_step(tx, page, plan, number, procedure, now)
        number += 1
        due_at = plan.due_at(number)
        fired += 1
    if fired:
        page = tx.update_page(page.id, fired=number, next_due_at=due_at)
    return fired, page


def _fire_step(tx: StoreTx, page: PageRecord, plan: EscalationPlan, number: int, procedure: Procedure,
               now: datetime) -> None:
    """Load what the step depends on, decide it (domain.escalation), apply the decision."""
    step = plan.step(number)
    team, policy = procedure.team, procedure.escalation
    since = now - policy.calls_period
    phones = any(c in PHONE_CHANNELS for c in step.channels)
    people: dict[str, Reach] = {}
    for person_id in step.person_ids:
        person = team.person(person_id)
        if person is None:
            continue
        open_channels = frozenset(c for c in (Channel.SMS, Channel.VOICE, Channel.SLACK, Channel.EMAIL)
                                  if reachable(tx, person, c))
        waiting = phones and bool(tx.pages_waiting_on(person.id, since, excluding=page.id))
        calls = tuple(tx.recent_calls(person.id, since)) if Channel.VOICE in step.channels else ()
        people[person_id] = Reach(person, open_channels, waiting, calls, tx.channel_order(person.id),
                                  awaiting_code(tx.verification(person.id), person.phone))
    responsible = team.person(page.responsible)
    outcomes = outcomes_of(tx, page, page.responsible) if step.alert else ()
    unverified = responsible is not None and awaiting_code(tx.verification(responsible.id), responsible.phone)
    decision = decide_step(StepPage(page.id, page.summary, responsible.name if responsible else page.responsible,
                                    escalation_note(tx, page, procedure), outcomes, procedure.window.tz,
                                    page.responsible, unverified),
                           step, number, len(plan.steps), people, policy, now)
    for message in decision.messages:
        tx.add_notification(message.key, now, page_id=page.id, kind=message.kind, channel=message.channel,
                            person_id=message.person_id, target=message.target, reach_key=message.reach_key,
                            text=message.text, state_override=NotificationState.GROUPED if message.grouped else None)
    if decision.alert:  # the procedure: tell the managers at once
        notify_approvers(tx, procedure, keys.test_page_unconfirmed(page.id), now, decision.alert)
    for event in decision.events:
        tx.add_event(page.id, now, event.kind, event.person_id, event.channel, event.detail)
    queue_thread_line(tx, page, keys.step_thread(page.id, number), now, decision.thread_line)
