"""The office phone line: who a customer's call rings at an instant, what the caller hears, and what an
unanswered call becomes. Pure: the service passes in who is responsible (`responsible_at`) and the time.

Vocabulary:
- *line*: the team's Twilio numbers customers call (`phone_line.numbers`).
- *ring*: one `<Dial>` of one person's cell, screened: they hear "press 1 to take it" before the caller is
  connected, so a voicemail box that picks up never swallows the call.
- *taken*: the person pressed 1; the call is bridged and recorded as a page already On It! by them.
- *voicemail*: nobody took it; the caller hears the greeting and leaves a message, which becomes a page.
- *missed call*: the caller hung up without a message (under MIN_MESSAGE_SECONDS of audio).
"""

from dataclasses import dataclass
from typing import Literal

from .confirmation import answered
from .paging import people_for
from .responsibility import Responsibility
from .team import Team

VOICEMAIL = "voicemail"  # office_hours_forward: take a message instead of forwarding
MIN_MESSAGE_SECONDS = 2  # shorter recordings are hang-ups, not messages
TAKE_DIGIT = "1"
TryNext = Literal["manager"]
CallKind = Literal["customer", "test"]
# Why a ring did not end in a taken call, as the managers' alert about a test call names it.
RingFailure = Literal["no answer", "busy", "failed", "voicemail", "no keypress"]


@dataclass(frozen=True)
class PhoneLine:
    numbers: tuple[str, ...]
    office_hours_forward: str  # an E.164 number, or VOICEMAIL
    ring_seconds: int = 20
    greeting: str = ""  # what the caller hears before the beep
    greeting_url: str | None = None  # a recorded greeting played instead of `greeting`
    office_greeting: str = ""  # the greeting inside business hours (office_hours_forward: voicemail)
    office_greeting_url: str | None = None
    max_voicemail_seconds: int = 180
    transcribe: bool = True
    try_next: TryNext | None = None  # also ring the next person of the escalation chain before voicemail

    def serves(self, number: str) -> bool:
        return number in self.numbers


@dataclass(frozen=True)
class RingTarget:
    person_id: str
    number: str


@dataclass(frozen=True)
class CallRoute:
    """Where a call goes: the people rung in turn (each for ring_seconds), else `forward_to`, else voicemail."""

    responsible: str  # oncall | office | nobody, as responsible_at said
    targets: tuple[RingTarget, ...] = ()
    forward_to: str | None = None
    office_hours: bool = False  # the voicemail (if it comes to that) is the office-hours one


def route_call(responsibility: Responsibility, line: PhoneLine, team: Team, kind: CallKind = "customer") -> CallRoute:
    """After hours: the on-call person of that instant (then the next of the chain if `try_next`); in business
    hours: `office_hours_forward`; in a gap: the approvers. The weekly test call rings the on-call person only:
    it is there to prove that one route."""

    def ringable(person_ids: tuple[str, ...]) -> list[RingTarget]:
        people = (team.person(p) for p in person_ids)
        return [RingTarget(p.id, p.phone) for p in people if p is not None and p.phone]

    anchor = responsibility.shift.person_id if responsibility.shift else None
    if responsibility.responsible == "office" and kind == "customer":
        if line.office_hours_forward == VOICEMAIL:
            return CallRoute("office", office_hours=True)
        return CallRoute("office", forward_to=line.office_hours_forward, office_hours=True)
    if responsibility.responsible == "nobody" or anchor is None:
        return CallRoute("nobody", () if kind == "test" else tuple(ringable(people_for("approvers", None, team))))
    targets = ringable((anchor,))
    if line.try_next == "manager" and kind == "customer":
        targets += [t for t in ringable(people_for("manager", anchor, team)) if t not in targets]
    return CallRoute(responsibility.responsible, tuple(targets))


def target_at(route: CallRoute, attempt: int) -> RingTarget | None:
    """The person rung on attempt `attempt` (0-based); None once everyone was tried."""
    return route.targets[attempt] if 0 <= attempt < len(route.targets) else None


def is_message(recording_seconds: int | None) -> bool:
    """A recording long enough to be a message; a shorter one is a hang-up (a missed call)."""
    return recording_seconds is not None and recording_seconds >= MIN_MESSAGE_SECONDS


def ring_failure(dial_status: str, answered_by: str | None) -> RingFailure:
    """Why a ring that nobody took failed, from Twilio's DialCallStatus and the callee leg's AnsweredBy."""
    if answered_by and answered(answered_by) == "machine":
        return "voicemail"
    if dial_status in ("busy", "failed"):
        return "busy" if dial_status == "busy" else "failed"
    if dial_status == "completed":  # picked up, but nobody pressed 1
        return "no keypress"
    return "no answer"


def duration_label(seconds: int) -> str:
    """42 -> "0:42", 3725 -> "62:05"."""
    return f"{seconds // 60}:{seconds % 60:02d}"


# --- what the caller (or the person rung) hears next: the service decides, the Twilio adapter renders ------

@dataclass(frozen=True)
class Ring:
    """Dial `target`, screened, for `seconds`, showing the line's number as the caller id."""

    target: RingTarget
    attempt: int
    caller_id: str
    seconds: int


@dataclass(frozen=True)
class Forward:
    number: str
    caller_id: str
    seconds: int


@dataclass(frozen=True)
class TakeMessage:
    greeting: str
    greeting_url: str | None
    max_seconds: int
    transcribe: bool


@dataclass(frozen=True)
class HangUp:
    words: str | None = None


@dataclass(frozen=True)
class Prompt:
    """The screening prompt to the person rung: press 1 to take the call."""

    words: str


@dataclass(frozen=True)
class Connect:
    """The person pressed 1: end the screening, bridge the caller."""


LineStep = Ring | Forward | TakeMessage | HangUp
ScreenStep = Prompt | Connect | HangUp


def route_to_json(route: CallRoute) -> dict[str, object]:
    return {"responsible": route.responsible, "forward_to": route.forward_to, "office_hours": route.office_hours,
            "targets": [{"person_id": t.person_id, "number": t.number} for t in route.targets]}


def route_from_json(data: dict[str, object]) -> CallRoute:
    targets = data.get("targets")
    forward_to = data.get("forward_to")
    return CallRoute(str(data.get("responsible", "nobody")),
                     tuple(RingTarget(str(t["person_id"]), str(t["number"])) for t in targets)
                     if isinstance(targets, list) else (),
                     forward_to if isinstance(forward_to, str) else None, bool(data.get("office_hours")))


def take_message(line: PhoneLine, office_hours: bool) -> TakeMessage:
    if office_hours:
        return TakeMessage(line.office_greeting, line.office_greeting_url, line.max_voicemail_seconds, line.transcribe)
    return TakeMessage(line.greeting, line.greeting_url, line.max_voicemail_seconds, line.transcribe)


def step_of_call(route: CallRoute, attempt: int, taken: bool, kind: CallKind, line: PhoneLine,
                 line_number: str) -> LineStep:
    """Where a call stands: ringing person `attempt`, forwarded, over (taken, or a test call that failed),
    or taking a message."""
    if taken:
        return HangUp()
    target = target_at(route, attempt)
    if target is not None:
        return Ring(target, attempt, line_number, line.ring_seconds)
    if kind == "test":  # the test call proves the route to one person; it never leaves a voicemail
        return HangUp()
    if route.forward_to and attempt == 0:
        return Forward(route.forward_to, line_number, line.ring_seconds)
    return take_message(line, route.office_hours)
