"""Confirmation means a person, not a device: who picked up a page call (Twilio's answering machine
detection), and what happened to a page on each channel it was sent on (sent, delivered, answered by
human or machine, confirmed). Pure: the service loads the outbox rows and the timeline and passes them in.

Only a deliberate answer confirms: a keypress on the call, an SMS reply, a Slack button. A voicemail
pickup reached the device, not the person.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Answered = Literal["human", "machine", "unknown"]

# Twilio's AnsweredBy values: human, machine_start, machine_end_beep, machine_end_silence,
# machine_end_other, fax, unknown.
ANSWERED_BY_VALUES = ("human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
                      "fax", "unknown")
DELIVERED_STATUSES = ("delivered", "read", "in-progress", "answered", "completed")  # reached the device
FAILED_STATUSES = ("undelivered", "failed", "busy", "no-answer", "canceled")
CONFIRMING_EVENTS = ("on_it", "done")
CHANNEL_ORDER = ("voice", "sms", "slack")  # how an alert lists them: the call first, it is what the test is about


def answered(answered_by: str) -> Answered:
    """human, machine (an answering machine, a voicemail box, a fax) or unknown."""
    if answered_by == "human":
        return "human"
    if answered_by.startswith("machine_") or answered_by == "fax":
        return "machine"
    return "unknown"


def leaves_voicemail(answered_by: str) -> bool:
    """A voicemail box answered: leave the words that a page is waiting (not on a fax, not on `unknown`,
    where the keypress decides)."""
    return answered_by.startswith("machine_")


@dataclass(frozen=True)
class Send:
    """A page sent to a person on a channel (an outbox row of kind page)."""

    person_id: str
    channel: str
    state: str  # the outbox state: sent, failed, pending, ...
    sent_at: datetime | None
    delivery_status: str | None  # Twilio's last status


@dataclass(frozen=True)
class Seen:
    """A line of the page's timeline."""

    kind: str
    person_id: str | None
    channel: str | None
    at: datetime
    detail: str | None


@dataclass(frozen=True)
class ChannelOutcome:
    """What happened to the page on one channel for one person."""

    person_id: str
    channel: str
    sent_at: datetime | None  # None: not sent (yet, or it failed)
    delivery_status: str | None
    delivered_at: datetime | None
    answered: Answered | None  # calls only
    answered_at: datetime | None
    confirmed_at: datetime | None
    line: str | None = None  # a test call through the office line: its last result (no answer, voicemail, ...)

    @property
    def delivered(self) -> bool:
        return self.delivery_status in DELIVERED_STATUSES or self.delivered_at is not None


def channel_outcomes(sends: Iterable[Send], timeline: Iterable[Seen]) -> tuple[ChannelOutcome, ...]:
    """One outcome per person and channel: the people in the order the page first went out to them, their
    channels call, SMS, Slack."""
    seen = list(timeline)
    latest: dict[tuple[str, str], Send] = {}
    for send in sends:
        latest[(send.person_id, send.channel)] = send
    outcomes = []
    people = list(dict.fromkeys(person_id for person_id, _ in latest))

    def order(key: tuple[str, str]) -> tuple[int, int]:
        channel = key[1]
        return people.index(key[0]), CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNEL_ORDER)

    for (person_id, channel), send in sorted(latest.items(), key=lambda item: order(item[0])):
        mine = [e for e in seen if e.person_id == person_id and e.channel == channel]
        delivered = next((e.at for e in mine if e.kind == "delivered"), None)
        answer = next((e for e in reversed(mine) if e.kind == "answered"), None)
        confirmed = next((e.at for e in mine if e.kind in CONFIRMING_EVENTS), None)
        kind: Answered | None = None
        if answer is not None:
            word = (answer.detail or "unknown").split(" ")[0]
            kind = "human" if word == "human" else "machine" if word == "machine" else "unknown"
        line = next((e.detail for e in reversed(mine) if e.kind == "line_test"), None)
        outcomes.append(ChannelOutcome(person_id, channel, send.sent_at if send.state == "sent" else None,
                                       send.delivery_status, delivered, kind, answer.at if answer else None,
                                       confirmed, line))
    return tuple(outcomes)
