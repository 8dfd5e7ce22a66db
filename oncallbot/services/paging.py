"""Use cases of a page: open it, acknowledge it, escalate it, fire its due steps. One transaction each.

Notifications are not sent here: each use case queues them in the outbox in its own transaction, and
`services.delivery` sends them after commit. So a crash never loses a step nor sends it twice.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import keys, wording
from ..domain.escalation import Reach, StepPage, decide_step
from ..domain.paging import (
    API_SOURCES,
    CLOSED_STATES,
    TEST_PAGE_SOURCE,
    AckKind,
    DoneReminder,
    EscalationPlan,
    PlannedStep,
    decide_acknowledgment,
    decide_dismissal,
    done_reminder_cutoffs,
    done_reminder_due,
    keep_alerts,
    parse_phone_reply,
    phone_reply_targets,
    plan_escalation,
    plan_manual_escalation,
    plan_test_page,
)
from ..domain.procedure import Procedure
from ..domain.responsibility import responsible_at
from ..domain.rotation import neighbours_at
from ..domain.team import Person
from ..domain.vocabulary import (
    PHONE_CHANNELS,
    Channel,
    MessageKind,
    NotificationState,
    PageEventKind,
    PageState,
    SlackTarget,
)
from ..domain.wording import CHANNEL_WORDS, NOTIFY_WORDS  # noqa: F401 (their old home)
from ..errors import BadInput, NotAuthorized
from .delivery import escalation_note, notify_approvers

SUMMARY_LIMIT = 500


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


@dataclass(frozen=True)
class AckResult:
    accepted: bool
    message: str
    page: PageSnapshot


# --- plan storage -------------------------------------------------------------------------------

def plan_to_json(plan: EscalationPlan) -> dict:
    return {
        "first_due_at": plan.first_due_at.isoformat(),
        "repeat_every": plan.repeat_every.total_seconds(),
        "max_repeats": plan.max_repeats,
        "steps": [{"notify": s.notify, "person_ids": list(s.person_ids), "channels": list(s.channels),
                   "delay": s.delay.total_seconds(), **({"alert": True} if s.alert else {})} for s in plan.steps],
    }


def plan_from_json(data: dict) -> EscalationPlan:
    return EscalationPlan(
        first_due_at=datetime.fromisoformat(data["first_due_at"]),
        steps=tuple(PlannedStep(s["notify"], tuple(s["person_ids"]), tuple(s["channels"]),
                                timedelta(seconds=s["delay"]), s.get("alert", False)) for s in data["steps"]),
        repeat_every=timedelta(seconds=data["repeat_every"]),
        max_repeats=data["max_repeats"],
    )


def snapshot(tx, page, with_timeline: bool = True) -> PageSnapshot:
    plan = plan_from_json(page.plan)
    steps = []
    for number in range(plan.total):
        status = "ran" if number < page.fired else ("due" if page.state == "open" else "cancelled")
        step = plan.step(number)
        steps.append(StepView(number + 1, plan.due_at(number), step.notify, step.person_ids, step.channels, status))
    timeline = tuple(TimelineEntry(e.at, e.kind, e.person_id, e.channel, e.detail) for e in tx.events_of(page.id)) \
        if with_timeline else ()
    return PageSnapshot(page.id, page.summary, page.source, page.external_id, page.details, page.state,
                        page.responsible, page.created_at, page.deadline_at, page.on_it_by, page.on_it_at,
                        page.done_by, page.done_at, tuple(steps), timeline)


# --- use cases ----------------------------------------------------------------------------------

def open_page(store, procedure: Procedure, new: NewPage, now: datetime) -> tuple[PageSnapshot, bool]:
    """Record a voicemail or ticket and who was responsible when it came in. Idempotent on
    (source, external_id): each source's ids are its own, so no source can swallow another's page.

    Returns the page and whether it was created now."""
    if new.source == TEST_PAGE_SOURCE:
        raise BadInput("only the scheduler opens the weekly test page")
    summary = " ".join(new.summary.split())
    if not summary:
        raise BadInput("summary is empty")
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[:SUMMARY_LIMIT - 1] + "…"
    with store.transaction() as tx:
        if new.external_id:
            existing = tx.page_by_external_id(new.source, new.external_id)
            if existing:
                return snapshot(tx, existing), False
        current = neighbours_at(now, procedure.shifts_in_effect(tx.shifts_around(now))).current
        responsibility = responsible_at(now, current, procedure.hours, procedure.window, procedure.holiday_on)
        plan = plan_escalation(responsibility, procedure.escalation, procedure.team, now, procedure.ack_window)
        responsible = current.person_id if responsibility.responsible == "oncall" else responsibility.responsible
        page = tx.add_page(summary=summary, source=new.source, external_id=new.external_id, details=new.details,
                           state="open", responsible=responsible, created_at=now,
                           deadline_at=now + procedure.ack_window, plan=plan_to_json(plan), fired=0,
                           next_due_at=plan.due_at(0), slack_channel=new.slack_channel,
                           slack_thread_ts=new.slack_ts)
        if page is None:  # the same ticket, opened concurrently by another request
            return snapshot(tx, tx.page_by_external_id(new.source, new.external_id)), False
        detail = {"oncall": "on call", "office": "business hours: the office",
                  "nobody": f"nobody ({responsibility.cause}): the approvers are paged at once"}[
            responsibility.responsible]
        tx.add_event(page.id, now, PageEventKind.OPENED,
                     responsible if responsibility.responsible == "oncall" else None, new.source, detail)
        _queue_card(tx, page, now)
        _fire_due_steps(tx, page, procedure, now)
        return snapshot(tx, page), True


def open_api_page(store, procedure: Procedure, new: NewPage, now: datetime) -> tuple[PageSnapshot, bool]:
    """A page from the paging API: its source must be one of API_SOURCES."""
    if new.source not in API_SOURCES:
        raise BadInput(f'source: "{new.source}" is not one of: {", ".join(API_SOURCES)}')
    return open_page(store, procedure, new, now)


def open_test_page(store, procedure: Procedure, confirm_window: timedelta, now: datetime) -> PageSnapshot | None:
    """Check that calls really reach this week's on-call person. Once per week, however many replicas."""
    tz = procedure.window.tz
    with store.transaction() as tx:
        current = neighbours_at(now, tx.shifts_around(now)).current
        week = procedure.window.week_containing(now) or now.astimezone(tz).date()
        if not tx.claim_job_run("test_page", week.isoformat(), now):
            return None
        if current is None:
            notify_approvers(tx, procedure, keys.test_page_nobody(week), now,
                             wording.test_page_nobody_text(f"{week:%a %Y-%m-%d}"))
            return None
        person = procedure.team.person(current.person_id)
        plan = plan_test_page(person.id, procedure.team, confirm_window, now)
        page = tx.add_page(summary=wording.test_page_summary(person.name), source=TEST_PAGE_SOURCE,
                           external_id=f"test:{week}",
                           state="open", responsible=person.id, created_at=now, deadline_at=now + confirm_window,
                           plan=plan_to_json(plan), fired=0, next_due_at=plan.due_at(0))
        tx.add_event(page.id, now, PageEventKind.OPENED, person.id, "test", "weekly test page")
        _queue_card(tx, page, now)
        _fire_due_steps(tx, page, procedure, now)
        return snapshot(tx, page)


def get_page(store, page_id: int) -> PageSnapshot:
    with store.reading() as tx:
        page = tx.page(page_id)
        if page is None:
            raise BadInput(f"no page {page_id}")
        return snapshot(tx, page)


def page_for_slack_thread(store, channel: str, thread_ts: str) -> int | None:
    with store.reading() as tx:
        page = tx.page_by_slack_thread(channel, thread_ts)
        return page.id if page else None


def _member(procedure: Procedure, person_id: str) -> Person:
    person = procedure.team.person(person_id)
    if person is None:
        raise NotAuthorized("only members of the on-call team can acknowledge or escalate pages")
    return person


def acknowledge_page(store, procedure: Procedure, page_id: int, person_id: str, kind: AckKind, channel: str,
                     now: datetime) -> AckResult:
    """On It! stops the escalation; Done closes the page. A second acknowledgment changes nothing."""
    person = _member(procedure, person_id)
    with store.transaction() as tx:
        page = tx.page(page_id, lock=True)
        if page is None:
            raise BadInput(f"no page {page_id}")
        return _acknowledge(tx, procedure, page, person, kind, channel, now)


def _acknowledge(tx, procedure: Procedure, page, person: Person, kind: AckKind, channel: str,
                 now: datetime) -> AckResult:
    """acknowledge_page on a page row the caller's open transaction has locked."""
    tz = procedure.window.tz
    holder_id, holder_at = (page.done_by, page.done_at) if page.state in CLOSED_STATES \
        else (page.on_it_by, page.on_it_at)
    holder = procedure.team.person(holder_id)
    decision = decide_acknowledgment(page.state, kind, holder.name if holder else holder_id,
                                     f"{holder_at.astimezone(tz):%H:%M}" if holder_at else None, person.name)
    if not decision.accepted:
        return AckResult(False, decision.message, snapshot(tx, page))
    if kind == "on_it" or page.on_it_at is None:
        page.on_it_by, page.on_it_at = person.id, now
    if kind == "done":
        page.done_by, page.done_at = person.id, now
    page.state, page.next_due_at = decision.state, None
    tx.add_event(page.id, now, PageEventKind(decision.state), person.id, channel)
    _queue_thread_line(tx, page, keys.acknowledged(page.id, decision.state), now,
                       wording.ack_line(kind, person.name, f"{now.astimezone(tz):%H:%M}", channel))
    _queue_card_update(tx, page, now)
    return AckResult(True, decision.message, snapshot(tx, page))


def escalate_page(store, procedure: Procedure, page_id: int, person_id: str, reason: str,
                  now: datetime) -> AckResult:
    """Beyond my scope: page my direct manager now, and continue up the chain if they don't take it."""
    person = _member(procedure, person_id)
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
        page.plan, page.fired, page.next_due_at = plan_to_json(plan), 0, plan.due_at(0)
        # Open again for the manager to take, with a new deadline; the first On It! stays in the timeline.
        page.state, page.escalated_by, page.deadline_at = PageState.OPEN, person.id, now + procedure.ack_window
        page.on_it_by = page.on_it_at = None
        page.done_reminders_sent = 0  # the next On It! (the manager's) is chased from its own time
        tx.add_event(page.id, now, PageEventKind.ESCALATED, person.id, Channel.SLACK, reason)
        _queue_thread_line(tx, page, keys.escalated(page.id, now), now, wording.escalated_line(person.name, reason))
        _fire_due_steps(tx, page, procedure, now)
        _queue_card_update(tx, page, now)
        return AckResult(True, "Escalated to your direct manager.", snapshot(tx, page))


def fire_due_escalations(store, procedure: Procedure, now: datetime, batch: int = 200,
                         keep_going: Callable[[], bool] = lambda: True) -> int:
    """Run every escalation step that is due, exactly once, across processes. Returns the steps fired."""
    fired = 0
    while keep_going():
        with store.transaction() as tx:
            pages = tx.claim_due_pages(now, batch)
            for page in pages:
                fired += _fire_due_steps(tx, page, procedure, now)
        if len(pages) < batch:
            break
    return fired


def next_escalation_at(store) -> datetime | None:
    with store.transaction() as tx:
        return tx.next_due_at()


def fire_due_done_reminders(store, procedure: Procedure, now: datetime, batch: int = 200,
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
                while (reminder := done_reminder_due(page.on_it_at, page.done_reminders_sent, every)) \
                        and reminder.due_at <= now:
                    _queue_done_reminder(tx, page, reminder, procedure, now)
                    page.done_reminders_sent += 1
                    queued += 1
        if len(pages) < batch:
            break
    return queued


def _queue_done_reminder(tx, page, reminder: DoneReminder, procedure: Procedure, now: datetime) -> None:
    holder = procedure.team.person(page.on_it_by)
    # A reminder the holder can receive on no channel is recorded, not retried.
    channel = next((c for c in reminder.channels if holder and _reachable(tx, holder, c)), None)
    since = f"{page.on_it_at.astimezone(procedure.window.tz):%a %H:%M}"
    if channel is None:
        tx.add_event(page.id, now, PageEventKind.REMINDER_SKIPPED, page.on_it_by, None,
                     f"On It! since {since}: the holder has no channel to be asked whether it is done")
        return
    tx.add_notification(keys.done_reminder(page.id, page.on_it_at, reminder.number), now,
                        page_id=page.id, kind=MessageKind.REMINDER, channel=channel, person_id=holder.id,
                        text=wording.done_reminder_text(channel, page.id, page.summary, since))
    tx.add_event(page.id, now, PageEventKind.REMINDED, holder.id, channel,
                 f"asked whether it is done (On It! since {since})")


# --- steps --------------------------------------------------------------------------------------

def _fire_due_steps(tx, page, procedure: Procedure, now: datetime) -> int:
    """Every step that came due (several after downtime), each once; the page row is locked by the caller."""
    plan = plan_from_json(page.plan)
    fired = 0
    while page.state == "open" and page.next_due_at is not None and page.next_due_at <= now:
        _fire_step(tx, page, plan, page.fired, procedure, now)
        page.fired += 1
        page.next_due_at = plan.due_at(page.fired)
        fired += 1
    return fired


def _fire_step(tx, page, plan: EscalationPlan, number: int, procedure: Procedure, now: datetime) -> None:
    """Load what the step depends on, decide it (domain.escalation), apply the decision."""
    step = plan.step(number)
    team, policy = procedure.team, procedure.escalation
    since = now - policy.calls_period
    phones = any(c in PHONE_CHANNELS for c in step.channels)
    people = {}
    for person_id in step.person_ids:
        person = team.person(person_id)
        if person is None:
            continue
        reachable = frozenset(c for c in (Channel.SMS, Channel.VOICE, Channel.SLACK) if _reachable(tx, person, c))
        waiting = phones and bool(tx.pages_waiting_on(person.id, since, excluding=page.id))
        calls = tuple(tx.recent_calls(person.id, since)) if Channel.VOICE in step.channels else ()
        people[person_id] = Reach(person, reachable, waiting, calls)
    responsible = team.person(page.responsible)
    decision = decide_step(StepPage(page.id, page.summary, responsible.name if responsible else page.responsible,
                                    escalation_note(tx, page, procedure)),
                           step, number, len(plan.steps), people, policy, now)
    for message in decision.messages:
        tx.add_notification(message.key, now, page_id=page.id, kind=message.kind, channel=message.channel,
                            person_id=message.person_id, target=message.target, reach_key=message.reach_key,
                            text=message.text, state_override=NotificationState.GROUPED if message.grouped else None)
    if decision.alert:  # the procedure: tell the managers at once
        notify_approvers(tx, procedure, keys.test_page_unconfirmed(page.id), now, decision.alert)
    for event in decision.events:
        tx.add_event(page.id, now, event.kind, event.person_id, event.channel, event.detail)
    _queue_thread_line(tx, page, keys.step_thread(page.id, number), now, decision.thread_line)


def _reachable(tx, person: Person, channel: str) -> bool:
    if channel in ("sms", "voice"):
        return bool(person.phone) and not tx.opted_out(person.id, channel)
    if channel == "slack":
        return bool(person.slack_id)
    return False


def _queue_card(tx, page, now: datetime) -> None:
    tx.add_notification(keys.page_card(page.id), now, page_id=page.id, kind=MessageKind.CARD, channel=Channel.SLACK,
                        target=SlackTarget.SUPPORT, text=wording.card_text(page.id, page.summary))


def _queue_card_update(tx, page, now: datetime) -> None:
    tx.add_notification(keys.card_update(page.id, page.state, now), now, page_id=page.id,
                        kind=MessageKind.CARD_UPDATE, channel=Channel.SLACK, target=SlackTarget.SUPPORT,
                        text=wording.card_text(page.id, page.summary))


def _queue_thread_line(tx, page, key: str, now: datetime, text: str) -> None:
    tx.add_notification(key, now, page_id=page.id, kind=MessageKind.THREAD, channel=Channel.SLACK,
                        target=SlackTarget.SUPPORT, text=text)


# --- replies by phone ---------------------------------------------------------------------------

STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
START_WORDS = {"start", "yes", "unstop"}


@dataclass(frozen=True)
class PhoneReplyResult:
    pages: list[PageSnapshot]  # the pages this reply acknowledged
    message: str | None  # the answer to text back, if any


def acknowledge_phone_reply(store, procedure: Procedure, from_number: str, body: str,
                            now: datetime) -> PhoneReplyResult:
    """An SMS from a team member: "1", "ok", or a sentence beginning with On It! or Done, optionally naming
    a page ("done 42") or all of them ("done all").

    Without a number On It! applies to every page waiting on them (a storm is taken with one reply); a bare
    Done closes the one page it can mean and asks which when there are several. One transaction: a crash
    never leaves the reply half applied."""
    person = procedure.team.by_phone(from_number)
    if person is None:
        raise NotAuthorized("this number is not a team member's")
    words = " ".join(body.lower().split())
    if words in STOP_WORDS or words in START_WORDS:
        return PhoneReplyResult([], _record_sms_preference(store, procedure, person, words in STOP_WORDS, now))
    reply = parse_phone_reply(body)
    if reply is None:
        return PhoneReplyResult([], "Reply 1 (or ON IT) to take your pages, DONE when resolved; add a page "
                                    "number to pick one, e.g. DONE 42.")
    with store.transaction() as tx:
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
            pages = [tx.page(page_id, lock=True) for page_id in choice.page_ids]
        results = [_acknowledge(tx, procedure, page, person, reply.kind, "sms", now) for page in pages]
    accepted = [r.page for r in results if r.accepted]
    if not results:
        return PhoneReplyResult([], "No page is waiting on you.")
    label = "On It!" if reply.kind == "on_it" else "Done"
    if accepted:
        return PhoneReplyResult(accepted, f"{label} recorded for page " + ", ".join(f"#{p.id}" for p in accepted) + ".")
    return PhoneReplyResult([], results[0].message)


def _waits_on(tx, page, person: Person) -> bool:
    """A page someone may answer by number: theirs to answer (responsible, paged, holding it), not any page."""
    if person.id in (page.responsible, page.on_it_by, page.done_by, page.escalated_by):
        return True
    return any(n.person_id == person.id and n.kind in (MessageKind.PAGE, MessageKind.DIGEST) for n in tx.notifications_of(page.id))


def _record_sms_preference(store, procedure: Procedure, person: Person, stopped: bool, now: datetime) -> None:
    with store.transaction() as tx:
        if stopped:
            if tx.opt_out(person.id, Channel.SMS, now, "replied STOP"):
                notify_approvers(tx, procedure, keys.opted_out(person.id, Channel.SMS, now.date()), now,
                                 wording.opted_out_text(person.name, Channel.SMS))
        else:
            tx.opt_in(person.id, "sms")
    return None  # Twilio answers STOP and START itself


# --- not a ticket; the list of pages --------------------------------------------------------------

def dismiss_page(store, procedure: Procedure, page_id: int, person_id: str, channel: str,
                 now: datetime) -> AckResult:
    """"Not a ticket": close the page without paging anyone. It stays in the timeline, out of the report."""
    person = _member(procedure, person_id)
    tz = procedure.window.tz
    with store.transaction() as tx:
        page = tx.page(page_id, lock=True)
        if page is None:
            raise BadInput(f"no page {page_id}")
        holder_id, holder_at = (page.done_by, page.done_at) if page.state in CLOSED_STATES \
            else (page.on_it_by, page.on_it_at)
        holder = procedure.team.person(holder_id)
        decision = decide_dismissal(page.state, page.source, holder_id, holder.name if holder else holder_id,
                                    f"{holder_at.astimezone(tz):%H:%M}" if holder_at else None, person.id)
        if not decision.accepted:
            return AckResult(False, decision.message, snapshot(tx, page))
        # done_by/done_at say who closed it and when, whichever way it was closed.
        page.state, page.next_due_at = decision.state, None
        page.done_by, page.done_at = person.id, now
        tx.add_event(page.id, now, PageEventKind.DISMISSED, person.id, channel, "not a ticket")
        _queue_thread_line(tx, page, keys.dismissed(page.id), now, wording.dismissed_line(person.name))
        _queue_card_update(tx, page, now)
        return AckResult(True, decision.message, snapshot(tx, page))


PAGE_FILTERS = {"open": ("open", "on_it"), "closed": CLOSED_STATES}  # open: not closed yet
LIST_LIMIT, LIST_LIMIT_MAX = 50, 200
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


def list_pages(store, now: datetime, state: str | None = None, limit: int = LIST_LIMIT,
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
