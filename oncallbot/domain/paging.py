"""Pages and their acknowledgment clock: who is paged, when, and what an "On It!" or "Done" changes.

A page's escalation plan is frozen when the page opens (editing the configuration never rewrites pages
in flight). A plan is a list of steps; `fired` counts the steps already run, so a late or duplicate
dispatcher run that sees a different count does nothing.
"""

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from .responsibility import Responsibility
from .team import Team

PageState = Literal["open", "on_it", "done", "dismissed"]  # dismissed: closed as not a ticket
CLOSED_STATES = ("done", "dismissed")
AckKind = Literal["on_it", "done"]
Notify = Literal["oncall", "manager", "senior_managers", "approvers", "office"]

# What a caller of the paging API may say a page came from. Closed, so that no caller can pose as one of
# the bot's own intakes: "test" is the weekly test page (whose silence alerts the approvers), "slack" and
# "cli" are the other intakes, each with its own namespace of external ids.
API_SOURCES = ("api", "email", "monitoring", "phone", "voicemail", "web")
TEST_PAGE_SOURCE = "test"
# A listing of pages (the CLI's `pages`, GET /api/v1/pages) returns this many at a time, at most LIST_LIMIT_MAX.
LIST_LIMIT, LIST_LIMIT_MAX = 50, 200


@dataclass(frozen=True)
class ChainStep:
    """One rung of the configured escalation chain."""

    notify: Notify
    channels: tuple[str, ...]
    after: timedelta  # after the previous step; the first counts from the end of the ack window


@dataclass(frozen=True)
class EscalationPolicy:
    chain: tuple[ChainStep, ...]
    repeat_every: timedelta
    max_repeats: int
    calls_per_number: int = 3
    calls_period: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class PlannedStep:
    notify: Notify
    person_ids: tuple[str, ...]  # empty for the office channel
    channels: tuple[str, ...]
    delay: timedelta
    # Firing this step (or a repeat of it) also tells the approvers at once that the page is unconfirmed:
    # the weekly test page's rule, frozen into its plan.
    alert: bool = False


@dataclass(frozen=True)
class EscalationPlan:
    first_due_at: datetime
    steps: tuple[PlannedStep, ...]
    repeat_every: timedelta
    max_repeats: int

    @property
    def total(self) -> int:
        return len(self.steps) + self.max_repeats

    def step(self, number: int) -> PlannedStep:
        """Step `number` (0-based); past the chain's end the last step repeats."""
        return self.steps[min(number, len(self.steps) - 1)]

    def due_at(self, number: int) -> datetime | None:
        """When step `number` is due, or None once the plan (with its repeats) is exhausted."""
        if number >= self.total:
            return None
        due = self.first_due_at
        for index in range(1, min(number, len(self.steps) - 1) + 1):
            due += self.steps[index].delay
        if number >= len(self.steps):
            due += self.repeat_every * (number - len(self.steps) + 1)
        return due


def _people_for(notify: Notify, anchor_id: str | None, team: Team) -> tuple[str, ...]:
    if notify == "oncall":
        return (anchor_id,) if anchor_id else ()
    if notify == "manager":
        anchor = team.person(anchor_id)
        if anchor and anchor.manager_id:
            return (anchor.manager_id,)
        return tuple(p.id for p in team.approvers)  # nobody above them: the approvers are the managers
    if notify == "senior_managers":
        return tuple(p.id for p in team.with_role("senior_manager"))
    if notify == "approvers":
        return tuple(p.id for p in team.approvers)
    return ()


def people_for(notify: Notify, anchor_id: str | None, team: Team) -> tuple[str, ...]:
    """Who a step that notifies `notify` reaches, above `anchor_id` (the on-call person)."""
    return _people_for(notify, anchor_id, team)


def _planned(step: ChainStep, anchor_id: str | None, team: Team, delay: timedelta | None = None) -> PlannedStep:
    channels = ("slack",) if step.notify == "office" else step.channels
    return PlannedStep(step.notify, _people_for(step.notify, anchor_id, team), channels,
                       step.after if delay is None else delay)


def plan_escalation(responsibility: Responsibility, policy: EscalationPolicy, team: Team, created_at: datetime,
                    ack_window: timedelta) -> EscalationPlan:
    """Freeze who is paged when, from who was responsible when the page came in.

    - on call: the chain as configured, from the end of the ack window;
    - office hours: the office channel instead of the on-call person's phone, the approvers instead of a
      direct manager;
    - nobody (a gap in the rotation): the approvers at once, then the rest of the chain above them.
    """
    chain = policy.chain
    anchor = responsibility.shift.person_id if responsibility.shift else None
    if responsibility.responsible == "oncall":
        steps = [_planned(s, anchor, team) for s in chain]
        first_due = created_at + ack_window
    elif responsibility.responsible == "office":
        swapped: dict[Notify, Notify] = {"oncall": "office", "manager": "approvers"}
        steps = [_planned(replace(s, notify=swapped.get(s.notify, s.notify)), None, team) for s in chain]
        first_due = created_at + ack_window
    else:
        first = chain[0]
        steps = [_planned(replace(first, notify="approvers"), None, team, timedelta(0))]
        steps += [_planned(s, None, team) for s in chain[1:] if s.notify not in ("oncall", "manager", "approvers")]
        first_due = created_at
    return EscalationPlan(first_due, tuple(s for s in steps if s.person_ids or s.notify == "office"),
                          policy.repeat_every, policy.max_repeats)


def plan_manual_escalation(escalated_by: str, policy: EscalationPolicy, team: Team, now: datetime,
                           ack_window: timedelta) -> EscalationPlan:
    """"Beyond my scope": the person's direct manager at once, then up the chain if not taken in the window."""
    manager_index = next((i for i, s in enumerate(policy.chain) if s.notify == "manager"), None)
    manager_channels = policy.chain[manager_index].channels if manager_index is not None else ("sms", "voice", "slack")
    steps = [_planned(ChainStep("manager", manager_channels, timedelta(0)), escalated_by, team, timedelta(0))]
    rest = policy.chain[manager_index + 1:] if manager_index is not None else ()
    for offset, step in enumerate(rest):
        steps.append(_planned(step, escalated_by, team, ack_window if offset == 0 else step.after))
    return EscalationPlan(now, tuple(s for s in steps if s.person_ids), policy.repeat_every, policy.max_repeats)


@dataclass(frozen=True)
class AckDecision:
    accepted: bool
    state: PageState
    message: str  # what the person is told


def decide_acknowledgment(state: PageState, kind: AckKind, holder_name: str | None, holder_at: str | None,
                          person_name: str) -> AckDecision:
    """The first On It! takes the page; Done closes it (and counts as On It! when there was none).
    A second acknowledgment changes nothing and says so."""
    if state == "dismissed":
        return AckDecision(False, state, f"Already closed as not a ticket by {holder_name} at {holder_at}; "
                                         "nothing changed.")
    if state == "done":
        return AckDecision(False, state, f"Already done by {holder_name} at {holder_at}; nothing changed.")
    if kind == "on_it":
        if state == "on_it":
            return AckDecision(False, state,
                               f"Already taken: {holder_name} said On It! at {holder_at}; nothing changed.")
        return AckDecision(True, "on_it", f"On It!: {person_name} has this page. Escalation stopped.")
    return AckDecision(True, "done", f"Done: {person_name} resolved this page.")


_EMOJI_CODES = re.compile(r":[a-z0-9_+-]+:")
# The reply must begin with the words (after emoji and punctuation): "On it, calling them back" counts,
# "I am not on it" does not. A word boundary after them, so "on iteration" is not "on it".
_ACK_START = re.compile(r"(on[\s_-]*it|done)(?![^\W_])")
_ACK_KINDS: dict[str, AckKind] = {"done": "done"}  # every other match is a spelling of "on it"
_PHONE_WORDS: dict[str, AckKind] = {"1": "on_it", "ok": "on_it", "okay": "on_it"}
# Words that show someone meant to acknowledge ("is this done?", "I'm on it", "ack"): they get a hint.
_ATTEMPT_WORDS = re.compile(r"(?<![^\W_])(on[\s_-]*it|done|ack(?:ed|nowledg\w*)?)(?![^\W_])")
# By SMS the words may name a page ("done 42", "on it #42") or all of them ("done all").
_PAGE_REF = re.compile(r"\s*#\s*(\d+)|\s+(\d+)(?=\s*(?:$|[^\w\s]))")
_ALL_REF = re.compile(r"\s+all(?:[\W_]*)$")
ACK_HINT = ('Not taken as an acknowledgment: begin your reply with On It! or Done, for example '
            '"On it, calling them back" or "Done - refunded".')


def _cleaned(text: str) -> str:
    """Lower case, Slack's :emoji: codes gone, and every leading emoji, mark and space stripped."""
    text = _EMOJI_CODES.sub(" ", text.lower())
    start = next((i for i, c in enumerate(text) if c.isalnum()), len(text))
    return text[start:]


def _split_ack(text: str) -> tuple[AckKind, str] | None:
    """The acknowledgment the reply begins with, and the rest of the reply; None for anything else,
    and for a question ("done?" asks, it does not tell)."""
    cleaned = _cleaned(text)
    match = _ACK_START.match(cleaned)
    if match is None:
        return None
    rest = cleaned[match.end():]
    if rest.lstrip().startswith("?"):
        return None
    return _ACK_KINDS.get(match[1], "on_it"), rest


def _phone_word(text: str) -> tuple[AckKind, str] | None:
    """SMS shorthand: "1", "ok", "okay", alone or followed by a page reference."""
    cleaned = _cleaned(text)
    match = re.match(r"(1|ok|okay)(?![^\W_])", cleaned)
    if match is None:
        return None
    rest = cleaned[match.end():]
    if rest.strip(" .!") and not (_PAGE_REF.match(rest) or _ALL_REF.match(rest)):
        return None  # "ok thanks" is not an On It!
    return _PHONE_WORDS[match[1]], rest


def parse_ack_text(text: str, channel: str) -> AckKind | None:
    """'On It!', 'on it 👍', ':white_check_mark: Done.', 'On it, calling them back' -> the acknowledgment;
    anything that does not begin with the words ('I am not on it', 'is this done?') -> None.

    By SMS, '1' and 'ok' also mean On It!; on a call only the keypress 1 does."""
    if channel == "voice":
        return "on_it" if text.strip() == "1" else None
    split = _split_ack(text) or (_phone_word(text) if channel == "sms" else None)
    return split[0] if split else None


def ack_hint(text: str, channel: str) -> str | None:
    """What to tell someone whose reply looks meant as an acknowledgment but is not one; None when
    it is one, or is plain conversation ("thanks, looking into it")."""
    if parse_ack_text(text, channel) is not None:
        return None
    return ACK_HINT if _ATTEMPT_WORDS.search(_EMOJI_CODES.sub(" ", text.lower())) else None


@dataclass(frozen=True)
class PhoneReply:
    kind: AckKind
    page_number: str | None = None  # "done 42", as written: it may be longer than any page id
    every: bool = False  # "done all"


def parse_phone_reply(text: str) -> PhoneReply | None:
    """An SMS reply: the same words as everywhere ('On it, calling them'), or '1'/'ok', optionally
    naming a page right after them ('done 42', 'on it #42') or all of them ('done all')."""
    split = _split_ack(text) or _phone_word(text)
    if split is None:
        return None
    kind, rest = split
    if match := _PAGE_REF.match(rest):
        return PhoneReply(kind, match[1] or match[2])
    return PhoneReply(kind, every=bool(_ALL_REF.match(rest)))


def parse_named_ack(text: str) -> PhoneReply | None:
    """A reply in a storm message's thread (it stands for many pages): the same words as in a page's thread,
    naming the page right after them ('on it #42', 'Done 42 - refunded'); `page_number` None when it names
    none. Anything else: None."""
    split = _split_ack(text)
    if split is None:
        return None
    kind, rest = split
    match = _PAGE_REF.match(rest)
    return PhoneReply(kind, (match[1] or match[2]) if match else None)


@dataclass(frozen=True)
class PhoneReplyTargets:
    page_ids: tuple[int, ...]
    question: str | None = None  # asked instead of acting, when the reply could mean several pages


def phone_reply_targets(reply: PhoneReply, held: list[int], waiting: list[int]) -> PhoneReplyTargets:
    """Which pages a reply without a page number applies to.

    `held`: the person's pages at On It!; `waiting`: the open pages they were phoned for.
    On It! takes every waiting page (a storm is taken with one reply). A bare Done closes the one page it
    can mean (the one they hold, else the one waiting); with several it asks which, and DONE ALL closes them."""
    if reply.kind == "on_it":
        return PhoneReplyTargets(tuple(waiting))
    candidates, label = (held, "On It!") if held else (waiting, "waiting on you")
    if len(candidates) <= 1 or reply.every:
        return PhoneReplyTargets(tuple(candidates))
    numbers = [f"#{page_id}" for page_id in candidates]
    listed = ", ".join(numbers[:-1]) + f" and {numbers[-1]}"
    choices = ", ".join(f"DONE {page_id}" for page_id in candidates)
    return PhoneReplyTargets((), f"You have {listed} {label}: reply {choices} or DONE ALL")


# A page left at On It! is not forgotten: its holder is asked whether it is done, first by Slack, then by SMS.
DONE_REMINDER_CHANNELS = ("slack", "sms")


@dataclass(frozen=True)
class DoneReminder:
    number: int  # 0 for the first reminder of this On It!
    channel: str  # the planned channel
    due_at: datetime

    @property
    def channels(self) -> tuple[str, ...]:
        """The planned channel, then the other: a holder who opted out of SMS is still asked on Slack."""
        return (self.channel,) + tuple(c for c in DONE_REMINDER_CHANNELS if c != self.channel)


def done_reminder_due(on_it_at: datetime | None, reminders_sent: int, every: timedelta | None) -> DoneReminder | None:
    """The next reminder for a page On It! since `on_it_at`: one `every` after it, then another `every` later.
    None when reminders are off or both were sent."""
    if every is None or on_it_at is None or reminders_sent >= len(DONE_REMINDER_CHANNELS):
        return None
    return DoneReminder(reminders_sent, DONE_REMINDER_CHANNELS[reminders_sent], on_it_at + every * (reminders_sent + 1))


def done_reminder_cutoffs(now: datetime, every: timedelta) -> tuple[tuple[int, datetime], ...]:
    """The same rule as a query: with `sent` reminders sent, the next is due if On It! came at or before the cutoff."""
    return tuple((sent, now - every * (sent + 1)) for sent in range(len(DONE_REMINDER_CHANNELS)))


def voice_calls_allowed(recent_call_times: list[datetime], policy: EscalationPolicy, now: datetime) -> bool:
    """At most `calls_per_number` calls to one number in any `calls_period`."""
    return sum(1 for t in recent_call_times if now - t < policy.calls_period) < policy.calls_per_number


def digest_slot(now: datetime, policy: EscalationPolicy) -> str:
    """One digest per person per throttle period: the period's index names it."""
    return str(int(now.timestamp() // policy.calls_period.total_seconds()))


def plan_test_page(person_id: str, team: Team, confirm_window: timedelta, now: datetime) -> EscalationPlan:
    """The week's first evening: call, text and DM (with a Confirm button) the on-call person now; the
    approvers if nobody confirms (the alert step names what happened on each channel)."""
    approvers = tuple(p.id for p in team.approvers)
    return EscalationPlan(now, (PlannedStep("oncall", (person_id,), ("sms", "voice", "slack"), timedelta(0)),
                                PlannedStep("approvers", approvers, ("sms", "slack"), confirm_window, alert=True)),
                          timedelta(minutes=15), 0)


def keep_alerts(old: EscalationPlan, new: EscalationPlan) -> EscalationPlan:
    """A page whose plan alerts the approvers (the test page) keeps alerting after its first step when it is
    re-planned by hand (escalated)."""
    if not any(s.alert for s in old.steps):
        return new
    return replace(new, steps=tuple(replace(s, alert=s.alert or i > 0) for i, s in enumerate(new.steps)))


def decide_dismissal(state: PageState, source: str, holder_id: str | None, holder_name: str | None,
                     holder_at: str | None, person_id: str) -> AckDecision:
    """"Not a ticket": chatter is closed without paging anyone and stays out of the report.

    Refused once closed, and for the weekly test page (closing it would hide that calls do not reach the
    on-call person). After On It! only the person who took it may: they know what it turned out to be."""
    if state == "dismissed":
        return AckDecision(False, state, f"Already closed as not a ticket by {holder_name} at {holder_at}; "
                                         "nothing changed.")
    if state == "done":
        return AckDecision(False, state, f"Already done by {holder_name} at {holder_at}; nothing changed.")
    if source == "test":
        return AckDecision(False, state, "The weekly test page is not a ticket: confirm it by pressing 1 on the "
                                         "call or replying 1 to the text.")
    if state == "on_it" and holder_id != person_id:
        return AckDecision(False, state, f"{holder_name} said On It! at {holder_at}: only they can close it as not "
                                         "a ticket; nothing changed.")
    return AckDecision(True, "dismissed", "Closed as not a ticket: nobody is paged and it stays out of the report.")


Intake = Literal["all", "apps_and_bots", "people"]


def takes_as_ticket(intake: Intake, from_app: bool) -> bool:
    """`slack.intake`: whether a new support-channel message from an app/bot (or a person) becomes a page."""
    return intake == "all" or (intake == "apps_and_bots") == from_app
