"""Tables. Every instant is a UTCDateTime; every constraint is named so SQLite batch migrations work."""

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CalendarEventRow(Base):
    """The mirror of the rotation calendar, one row per expanded occurrence."""

    __tablename__ = "calendar_events"
    event_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    attendee_emails: Mapped[list] = mapped_column(JSON, default=list)
    etag: Mapped[str | None] = mapped_column(String(255), nullable=True)  # Google's version of the event


class ShiftRow(Base):
    """What the calendar says each on-call week: one person per week, derived from the calendar at sync.

    Every week the calendar ever gave us is kept (it is the history `who --at` answers from); a sync
    replaces only the weeks inside the window it fetched. Changes made in the bot (swaps, handovers,
    reassignments) live in rotation_overrides and are laid over these weeks when the rotation is read
    (the store's shift reads return the weeks in effect). Why the calendar's weeks and not the effective
    ones: a sync can then replace its part without knowing about overrides, an override can never be lost
    or applied twice by a sync, and what `who` says is always the current calendar plus the current
    overrides, with no second copy to keep in step. Reading costs one more indexed query."""

    __tablename__ = "shifts"
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, unique=True)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[str] = mapped_column(String(512))


class RotationOverrideRow(Base):
    """A change of one on-call week made in the bot (swap, handover, reassignment), laid over the
    calendar's week when the rotation is read; a sync never touches these."""

    __tablename__ = "rotation_overrides"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    week_start: Mapped[date] = mapped_column(Date, index=True)
    from_person_id: Mapped[str] = mapped_column(String(64))
    to_person_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # swap | handover | reassignment
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RotationVersionRow(Base):
    """One row: a number every change to the rotation in effect (a sync's weeks, an override) raises in the
    same transaction, so each replica's in-memory copy of the rotation knows, with one cheap read, when to
    load it again. A missing row reads as version 0."""

    __tablename__ = "rotation_version"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class SyncStateRow(Base):
    """Per calendar: its change-feed token, when it last synced, how far ahead its last full fetch expanded
    recurring events, and the claim of the sync running now (so replicas take turns)."""

    __tablename__ = "sync_state"
    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    sync_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: claimed, never synced
    expanded_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class JobRunRow(Base):
    """One row per (job, occasion): the replica that inserts it runs the job, the others do nothing."""

    __tablename__ = "job_runs"
    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    occasion: Mapped[str] = mapped_column(String(64), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
    replica: Mapped[str | None] = mapped_column(String(128))  # hostname:pid of the replica that claimed it
    outcome: Mapped[str] = mapped_column(String(16), server_default="ran")  # "ran", or "missed" past the grace


Index("ix_shifts_person_start", ShiftRow.person_id, ShiftRow.start_at)


class PageRow(Base):
    """A voicemail or ticket on the acknowledgment clock. `next_due_at` is its next escalation deadline."""

    __tablename__ = "pages"
    # Each source's external ids are its own: an API caller's id never meets a Slack ticket's or a test page's.
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_pages_source_external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="open")
    responsible: Mapped[str] = mapped_column(String(64))  # a person id, "office" or "nobody"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)  # On It! is due by then
    on_it_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    on_it_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    plan: Mapped[dict] = mapped_column(JSON)  # the frozen escalation plan
    fired: Mapped[int] = mapped_column(default=0)  # steps of the plan already run
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    slack_channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the ticket's message
    slack_card_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)  # our reply with the buttons
    escalated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # "Is it done?" reminders sent for the current On It! (the next is due done_reminder after the last).
    done_reminders_sent: Mapped[int] = mapped_column(default=0, server_default="0")


class AuditEntryRow(Base):
    """The audit trail: page timelines (subject "page"), rotation changes ("rotation") and, next, swaps.
    See domain/audit.py for what each column holds."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)  # the order entries were written in
    subject: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class NotificationRow(Base):
    """The outbox. `key` makes each (page, step, person, channel) send happen at most once.

    pending -> sending (committed before the provider is called) -> sent | failed. A `sending` row whose
    deadline passed is never re-sent blindly: sent again when it was never handed to the provider, else looked
    up with the provider, and marked ambiguous and reported only when the provider cannot tell
    (services.delivery.reap_stale_sends).
    """

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # a domain.vocabulary.MessageKind
    channel: Mapped[str] = mapped_column(String(16))  # sms | voice | slack
    person_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a Slack channel when not a person
    # A write-back's If-Match: the version approved.
    etag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    text: Mapped[str] = mapped_column(Text)  # exactly what the recipient reads, composed when it was queued
    # A page or digest: the step's attempt to reach this person; its fallback to another channel is queued
    # under `reach_key:channel`, so each channel is tried at most once per step.
    reach_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    provider_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A text or call: committed just before the provider is called (cleared by each claim). An interrupted
    # send without it never reached the provider.
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PhoneCallRow(Base):
    """A call to the office line (or the weekly test call through it), one row per Twilio CallSid: its route,
    who took it, and what it became. Twilio's callbacks (retried, duplicated, out of order) each fill in
    their part under this row's lock, so a call makes one page and a transcription is added once."""

    __tablename__ = "phone_calls"
    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # customer | test
    line_number: Mapped[str] = mapped_column(String(32))  # the team's number that was called
    caller: Mapped[str] = mapped_column(String(32))  # masked: the caller's full number is not kept
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    route: Mapped[dict] = mapped_column(JSON)  # the people rung in turn, frozen when the call came in
    attempt: Mapped[int] = mapped_column(default=0)  # the ring under way (an index into route targets)
    taken_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ring_failure: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the last ring's, if it failed
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id", ondelete="SET NULL"), nullable=True,
                                                index=True)
    test_page_id: Mapped[int | None] = mapped_column(nullable=True)  # the weekly test page this call proves
    recording_sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recording_seconds: Mapped[int | None] = mapped_column(nullable=True)
    transcription_status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # completed | failed
    transcription: Mapped[str | None] = mapped_column(Text, nullable=True)


class EarlyStatusRow(Base):
    """A provider's delivery status that arrived before the send it is about was recorded as sent (Twilio can
    post the status callback before its own API answer reaches us): kept until the send records its reference,
    then applied once and deleted; forgotten after a while when no send of ours ever claims it."""

    __tablename__ = "early_statuses"
    __table_args__ = (UniqueConstraint("provider_ref", "status"),)  # a repeated callback is kept once
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    provider_ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboundEventRow(Base):
    """Inbound events already handled (Slack event ids, Twilio sids), so retries do nothing twice."""

    __tablename__ = "inbound_events"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OptOutRow(Base):
    """A person who cannot be reached on a channel (SMS STOP): never sent on it again."""

    __tablename__ = "opt_outs"
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)


class ReportedProblemRow(Base):
    """Rotation problems the approvers were told about and that are still there: once per problem, not every
    sync; a row goes when its problem does (with a "resolved" message when it was fixed before `ends_at`)."""

    __tablename__ = "reported_problems"
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # what was reported; None: before 0004
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)



# --- swaps (issue 9) -----------------------------------------------------------------------------------

class SwapRequestRow(Base):
    """A swap, handover or reassignment, from request to its last state (domain.swaps.SwapRequest)."""

    __tablename__ = "swap_requests"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24))
    requester_id: Mapped[str] = mapped_column(String(64))
    counterpart_id: Mapped[str] = mapped_column(String(64))
    requester_week: Mapped[date] = mapped_column(Date)
    counterpart_week: Mapped[date | None] = mapped_column(Date, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    previous_owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the start of its earliest week
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # the approvers' reminder
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SwapRequestWeekRow(Base):
    """The guard: a week held by a pending request; the week is the key, so no two pending requests share one."""

    __tablename__ = "swap_request_weeks"
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("swap_requests.id", ondelete="CASCADE"), index=True)


class SwapMessageRow(Base):
    """A Slack DM sent about a request, so every later transition can redraw it (chat.update)."""

    __tablename__ = "swap_messages"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("swap_requests.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(String(64))
    slack_channel: Mapped[str] = mapped_column(String(64))
    slack_ts: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)  # what the message said when sent; an update keeps it

class MailboxRow(Base):
    """Where the watch of one mailbox folder stands: its UIDVALIDITY and the last UID handled (a restart
    neither misses nor repeats a message), and since when it has been unreachable (told once per outage)."""

    __tablename__ = "mailboxes"
    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)  # user@host/folder
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    down_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailMessageRow(Base):
    """An email that belongs to a page: the ticket itself, a reply in its thread, or one more mail of a storm.
    Replies find their page through these Message-IDs; `sender_key` is a digest of the address (to count a
    sender's new threads), never the address."""

    __tablename__ = "mail_messages"
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), index=True)
    sender_key: Mapped[str] = mapped_column(String(64))
    new_thread: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


# A subject's entries in the order they happened: a page's timeline, a week's history.
Index("ix_audit_entries_subject_at", AuditEntryRow.subject, AuditEntryRow.subject_id, AuditEntryRow.at)
Index("ix_swap_requests_state_expires_at", SwapRequestRow.state, SwapRequestRow.expires_at)
Index("ix_pages_created_at", PageRow.created_at)  # the week report reads a week of pages
Index("ix_pages_slack_thread", PageRow.slack_channel, PageRow.slack_thread_ts)  # a thread reply finds its page
Index("ix_pages_state_on_it_at", PageRow.state, PageRow.on_it_at)  # pages left at On It!, for their reminders
Index("ix_notifications_person_channel_created", NotificationRow.person_id, NotificationRow.channel,
      NotificationRow.created_at)


class PhoneVerificationRow(Base):
    """A person's number and the latest code sent to it (as a digest); see domain/contacts.py."""

    __tablename__ = "phone_verifications"
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))  # E.164
    code_digest: Mapped[str] = mapped_column(String(64))
    codes_sent: Mapped[int] = mapped_column(default=1)
    code_sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChannelOrderRow(Base):
    """The order a person wants an escalation step's channels in (`/oncall channels`)."""

    __tablename__ = "channel_orders"
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channels: Mapped[str] = mapped_column(String(64))  # comma-separated, e.g. "voice,sms,slack"
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_mail_messages_sender_received", MailMessageRow.sender_key, MailMessageRow.received_at)


class WebSignInRow(Base):
    """A sign-in link DM'd in Slack: only its token's hash is kept; used once, within its window."""

    __tablename__ = "web_sign_ins"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebSessionRow(Base):
    """A signed-in browser: the session cookie's hash, whose it is, its CSRF token and when it ends."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedTokenRow(Base):
    """A private calendar feed URL's token (its hash), a person's or the team's, until revoked."""

    __tablename__ = "feed_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # domain.web.FeedScope
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
