"""One escalation step, decided: who is paged on which channel, what a digest covers, which calls the
throttle skips, and the line the page's thread gets. Pure: the service loads the inputs and applies the
decision (load -> decide -> apply).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from . import keys, wording
from .confirmation import ChannelOutcome
from .contacts import ordered_channels
from .messages import QueuedMessage, RecordedEvent
from .paging import EscalationPolicy, PlannedStep, digest_slot, voice_calls_allowed
from .team import Person
from .vocabulary import PHONE_CHANNELS, Channel, MessageKind, PageEventKind, SlackTarget


@dataclass(frozen=True)
class StepPage:
    """What the step needs to know of its page."""

    id: int
    summary: str
    responsible: str  # for an alert: the name (or id) of whoever should have answered
    escalation: str | None = None  # wording.escalation_note, for a page sent up the chain
    # For an alert: what happened so far on each channel the responsible person was paged on.
    outcomes: tuple[ChannelOutcome, ...] = ()
    tz: tzinfo | None = None  # the team's zone, for the times an alert names
    responsible_id: str | None = None
    # The responsible person's number was never confirmed with a code: the approvers' messages say so.
    responsible_unverified: bool = False


@dataclass(frozen=True)
class Reach:
    """One person the step pages, as things stand now."""

    person: Person
    reachable: frozenset[str]  # the channels they can be reached on (a number or Slack id, not opted out)
    waiting_elsewhere: bool = False  # another open page was phoned to them within the throttle period
    recent_call_times: tuple[datetime, ...] = ()  # the calls to them within the throttle period
    channel_order: tuple[str, ...] = ()  # the order they chose (`/oncall channels`); empty: the step's
    unverified: bool = False  # their number was never confirmed with a code


@dataclass(frozen=True)
class StepDecision:
    messages: tuple[QueuedMessage, ...]
    events: tuple[RecordedEvent, ...]  # the step's own "step" line last
    thread_line: str
    alert: str | None  # what to tell the approvers at once, when the step says so


def _paged(page: StepPage, reach: str, person_id: str, channel: str, grouped: bool = False) -> QueuedMessage:
    text = wording.page_text(channel, page.id, page.summary, page.escalation)
    if page.responsible_unverified and person_id != page.responsible_id:  # a manager paged above them
        text = f"{text} {wording.unverified_note(page.responsible)}"
    return QueuedMessage(keys.on_channel(reach, channel), MessageKind.PAGE, Channel(channel), text,
                         person_id=person_id, reach_key=reach, grouped=grouped)


def decide_step(page: StepPage, step: PlannedStep, number: int, planned_steps: int, people: Mapping[str, Reach],
                policy: EscalationPolicy, now: datetime) -> StepDecision:
    """Step `number` (0-based) of a page's plan of `planned_steps` steps before repeats.

    `people` holds the step's people who are on the team (others are skipped). A person opted out of every
    planned channel is paged on Slack instead. A person something else is already waiting on gets one
    digest text per throttle period instead of more texts and calls; calls beyond the throttle are skipped.
    """
    messages: list[QueuedMessage] = []
    events: list[RecordedEvent] = []
    reached: list[str] = []
    if step.notify == "office":
        messages.append(QueuedMessage(keys.step_office(page.id, number), MessageKind.CHANNEL, Channel.SLACK,
                                      wording.office_text(page.id, page.summary), target=SlackTarget.OFFICE))
        reached.append(wording.OFFICE_REACHED)
    for person_id in step.person_ids:
        reach = people.get(person_id)
        if reach is None:
            continue
        person = reach.person
        key = keys.step_reach(page.id, number, person.id)
        channels = ordered_channels([c for c in step.channels if c in reach.reachable], reach.channel_order)
        if not channels and step.channels:
            channels = [Channel.SLACK] if Channel.SLACK in reach.reachable else []  # the fallback when opted out
        phone = [c for c in channels if c in PHONE_CHANNELS]
        if phone and reach.waiting_elsewhere:
            # A storm of tickets must not become a storm of calls: one digest per period instead.
            messages.extend(_paged(page, key, person.id, c, grouped=True) for c in phone)
            slot = digest_slot(now, policy)
            messages.append(QueuedMessage(keys.digest(person.id, slot), MessageKind.DIGEST, Channel.SMS,
                                          wording.digest_text(page.id), person_id=person.id,
                                          reach_key=keys.digest_reach(person.id, slot)))
            events.append(RecordedEvent(PageEventKind.GROUPED, person.id, Channel.SMS,
                                        "added to the digest: another page is waiting on them"))
            channels = [c for c in channels if c not in phone]
        if Channel.VOICE in channels and not voice_calls_allowed(list(reach.recent_call_times), policy, now):
            channels.remove(Channel.VOICE)
            events.append(RecordedEvent(PageEventKind.THROTTLED, person.id, Channel.VOICE,
                                        f"call skipped: {policy.calls_per_number} calls already in the throttle "
                                        "period"))
        messages.extend(_paged(page, key, person.id, c) for c in channels)
        if channels:
            reached.append(wording.reached_text(person.name, step.notify, channels, reach.unverified))
    alert = wording.test_page_unconfirmed_text(page.id, page.responsible, page.outcomes, page.tz,
                                               page.responsible_unverified) if step.alert else None
    line = wording.step_line(number, planned_steps, reached)
    events.append(RecordedEvent(PageEventKind.STEP, detail=line))
    return StepDecision(tuple(messages), tuple(events), line, alert)
