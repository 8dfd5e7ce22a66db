"""A page's records: what the other paging services import. The snapshot of a page (its plan, steps and
timeline) as callers see it, the frozen plan's storage, reading and listing pages, and the outbox rows every
paging use case queues (the card, its updates, thread lines)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..domain import keys, wording
from ..domain.audit import PageEvent
from ..domain.confirmation import ChannelOutcome, Seen, Send, channel_outcomes
from ..domain.paging import (
    CLOSED_STATES,
    LIST_LIMIT,
    LIST_LIMIT_MAX,
    EscalationPlan,
    PlannedStep,
)
from ..domain.procedure import Procedure
from ..domain.team import Person
from ..domain.vocabulary import Channel, MessageKind, SlackTarget
from ..errors import BadInput, NotAuthorized
from ..ports import NewNotification, PageRecord, Store, StoreTx


@dataclass(frozen=True)
class NewPage:
    summary: str
    source: str  # slack | cli | one of API_SOURCES; external ids are unique per source
    external_id: str | None = None
    details: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None  # the ticket's own Slack message, when it came from Slack


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    person_id: str | None
    channel: str | None
    detail: str | None


@dataclass(frozen=True)
class StepView:
    number: int
    at: datetime
    notify: str
    person_ids: tuple[str, ...]
    channels: tuple[str, ...]
    status: str  # ran | due | cancelled


@dataclass(frozen=True)
class PageSnapshot:
    id: int
    summary: str
    source: str
    external_id: str | None
    details: str | None
    state: str
    responsible: str
    created_at: datetime
    deadline_at: datetime
    on_it_by: str | None
    on_it_at: datetime | None
    done_by: str | None
    done_at: datetime | None
    steps: tuple[StepView, ...]
    timeline: tuple[TimelineEntry, ...] = field(default=())
    channels: tuple[ChannelOutcome, ...] = field(default=())  # per person and channel: sent, delivered, ...


@dataclass(frozen=True)
class AckResult:
    accepted: bool
    message: str
    page: PageSnapshot
    repeat: bool = False  # the same inbound event again (its key was handled): nothing was done, nothing to say


# --- plan storage -------------------------------------------------------------------------------

def plan_to_json(plan: EscalationPlan) -> dict[str, Any]:
    return {
        "first_due_at": plan.first_due_at.isoformat(),
        "repeat_every": plan.repeat_every.total_seconds(),
        "max_repeats": plan.max_repeats,
        "steps": [{"notify": s.notify, "person_ids": list(s.person_ids), "channels": list(s.channels),
                   "delay": s.delay.total_seconds(), **({"alert": True} if s.alert else {})} for s in plan.steps],
    }


def plan_from_json(data: dict[str, Any]) -> EscalationPlan:
    return EscalationPlan(
        first_due_at=datetime.fromisoformat(data["first_due_at"]),
        steps=tuple(PlannedStep(s["notify"], tuple(s["person_ids"]), tuple(s["channels"]),
                                timedelta(seconds=s["delay"]), s.get("alert", False)) for s in data["steps"]),
        repeat_every=timedelta(seconds=data["repeat_every"]),
        max_repeats=data["max_repeats"],
    )


def snapshot(tx: StoreTx, page: PageRecord, with_timeline: bool = True) -> PageSnapshot:
    plan = plan_from_json(page.plan)
    steps = []
    for number in range(plan.total):
        status = "ran" if number < page.fired else ("due" if page.state == "open" else "cancelled")
        step, due_at = plan.step(number), plan.due_at(number)
        if due_at is None:  # past the plan's end: not below plan.total
            break
        steps.append(StepView(number + 1, due_at, step.notify, step.person_ids, step.channels, status))
    events = tx.events_of(page.id) if with_timeline else []  # read once: the timeline and the outcomes
    timeline = tuple(TimelineEntry(e.at, e.kind, e.person_id, e.channel, e.detail) for e in events)
    return PageSnapshot(page.id, page.summary, page.source, page.external_id, page.details, page.state,
                        page.responsible, page.created_at, page.deadline_at, page.on_it_by, page.on_it_at,
                        page.done_by, page.done_at, tuple(steps), timeline,
                        outcomes_of(tx, page, events=events) if with_timeline else ())


def outcomes_of(tx: StoreTx, page: PageRecord, person_id: str | None = None,
                events: Sequence[PageEvent] | None = None) -> tuple[ChannelOutcome, ...]:
    """What happened to the page on each channel it was sent on (for one person, or everyone); `events`: its
    timeline, when the caller has read it already."""
    sends = [Send(n.person_id, n.channel, n.state, n.sent_at, n.delivery_status) for n in tx.notifications_of(page.id)
             if n.kind == MessageKind.PAGE and n.person_id and person_id in (None, n.person_id)]
    seen = [Seen(e.kind, e.person_id, e.channel, e.at, e.detail)
            for e in (tx.events_of(page.id) if events is None else events)]
    return channel_outcomes(sends, seen)


def get_page(store: Store, page_id: int) -> PageSnapshot:
    with store.reading() as tx:
        page = tx.page(page_id)
        if page is None:
            raise BadInput(f"no page {page_id}")
        return snapshot(tx, page)


def page_for_slack_thread(store: Store, channel: str, thread_ts: str) -> int | None:
    with store.reading() as tx:
        page = tx.page_by_slack_thread(channel, thread_ts)
        return page.id if page else None


def is_storm_message(store: Store, slack_ts: str) -> bool:
    """Whether a Slack message is a storm message (services.delivery: a storm's cards folded into one): it
    stands for many pages, so a reply in its thread must say which."""
    with store.reading() as tx:
        row = tx.notification_by_ref(slack_ts)
        if row is None or row.kind != MessageKind.CARD or row.channel != Channel.SLACK or row.page_id is None:
            return False
        page = tx.page(row.page_id)
        return page is not None and page.slack_card_ts != slack_ts


def member(procedure: Procedure, person_id: str) -> Person:
    person = procedure.team.person(person_id)
    if person is None:
        raise NotAuthorized("only members of the on-call team can acknowledge or escalate pages")
    return person


def reachable(tx: StoreTx, person: Person, channel: str) -> bool:
    if channel in ("sms", "voice"):
        return bool(person.phone) and not tx.opted_out(person.id, channel)
    return reachable_by_contact(person, channel)


def reachable_by_contact(person: Person, channel: str) -> bool:
    """Slack and email: reachable when the team file gives the person an id or an address (no opt-out)."""
    if channel == "slack":
        return bool(person.slack_id)
    if channel == "email":
        return bool(person.email)
    return False


def queue_card(tx: StoreTx, page: PageRecord, now: datetime) -> None:
    tx.add_notification(keys.page_card(page.id), now, page_id=page.id, kind=MessageKind.CARD, channel=Channel.SLACK,
                        target=SlackTarget.SUPPORT, text=wording.card_text(page.id, page.summary))


def queue_card_update(tx: StoreTx, page: PageRecord, now: datetime) -> None:
    tx.add_notification(keys.card_update(page.id, page.state, now), now, page_id=page.id,
                        kind=MessageKind.CARD_UPDATE, channel=Channel.SLACK, target=SlackTarget.SUPPORT,
                        text=wording.card_text(page.id, page.summary))


def queue_thread_line(tx: StoreTx, page: PageRecord, key: str, now: datetime, text: str) -> None:
    tx.add_notifications([thread_line(page, key, now, text)])


def thread_line(page: PageRecord, key: str, now: datetime, text: str) -> NewNotification:
    return NewNotification(key, now, MessageKind.THREAD, Channel.SLACK, text, page_id=page.id,
                           target=SlackTarget.SUPPORT)


PAGE_FILTERS: dict[str, tuple[str, ...]] = {"open": ("open", "on_it"), "closed": CLOSED_STATES}  # open: not closed yet
MAX_PAGE_ID = 2**31 - 1  # pages.id is a 32-bit integer column


@dataclass(frozen=True)
class PageLine:
    """One page in a list: what it is, where it stands, who holds it and how long it has been open."""

    id: int
    summary: str
    source: str
    state: str
    responsible: str
    holder_id: str | None  # who said On It!
    created_at: datetime
    deadline_at: datetime
    on_it_at: datetime | None
    done_at: datetime | None
    age: timedelta


@dataclass(frozen=True)
class PageList:
    at: datetime
    pages: tuple[PageLine, ...]  # newest first
    total: int  # every page the filter matches, across batches
    next_before: int | None  # the cursor of the next (older) batch, None when this was the last


def list_pages(store: Store, now: datetime, state: str | None = None, limit: int = LIST_LIMIT,
               before: int | None = None) -> PageList:
    """Pages newest first, `limit` at a time. `state`: "open" (waiting for On It!, or On It!), "closed" (done
    or not a ticket), or None for all. `before` a page id: the batch after the one that ended with it."""
    if state is not None and state not in PAGE_FILTERS:
        raise BadInput(f'state "{state}" is not one of: {", ".join(PAGE_FILTERS)}')
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise BadInput(f"limit must be between 1 and {LIST_LIMIT_MAX}, not {limit}")
    if before is not None and not 0 < before <= MAX_PAGE_ID + 1:
        raise BadInput(f"before must be a page id, not {before}")
    states = PAGE_FILTERS[state] if state else None
    with store.reading() as tx:
        rows = tx.pages_listed(states, before, limit + 1)  # one more tells whether another batch follows
        total = tx.count_pages(states)
    lines = tuple(PageLine(p.id, p.summary, p.source, p.state, p.responsible, p.on_it_by, p.created_at,
                           p.deadline_at, p.on_it_at, p.done_at, now - p.created_at) for p in rows[:limit])
    return PageList(now, lines, total, lines[-1].id if len(rows) > limit else None)
