"""What the outbox hands a notifier: one message, its final wording, and a typed payload per kind.

A notifier dispatches on the payload's type. A new kind of message (a swap approval with buttons, an
email) is a new payload class and a branch in the notifier that carries it, not a special case threaded
through every notifier.
"""

from dataclasses import dataclass
from enum import StrEnum

from .team import Person
from .vocabulary import Channel, MessageKind, PageEventKind, SlackTarget


@dataclass(frozen=True)
class PageCard:
    """What a page's Slack message shows, as it stands when the message is sent; the Slack adapter lays it out."""

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
    details: str | None = None
    recording: bool = False  # a voicemail with its recording: the card links to it

    @property
    def voicemail(self) -> bool:
        return self.source == "voicemail"


@dataclass(frozen=True)
class CardPayload:
    """The page's card: posted (kind card) or redrawn in place (kind card_update)."""

    card: PageCard
    update: bool


@dataclass(frozen=True)
class ThreadPayload:
    """A line in the page's thread (the team channel when the card has no thread yet); `storm_ts`: the page's
    card was folded into a storm message, so the line goes to that message's thread."""

    card: PageCard
    storm_ts: str | None = None


@dataclass(frozen=True)
class StormPayload:
    """The cards of a storm, posted as one message in the support channel (domain.pacing): the outbox row
    carrying it is one page's card, `rows` the other cards folded into it. No card, no buttons of its own."""

    rows: tuple[int, ...]


@dataclass(frozen=True)
class ChannelPayload:
    """A post in a team channel."""

    target: SlackTarget


@dataclass(frozen=True)
class PagePayload:
    """A page (or a digest of pages) to a person: a text, a call (whose keypress answers `page_id`) or a DM."""

    page_id: int
    digest: bool = False
    confirm: bool = False  # the weekly test page's Slack DM: a Confirm button answers it
    through_line: str | None = None  # the weekly test call: call this office line number, which rings the person


@dataclass(frozen=True)
class VoicemailPayload:
    """Words left on the live call `call_sid`, which a machine answered."""

    call_sid: str


@dataclass(frozen=True)
class ReportPayload:
    """A plain DM to a person; `verify`: with the Verify my number button (kind verify)."""

    verify: bool = False


@dataclass(frozen=True)
class ReminderPayload:
    """"Is it done?" to the holder of a page, with the card's Done button when it goes by Slack."""

    card: PageCard


@dataclass(frozen=True)
class WritebackPayload:
    """An approved change of a week's assignee, written to its calendar event (If-Match: `etag`)."""

    event_id: str
    etag: str | None  # None: queued before versions were stored; never written blind


@dataclass(frozen=True)
class SwapButton:
    action: str  # swap_accept | swap_decline | swap_approve | swap_reject | swap_cancel
    label: str
    style: str | None = None  # primary | danger


@dataclass(frozen=True)
class SwapCard:
    """A swap request as it stands when the message is sent: its status line and the buttons this recipient
    may press now (none once it is decided: no stale buttons)."""

    request_id: str
    status: str
    buttons: tuple[SwapButton, ...]


@dataclass(frozen=True)
class SentSwapMessage:
    slack_channel: str
    slack_ts: str
    text: str  # what it said when sent


@dataclass(frozen=True)
class SwapPayload:
    """A DM about a swap request (kind swap), or the redraw of those already sent to the person (swap_update)."""

    card: SwapCard
    update: bool = False
    sent: tuple[SentSwapMessage, ...] = ()  # swap_update: the messages to redraw


Payload = CardPayload | ThreadPayload | ChannelPayload | PagePayload | ReportPayload | ReminderPayload \
    | WritebackPayload | SwapPayload | VoicemailPayload | StormPayload


@dataclass(frozen=True)
class Outgoing:
    id: int
    kind: MessageKind
    channel: Channel
    text: str  # exactly what the person reads (or hears), composed when the message was queued
    person: Person | None
    payload: Payload
    page_id: int | None = None  # the page it belongs to: one page's messages are sent in order
    key: str = ""  # its outbox key: attached where the provider keeps it (Slack metadata), to find it again

    @property
    def card(self) -> PageCard | None:
        return getattr(self.payload, "card", None)

    @property
    def target(self) -> str | None:
        if isinstance(self.payload, ChannelPayload):
            return self.payload.target
        if isinstance(self.payload, (CardPayload, ThreadPayload, StormPayload)):
            return SlackTarget.SUPPORT
        if isinstance(self.payload, WritebackPayload):
            return self.payload.event_id
        return None


@dataclass(frozen=True)
class Delivered:
    ref: str | None
    slack_channel: str | None = None
    slack_ts: str | None = None


class SendCheck(StrEnum):
    """What a provider says of a send that was interrupted (services.delivery.reap_stale_sends)."""

    FOUND = "found"  # it has the message: `Found.delivered`
    ABSENT = "absent"  # it shows the message never went: sending it now is safe
    CANDIDATES = "candidates"  # messages it cannot tie to ours (`Found.refs`): ours only if one is unaccounted for
    UNKNOWN = "unknown"  # it cannot tell (no lookup for this kind of message)
    UNREACHABLE = "unreachable"  # the lookup failed: ask again later


@dataclass(frozen=True)
class Found:
    check: SendCheck
    delivered: Delivered | None = None
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueuedMessage:
    """An outbox row a decision asks for; queued at most once per key."""

    key: str
    kind: MessageKind
    channel: Channel
    text: str
    person_id: str | None = None
    target: SlackTarget | None = None
    reach_key: str | None = None  # pages and digests: see domain.keys.step_reach
    grouped: bool = False  # recorded but never sent: a digest covers it


@dataclass(frozen=True)
class RecordedEvent:
    """A line a decision adds to a page's timeline."""

    kind: PageEventKind
    person_id: str | None = None
    channel: str | None = None
    detail: str | None = None
