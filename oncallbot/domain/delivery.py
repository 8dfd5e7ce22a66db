"""What a failed delivery changes, decided: retry it, give up, fall back to the person's other channels,
record an opt-out, tell the approvers. Pure: the delivery service loads the facts and applies the decision.

A text or call that may have gone out (interrupted mid-send, or the provider did not answer in time) is
never repeated blindly: the provider is asked first (`resolve_lookup`, `decide_reconciled`). It is marked
sent when the provider has it, sent again only when the provider shows it never went, and reported to the
approvers only when the provider cannot tell: a person is never called twice for one step.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import keys, wording
from .messages import Delivered, Found, QueuedMessage, RecordedEvent, SendCheck
from .team import Person
from .vocabulary import (
    PHONE_CHANNELS,
    Channel,
    MessageKind,
    NotificationState,
    PageEventKind,
)

MAX_ATTEMPTS = 3
RETRY_BACKOFF = timedelta(seconds=15)
FALLBACK_ORDER = (Channel.SMS, Channel.VOICE, Channel.SLACK)
FAILED_STATUSES = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled"})
UNANSWERED_CALL_STATUSES = frozenset({"busy", "no-answer", "canceled"})
OPT_OUT_CODES = frozenset({"21610"})  # Twilio: the number replied STOP
# A send the provider did not answer in time is looked up after this, once the provider has settled.
SETTLE_DELAY = timedelta(seconds=15)
RECONCILE_RETRY = timedelta(seconds=20)  # a lookup that failed or must wait is tried again at most this later
RECONCILE_GIVE_UP = timedelta(minutes=10)  # after this since it was queued, a send nobody can place is reported


@dataclass(frozen=True)
class FailedMessage:
    """The outbox row that failed, and what its fallback needs to know."""

    id: int
    kind: MessageKind
    channel: Channel
    person: Person | None
    page_id: int | None
    attempts: int  # including the one that just failed
    text: str
    target: str | None = None  # a write-back's calendar event
    reach_key: str | None = None
    opted_out: frozenset[str] = frozenset()  # the person's channels already opted out of
    page_summary: str | None = None  # for the fallback's wording
    escalation: str | None = None
    person_id: str | None = None  # as stored: also when the person has left the team since
    calls_throttled: bool = False  # the person had all the calls the phone throttle allows in its period


@dataclass(frozen=True)
class SendError:
    """Why a provider refused, as the delivery adapters classify it (errors.DeliveryFailed)."""

    message: str
    permanent: bool = False
    maybe_sent: bool = False  # the provider may have sent it
    opted_out: bool = False  # the person opted out of the channel (errors.ChannelOptedOut)
    edit_conflict: bool = False  # a write-back: the event changed since it was approved (errors.EditConflict)


@dataclass(frozen=True)
class Report:
    """A DM to every approver, once per subject."""

    subject: str
    text: str


@dataclass(frozen=True)
class FailureDecision:
    state: NotificationState  # pending (retry), failed, ambiguous
    retry_at: datetime | None = None
    opt_out: str | None = None  # the channel to record as opted out
    opt_out_reason: str = ""
    events: tuple[RecordedEvent, ...] = ()
    fallbacks: tuple[QueuedMessage, ...] = ()
    reports: tuple[Report, ...] = ()


def _pages_person(message: FailedMessage) -> bool:
    return message.person is not None and message.kind in (MessageKind.PAGE, MessageKind.DIGEST)


def decide_interrupted_send(message: FailedMessage) -> FailureDecision:
    """A send that may or may not have reached the provider, and the provider cannot tell: recorded and
    reported, never repeated."""
    events = (RecordedEvent(PageEventKind.DELIVERY_AMBIGUOUS, message.person_id, message.channel,
                            "interrupted while sending and the provider could not tell; not re-sent "
                            "(the next step covers it)"),) \
        if message.page_id else ()
    reports = (Report(keys.delivery_ambiguous(message.id),
                      wording.ambiguous_text(message.channel, message.person.name, message.page_id)),) \
        if message.person and _pages_person(message) else ()
    return FailureDecision(NotificationState.AMBIGUOUS, events=events, reports=reports)


def may_have_reached_provider(channel: str, handed_at: datetime | None) -> bool:
    """A text or call is marked handed over in a commit of its own just before the provider is called: an
    interrupted one without the mark never reached it, so it is sent again without asking. A Slack post has no
    mark (its lookup is exact: the outbox key in its metadata)."""
    return channel not in PHONE_CHANNELS or handed_at is not None


def provider_shows(channel: str, text: str) -> str | None:
    """What the provider's records show of a send to tell it from the person's other sends on that channel: a
    text's body (the lookup matches it); a call carries nothing of ours (None). Only sends that show the same can
    be taken for one another, so only they are placed together by elimination (`resolve_lookups`)."""
    return text if channel == Channel.SMS else None


@dataclass(frozen=True)
class SendTrail:
    """The outbox's other sends to the same person on the same channel that the provider's records show alike
    (`provider_shows`), around an interrupted one."""

    known_refs: frozenset[str] = frozenset()  # the provider's ids already recorded on rows
    in_flight: int = 0  # rows being sent right now, or interrupted and not looked up yet (their ids not recorded)
    unresolved: int = 0  # rows left ambiguous (their ids never recorded)
    looked_up: int = 0  # interrupted rows another lookup has or will ask about again (`RECONCILE_RETRY`)


def resolve_lookups(found: list[Found], trail: SendTrail) -> list[Found]:
    """The provider's messages it cannot tie to ours (a call carries nothing of ours) are placed by elimination.
    `found` holds the lookups of the interrupted sends to one person on one channel, oldest first; `trail` the
    other sends there. Those messages no other row accounts for are ours: none, and none of ours went; exactly
    one each, and each went (oldest to oldest); anything else the provider cannot tell. While another send to
    that person is in flight (its id not recorded yet) or being looked up elsewhere, wait: asked again at the
    same moment (`reconcile_retry_at`), the sends waiting on each other are looked up together."""
    if all(f.check != SendCheck.CANDIDATES for f in found):
        return found
    refs = [ref for f in found if f.check == SendCheck.CANDIDATES for ref in f.refs]  # each oldest first
    unaccounted = sorted({ref for ref in refs if ref not in trail.known_refs}, key=refs.index)
    candidates = [f.check == SendCheck.CANDIDATES for f in found]
    if not unaccounted:
        return [Found(SendCheck.ABSENT) if c else f for f, c in zip(found, candidates, strict=True)]
    if trail.in_flight or trail.looked_up:
        return [Found(SendCheck.UNREACHABLE) if c else f for f, c in zip(found, candidates, strict=True)]
    if len(unaccounted) == sum(candidates) and not trail.unresolved:
        refs_in_order = iter(unaccounted)
        return [Found(SendCheck.FOUND, Delivered(ref=next(refs_in_order))) if c else f
                for f, c in zip(found, candidates, strict=True)]
    return [Found(SendCheck.UNKNOWN) if c else f for f, c in zip(found, candidates, strict=True)]


def decide_reconciled(message: FailedMessage, found: Found, queued_at: datetime, now: datetime) -> FailureDecision:
    """What an interrupted send becomes once the provider was asked (`found` resolved by `resolve_lookup`).
    FOUND is not decided here: the delivery service records it as sent, as if the provider had answered."""
    if found.check == SendCheck.ABSENT:  # it never went: send it now
        return FailureDecision(NotificationState.PENDING, retry_at=now)
    if found.check == SendCheck.UNREACHABLE and now - queued_at < RECONCILE_GIVE_UP:
        return FailureDecision(NotificationState.SENDING, retry_at=reconcile_retry_at(now))
    return decide_interrupted_send(message)


def reconcile_retry_at(now: datetime) -> datetime:
    """When a lookup that must wait is asked again: at the next mark of a `RECONCILE_RETRY` grid, the same for
    every replica, so sends waiting on each other's lookups are due at one moment and one lookup takes them all."""
    step = RECONCILE_RETRY.total_seconds()
    return datetime.fromtimestamp((now.timestamp() // step + 1) * step, tz=now.tzinfo)


def fallbacks(message: FailedMessage) -> tuple[QueuedMessage, ...]:
    """The same step on the person's other channels; queued under its reach key, so each channel at most once.
    A call is a call whatever queued it: none beyond the phone throttle (a digest texted to a number that
    replied STOP would otherwise ring it every period, on top of the step's own calls)."""
    person = message.person
    if person is None or message.page_id is None or message.reach_key is None:
        return ()
    summary = wording.digest_body(message.page_id) if message.kind == MessageKind.DIGEST else message.page_summary
    queued = []
    for channel in FALLBACK_ORDER:
        if channel == message.channel or channel in message.opted_out:
            continue
        if (channel in PHONE_CHANNELS and not person.phone) or (channel == Channel.SLACK and not person.slack_id):
            continue
        if channel == Channel.VOICE and message.calls_throttled:
            continue
        queued.append(QueuedMessage(keys.on_channel(message.reach_key, channel), MessageKind.PAGE, channel,
                                    wording.page_text(channel, message.page_id, summary or "", message.escalation),
                                    person_id=person.id, reach_key=message.reach_key))
    return tuple(queued)


def _throttled(message: FailedMessage) -> tuple[RecordedEvent, ...]:
    """The timeline says so when the throttle kept a fallback from calling."""
    person = message.person
    if not (message.calls_throttled and person and person.phone and message.channel != Channel.VOICE
            and Channel.VOICE not in message.opted_out):
        return ()
    return (RecordedEvent(PageEventKind.THROTTLED, person.id, Channel.VOICE,
                          "fallback call skipped: the phone throttle's calls for the period were made"),)


def _opt_out(message: FailedMessage, person: Person) -> tuple[str | None, tuple[Report, ...]]:
    """Record the opt-out; tell the approvers the first time."""
    if message.channel in message.opted_out:
        return message.channel, ()
    return message.channel, (Report(keys.opted_out(person.id, message.channel),
                                    wording.opted_out_text(person.name, message.channel)),)


def decide_send_failure(message: FailedMessage, error: SendError, now: datetime) -> FailureDecision:
    """The provider refused a message: retry a passing failure, else give up and say so where it matters."""
    if error.maybe_sent:  # never risk calling someone twice for one step: ask the provider once it has settled
        return FailureDecision(NotificationState.SENDING, retry_at=now + SETTLE_DELAY)
    if not error.permanent and message.attempts < MAX_ATTEMPTS:
        return FailureDecision(NotificationState.PENDING, retry_at=now + RETRY_BACKOFF * message.attempts)
    failed = NotificationState.FAILED
    if message.kind == MessageKind.WRITEBACK:
        text = wording.writeback_conflict_text(message.text, message.target, error.message) if error.edit_conflict \
            else wording.writeback_failed_text(message.text, message.target, message.attempts, error.message)
        return FailureDecision(failed, reports=(Report(keys.writeback_failed(message.id), text),))
    person = message.person
    if person is None or not _pages_person(message):
        return FailureDecision(failed)
    opt_out, reports = _opt_out(message, person) if error.opted_out else (None, ())
    if message.page_id is None:
        return FailureDecision(failed, opt_out=opt_out, opt_out_reason=error.message, reports=reports)
    if not error.opted_out:
        reports += (Report(keys.delivery_failed(message.id),
                           wording.unreachable_text(person.name, message.channel, message.page_id, error.message)),)
    return FailureDecision(failed, opt_out=opt_out, opt_out_reason=error.message,
                           events=(RecordedEvent(PageEventKind.DELIVERY_FAILED, person.id, message.channel,
                                                 error.message[:200]),) + _throttled(message),
                           fallbacks=fallbacks(message), reports=reports)


def status_error(status: str, error_code: str | None) -> str:
    return f"{status} (error {error_code})" if error_code else status


def decide_status_failure(message: FailedMessage, status: str, error_code: str | None,
                          already_failed: bool) -> FailureDecision | None:
    """A provider's later word (a Twilio status callback) that a page did not arrive: it falls back like one
    refused at once. None when the status changes nothing (delivered, or not a page to a person)."""
    person = message.person
    if status not in FAILED_STATUSES or already_failed or person is None or not _pages_person(message):
        return None
    failed = NotificationState.FAILED
    if message.channel == Channel.VOICE and status in UNANSWERED_CALL_STATUSES:
        return FailureDecision(failed)  # an unanswered call is the escalation's job, not a delivery problem
    error = status_error(status, error_code)
    opt_out: str | None = None
    reports: tuple[Report, ...] = ()
    if error_code in OPT_OUT_CODES:
        opt_out, reports = _opt_out(message, person)
    else:
        reports = (Report(keys.delivery_failed(message.id),
                          wording.not_delivered_text(message.channel, person.name, message.page_id, error)),)
    reason = f"Twilio error {error_code}"
    if message.page_id is None:
        return FailureDecision(failed, opt_out=opt_out, opt_out_reason=reason, reports=reports)
    return FailureDecision(failed, opt_out=opt_out, opt_out_reason=reason,
                           events=(RecordedEvent(PageEventKind.DELIVERY_FAILED, person.id, message.channel, error),)
                           + _throttled(message), fallbacks=fallbacks(message), reports=reports)
