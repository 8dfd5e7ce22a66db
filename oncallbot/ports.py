"""The seams the services depend on, and the frozen records that cross them.

- `Store` / `StoreTx`: the unit of work (`with store.transaction() as tx:` is one database transaction) and
  every storage operation a service calls. The store hands out frozen records and takes explicit updates
  (`tx.update_page(page_id, state=...)`), so a service never changes a row behind the store's back.
  The implementation is `adapters.db.Store`, the only SQLAlchemy user.
- `RotationReads` / `RotationReadTx`: the few reads `who` makes, which the store offers and a read-only
  reader over the database driver alone (`adapters.db.rotation_reader`) offers too.
- `Clock`: the one source of "now" (`adapters.clock.SystemClock`; tests use a fake).
- `RotationSource`: where the rotation is published (Google Calendar, an iCalendar file or URL).
- `Deliverer`: sends one outbox message (`adapters.router.NotificationRouter`).
- `StoreObserver`: told what each committed transaction did (`adapters.metrics`); `Heartbeat`: the
  dead-man's switch outside the bot (`adapters.heartbeat`).
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, Required, TypedDict, Unpack, runtime_checkable

from .domain.audit import AuditEntry, PageEvent
from .domain.contacts import Verification
from .domain.messages import Delivered, Found, Outgoing
from .domain.rotation import CalendarEvent, ReportedProblem, RotationOverride, Shift
from .domain.swaps import SwapRequest
from .domain.watch import OutboxState
from .domain.web import FeedScope, SignIn, WebSession

if TYPE_CHECKING:  # services.rotation defines the fetch result; imported for types only (no cycle)
    from .services.rotation import CalendarFetch


# --- records ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageRecord:
    """A stored page. `plan` is its frozen escalation plan (services.pages.plan_from_json reads it); `fired`
    counts the steps already run; `next_due_at` is None once nothing more is due."""

    id: int
    summary: str
    source: str
    external_id: str | None
    details: str | None
    state: str  # a domain.vocabulary.PageState
    responsible: str  # a person id, "office" or "nobody"
    created_at: datetime
    deadline_at: datetime
    on_it_by: str | None
    on_it_at: datetime | None
    done_by: str | None
    done_at: datetime | None
    plan: dict[str, Any]
    fired: int
    next_due_at: datetime | None
    slack_channel: str | None
    slack_thread_ts: str | None
    slack_card_ts: str | None
    escalated_by: str | None
    done_reminders_sent: int


@dataclass(frozen=True)
class NotificationRecord:
    """An outbox row: one message, queued once per `key`, with its final text."""

    id: int
    key: str
    page_id: int | None
    kind: str  # a domain.vocabulary.MessageKind
    channel: str  # a domain.vocabulary.Channel
    person_id: str | None
    target: str | None
    etag: str | None
    text: str
    state: str  # a domain.vocabulary.NotificationState
    created_at: datetime
    claimed_until: datetime | None
    sent_at: datetime | None
    attempts: int
    provider_ref: str | None
    delivery_status: str | None
    error: str | None
    reach_key: str | None
    handed_at: datetime | None = None  # a text or call handed to the provider in this attempt


@dataclass(frozen=True)
class JobRun:
    """One claimed run of a once-per-occasion job: which occasion, when, on which replica (hostname:pid), and
    whether it ran or was skipped as missed past its grace."""

    job: str
    occasion: str
    ran_at: datetime
    replica: str | None
    outcome: str


@dataclass(frozen=True)
class PhoneCallRecord:
    """A call to the office line: see adapters.db.models.PhoneCallRow."""

    call_sid: str
    kind: str  # domain.phone_line.CallKind
    line_number: str
    caller: str  # masked
    started_at: datetime
    route: dict[str, Any]
    attempt: int
    taken_by: str | None
    ring_failure: str | None
    page_id: int | None
    test_page_id: int | None
    recording_sid: str | None
    recording_seconds: int | None
    transcription_status: str | None
    transcription: str | None


class PhoneCallUpdate(TypedDict, total=False):
    route: dict[str, Any]
    attempt: int
    taken_by: str | None
    ring_failure: str | None
    page_id: int | None
    recording_sid: str | None
    recording_seconds: int | None
    transcription_status: str | None
    transcription: str | None


class NewPageFields(TypedDict, total=False):
    summary: Required[str]
    source: Required[str]
    external_id: str | None
    details: str | None
    state: Required[str]
    responsible: Required[str]
    created_at: Required[datetime]
    deadline_at: Required[datetime]
    plan: Required[dict[str, Any]]
    fired: int
    next_due_at: datetime | None
    slack_channel: str | None
    slack_thread_ts: str | None


class PageUpdate(TypedDict, total=False):
    """The fields of a page a service may change; the ones left out stay as they are."""

    summary: str
    details: str | None
    state: str
    deadline_at: datetime
    on_it_by: str | None
    on_it_at: datetime | None
    done_by: str | None
    done_at: datetime | None
    plan: dict[str, Any]
    fired: int
    next_due_at: datetime | None
    slack_channel: str | None
    slack_thread_ts: str | None
    slack_card_ts: str | None
    escalated_by: str | None
    done_reminders_sent: int


@dataclass(frozen=True)
class NewNotification:
    """An outbox row to queue (`StoreTx.add_notifications`): what `StoreTx.add_notification` takes, as a record."""

    key: str
    created_at: datetime
    kind: str
    channel: str
    text: str
    page_id: int | None = None
    person_id: str | None = None
    target: str | None = None
    reach_key: str | None = None
    state_override: str | None = None  # e.g. grouped: recorded, deliberately not sent


@dataclass(frozen=True)
class FiredSteps:
    """A page whose due steps a dispatcher round fired: how many it has fired now, and when the next is due."""

    page_id: int
    fired: int
    next_due_at: datetime | None
    was_due_at: datetime  # when the first of the steps just fired was due (the lateness metric)


class NotificationUpdate(TypedDict, total=False):
    state: str
    claimed_until: datetime | None
    attempts: int
    error: str | None
    delivery_status: str | None
    text: str  # grouped with others that backed up behind Slack's pace (services.delivery.SlackPacer)
    sent_at: datetime | None
    provider_ref: str | None  # a card folded into a storm message: the storm's link, then the message's ts
    handed_at: datetime | None  # a Slack post looked up after an interruption: its claim's start


# --- ports --------------------------------------------------------------------------------------------

class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, tz-aware UTC."""
        ...


class UserGroups(Protocol):
    """A Slack user group's members (Slack user ids). Both raise UserGroupRefused when Slack says no, and
    IntegrationError when it cannot be reached."""

    def members(self, group_id: str) -> list[str]: ...
    def set_members(self, group_id: str, user_ids: list[str]) -> None: ...


class StoreObserver(Protocol):
    """Told, after each commit, what the transaction did that the metrics count (per process)."""

    def page_opened(self, source: str) -> None: ...
    def page_taken(self, source: str, after: timedelta) -> None:
        """A page was taken (On It!, or Done straight away), `after` it was opened."""
        ...

    def step_fired(self, due_at: datetime) -> None:
        """An escalation step due at `due_at` was fired (and its messages queued) just now."""
        ...


class Heartbeat(Protocol):
    def beat(self) -> None:
        """Call the dead-man's switch outside the bot; raises IntegrationError when it cannot."""
        ...


class RotationSource(Protocol):
    key: str  # identifies the calendar, for its sync state

    def fetch(self, sync_token: str | None, start_at: datetime, end_at: datetime) -> "CalendarFetch": ...


class Deliverer(Protocol):
    def deliver(self, message: Outgoing) -> Delivered:
        """Send one message; raises errors.DeliveryFailed (classified: permanent, maybe sent, opted out)."""
        ...


@runtime_checkable
class SentFinder(Protocol):
    def find_sent(self, message: Outgoing, since: datetime, until: datetime | None = None) -> Found:
        """Whether the provider has `message`, sent (or not) between `since` and `until` (the window it may have
        been sent in); never raises (UNREACHABLE instead)."""
        ...


class StoreTx(Protocol):
    # --- pages
    def add_page(self, **fields: Unpack[NewPageFields]) -> PageRecord | None:
        """None when the same (source, external_id) got there first."""
        ...

    def page(self, page_id: int, lock: bool = False) -> PageRecord | None: ...
    def update_page(self, page_id: int, **changes: Unpack[PageUpdate]) -> PageRecord: ...
    def page_by_external_id(self, source: str, external_id: str) -> PageRecord | None: ...
    def page_by_slack_thread(self, channel: str, thread_ts: str) -> PageRecord | None: ...
    def claim_due_pages(self, now: datetime, limit: int) -> list[PageRecord]: ...
    def claim_due_done_reminders(self, cutoffs: tuple[tuple[int, datetime], ...], excluding_source: str,
                                 limit: int) -> list[PageRecord]: ...
    def next_due_at(self) -> datetime | None: ...
    def pages_waiting_on(self, person_id: str, since: datetime, excluding: int | None = None) -> list[int]: ...
    def record_fired(self, steps: Sequence[FiredSteps]) -> None:
        """The pages (open, locked by this transaction) whose steps were fired: their `fired` and `next_due_at`."""
        ...

    # What a batch of due steps depends on, for everyone it pages at once (services.escalation):
    def pages_waiting_on_people(self, person_ids: Sequence[str], since: datetime) -> dict[str, set[int]]:
        """Per person: the open pages they were really phoned for since `since` (see pages_waiting_on)."""
        ...

    def recent_calls_to(self, person_ids: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        """Per person: the calls queued to them since `since` (see recent_calls)."""
        ...

    def opted_out_of(self, person_ids: Sequence[str]) -> set[tuple[str, str]]:
        """The (person, channel) pairs of these people that opted out."""
        ...

    def channel_orders(self, person_ids: Sequence[str]) -> dict[str, tuple[str, ...]]: ...
    def verifications_of(self, person_ids: Sequence[str]) -> dict[str, Verification]: ...
    def open_pages_phoned(self, person_id: str) -> list[PageRecord]: ...
    def pages_listed(self, states: tuple[str, ...] | None, before: int | None, limit: int) -> list[PageRecord]: ...
    def count_pages(self, states: tuple[str, ...] | None) -> int: ...
    def pages_between(self, start_at: datetime, end_at: datetime) -> list[PageRecord]: ...
    def pages_by_ids(self, page_ids: Sequence[int]) -> list[PageRecord]: ...

    # --- the timeline
    def add_event(self, page_id: int, at: datetime, kind: str, person_id: str | None = None,
                  channel: str | None = None, detail: str | None = None) -> None: ...
    def events_of(self, page_id: int) -> Sequence[PageEvent]: ...
    def events_of_pages(self, page_ids: list[int]) -> Sequence[PageEvent]: ...
    def add_events(self, events: Sequence[PageEvent]) -> None: ...

    # --- the outbox
    def add_notification(self, key: str, created_at: datetime, state_override: str | None = None, *,
                         kind: str, channel: str, text: str, page_id: int | None = None,
                         person_id: str | None = None, target: str | None = None, etag: str | None = None,
                         reach_key: str | None = None) -> bool:
        """False when that key was already queued."""
        ...

    def add_notifications(self, rows: Sequence[NewNotification]) -> None:
        """Queue each row once per key, in one statement; rows whose key is queued already are left out."""
        ...

    def notification(self, notification_id: int) -> NotificationRecord | None: ...
    def notifications_of(self, page_id: int) -> list[NotificationRecord]: ...
    def notification_by_ref(self, provider_ref: str) -> NotificationRecord | None: ...
    def notifications_by_refs(self, provider_refs: Sequence[str]) -> list[NotificationRecord]: ...
    def claim_pending_notifications(self, now: datetime, claim_until: datetime, limit: int,
                                    page_id: int | None = None,
                                    keys: Sequence[str] | None = None) -> list[NotificationRecord]: ...
    def claim_waiting_cards(self, now: datetime, claim_until: datetime, limit: int) -> list[NotificationRecord]:
        """The Slack cards pending and due by `now` (a storm message being sent takes them), claimed as
        claim_pending_notifications claims, oldest first."""
        ...

    def stale_sending(self, now: datetime) -> list[NotificationRecord]: ...
    def update_notification(self, notification_id: int, **changes: Unpack[NotificationUpdate]) -> None: ...
    def mark_sent(self, notification_id: int, at: datetime, provider_ref: str | None) -> None: ...
    def hand_over(self, notification_id: int, claimed_until: datetime, at: datetime) -> bool:
        """Mark a text or call handed to the provider, only while it is still `sending` under the claim that
        ends at `claimed_until` and not handed over yet. False: it is not ours to send (any more)."""
        ...
    # a provider's status that beat the send's own record of its reference
    def keep_early_status(self, provider_ref: str, status: str, error_code: str | None, at: datetime) -> None: ...
    def early_statuses_kept(self, provider_ref: str) -> bool: ...
    def take_early_statuses(self, provider_ref: str) -> list[tuple[str, str | None]]: ...
    def forget_early_statuses(self, received_before: datetime) -> int: ...
    def recent_calls(self, person_id: str, since: datetime) -> list[datetime]: ...
    def notifications_to(self, person_id: str, channel: str, since: datetime,
                         text: str | None = None) -> list[NotificationRecord]:
        """The outbox rows to one person on one channel (with `text`: with that text) queued or claimed since
        `since`: every one that may have reached the provider since then. Oldest first."""
        ...

    def outbox_state(self, ignoring_prefix: str | None = None) -> OutboxState:
        """The outbox's waiting rows and latest send, leaving out rows whose key starts with the prefix."""
        ...

    # --- the support mailbox
    def mailbox_position(self, mailbox: str) -> tuple[int | None, int]: ...
    def set_mailbox_position(self, mailbox: str, uidvalidity: int, uid: int) -> None: ...
    def mark_mailbox_down(self, mailbox: str, at: datetime) -> datetime | None: ...
    def mark_mailbox_up(self, mailbox: str) -> datetime | None: ...
    def add_mail_message(self, message_id: str, page_id: int, sender_key: str, new_thread: bool,
                         at: datetime) -> None: ...
    def mail_thread_page(self, message_ids: Sequence[str]) -> int | None: ...
    def mail_threads_from(self, sender_key: str, since: datetime) -> list[int]: ...

    # --- the office line's calls
    def add_phone_call(self, record: PhoneCallRecord) -> bool:
        """False when a row for that CallSid exists already (Twilio retried the webhook)."""
        ...

    def phone_call(self, call_sid: str, lock: bool = False) -> PhoneCallRecord | None: ...
    def update_phone_call(self, call_sid: str, **changes: Unpack[PhoneCallUpdate]) -> PhoneCallRecord: ...
    def phone_call_of_page(self, page_id: int) -> PhoneCallRecord | None: ...

    # --- inbound dedupe and opt-outs
    def first_time_seen(self, key: str, at: datetime) -> bool: ...
    def seen(self, key: str) -> bool: ...
    def opted_out(self, person_id: str, channel: str) -> bool: ...
    def opt_out(self, person_id: str, channel: str, at: datetime, reason: str) -> bool:
        """True when the opt-out is new."""
        ...

    def opt_in(self, person_id: str, channel: str) -> None: ...

    # --- the rotation side: the calendar's events and weeks (the shift reads return the weeks in effect,
    # overrides laid over them), the overrides, the audit trail, the sync state and the reported problems
    def flush(self) -> None: ...
    def calendar_events(self) -> list[CalendarEvent]: ...
    def calendar_event(self, event_id: str) -> CalendarEvent | None: ...
    def replace_calendar_events(self, events: list[CalendarEvent]) -> None: ...
    def upsert_calendar_events(self, events: list[CalendarEvent]) -> None: ...
    def delete_calendar_events(self, event_ids: list[str]) -> None: ...
    def replace_shifts(self, shifts: list[Shift]) -> None: ...
    def shifts_starting_between(self, start_at: datetime, end_at: datetime) -> list[Shift]: ...
    def replace_shifts_between(self, start_at: datetime, end_at: datetime, shifts: list[Shift]) -> None: ...
    def shifts_between(self, start_at: datetime, end_at: datetime) -> list[Shift]: ...
    def shifts_around(self, at: datetime) -> list[Shift]: ...
    def shifts_of(self, person_id: str, from_at: datetime, limit: int = 8) -> list[Shift]: ...
    def all_shifts(self) -> list[Shift]: ...
    def rotation_version(self) -> int:
        """The rotation's version as this transaction sees it (raised by every change to the rotation)."""
        ...
    def shift_for_week(self, week_start: date, lock: bool = False) -> Shift | None:
        """The week in effect; `lock` holds it until the transaction ends (two changes of it take turns)."""
        ...

    def calendar_shifts_between(self, start_at: datetime, end_at: datetime) -> list[Shift]:
        """The calendar's weeks alone (no overrides) that overlap [start_at, end_at)."""
        ...

    def add_override(self, override: RotationOverride) -> RotationOverride:
        """Store an override; returns it with its id."""
        ...

    def overrides_between(self, first_week: date, last_week: date) -> list[RotationOverride]: ...
    def add_audit_entry(self, entry: AuditEntry) -> None: ...
    def audit_entries(self, subject: str, subject_id: str | None = None,
                      limit: int | None = None) -> list[AuditEntry]: ...
    def sync_state(self, source: str) -> tuple[str | None, datetime | None]: ...
    def set_sync_state(self, source: str, sync_token: str | None, synced_at: datetime) -> None: ...
    def sync_expanded_until(self, source: str) -> datetime | None: ...
    def claim_sync(self, source: str, claim: str, now: datetime, until: datetime) -> bool: ...
    def holds_sync_claim(self, source: str, claim: str) -> bool: ...
    def finish_sync(self, source: str, claim: str, sync_token: str | None, synced_at: datetime,
                    expanded_until: datetime | None) -> None: ...
    def release_sync_claim(self, source: str, claim: str) -> None: ...
    def claim_job_run(self, job: str, occasion: str, at: datetime, outcome: str = "ran") -> bool: ...
    def last_job_run(self, job: str) -> JobRun | None: ...
    def first_report_of(self, key: str, at: datetime, text: str | None = None,
                        ends_at: datetime | None = None) -> bool: ...
    def forget_reported_problems_except(self, keys: list[str]) -> list[ReportedProblem]: ...
    # --- swap requests (and the Slack DMs sent about them, so each transition can redraw them)
    def add_swap_request(self, request: SwapRequest, expires_at: datetime,
                         remind_at: datetime | None) -> SwapRequest: ...
    def swap_request(self, request_id: str, lock: bool = False) -> SwapRequest | None: ...
    def update_swap_request(self, request: SwapRequest) -> None: ...
    def hold_swap_weeks(self, request_id: str, weeks: Sequence[date]) -> bool: ...
    def release_swap_weeks(self, request_id: str) -> None: ...
    def held_swap_weeks(self) -> set[date]: ...
    def swap_requests(self, states: Sequence[str] | None = None) -> list[SwapRequest]: ...
    def due_swap_requests(self, states: Sequence[str], now: datetime, limit: int = 100) -> list[SwapRequest]: ...
    def swap_requests_to_remind(self, states: Sequence[str], now: datetime) -> list[SwapRequest]: ...
    def mark_swap_reminded(self, request_id: str, at: datetime) -> bool: ...
    def swap_recipients(self, request_id: str) -> list[str]: ...
    def add_swap_message(self, request_id: str, person_id: str, slack_channel: str, slack_ts: str,
                         text: str) -> None: ...
    def swap_messages(self, request_id: str, person_id: str) -> list[tuple[str, str, str]]: ...
    def audit_entries_since(self, subjects: Sequence[str], since: datetime | None,
                            limit: int | None = None) -> list[AuditEntry]: ...
    # --- the web view's sign-in links and sessions, the calendar feeds' tokens (stored as hashes)
    def add_sign_in(self, token_hash: str, person_id: str, at: datetime) -> None: ...
    def sign_in(self, token_hash: str, lock: bool = False) -> SignIn | None: ...
    def use_sign_in(self, token_hash: str, at: datetime) -> bool:
        """False when it was used already."""
        ...

    def add_web_session(self, token_hash: str, session: WebSession, at: datetime) -> None: ...
    def web_session(self, token_hash: str, now: datetime) -> WebSession | None:
        """The session, unless it has ended."""
        ...

    def end_web_session(self, token_hash: str) -> None: ...
    def forget_expired_web_access(self, sessions_ended_by: datetime, links_made_before: datetime) -> None: ...
    def add_feed_token(self, token_hash: str, person_id: str, scope: str, at: datetime) -> None: ...
    def feed_token(self, token_hash: str) -> tuple[str, FeedScope] | None:
        """Whose feed, and which, unless revoked."""
        ...

    def revoke_feed_tokens(self, person_id: str, at: datetime) -> int: ...
    def week_change_counts(self, first_week: date, last_week: date) -> dict[date, int]: ...

    # --- contacts (issue 10, items 7 and 8)
    def verification(self, person_id: str, lock: bool = False) -> Verification | None: ...
    def verifications(self) -> list[Verification]: ...
    def start_verification(self, verification: Verification, replacing: str | None) -> bool:
        """Store the first code for a number: when the person has no row yet (`replacing` None) or their row is
        still for the number `replacing`. False when another replica got there first."""
        ...

    def update_verification(self, person_id: str, **changes: Any) -> None: ...
    def mark_verification_reminded(self, person_id: str, phone: str, at: datetime) -> bool:
        """The claim of the 48-hour reminder: True for the one caller that set it."""
        ...

    def channel_order(self, person_id: str) -> tuple[str, ...]: ...
    def set_channel_order(self, person_id: str, channels: Sequence[str], at: datetime) -> None: ...


class RotationReadTx(Protocol):
    """The reads `who` makes: the weeks in effect around an instant, and a calendar's last sync."""

    def shifts_around(self, at: datetime) -> list[Shift]:
        """The two weeks in effect starting at or before `at` and the two after, by start."""
        ...

    def sync_state(self, source: str) -> tuple[str | None, datetime | None]: ...


class RotationReads(Protocol):
    """Where `who` reads the rotation: the store (its `reading()` transaction is a RotationReadTx too), or
    `adapters.db.rotation_reader.RotationReader`, the same rows read over the database driver alone (the
    CLI's `who` starts without SQLAlchemy)."""

    def reading(self) -> AbstractContextManager[RotationReadTx]: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[StoreTx]:
        """One read-write database transaction: committed when the block ends, rolled back on an error."""
        ...

    def reading(self) -> AbstractContextManager[StoreTx]:
        """A transaction that only reads."""
        ...

    def rotation_version(self) -> int:
        """The rotation's version as committed now, read without a transaction: one cheap read that tells an
        in-memory copy of the rotation whether it is still current, on this replica or any other."""
        ...
