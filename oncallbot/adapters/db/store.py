"""Unit of work over SQLAlchemy: `with store.transaction() as tx:` is one database transaction."""

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import and_, bindparam, case, create_engine, delete, event, func, insert, or_, select, text, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnElement

from ...domain.audit import AuditEntry, AuditSubject, PageEvent, page_event_entry, page_event_of
from ...domain.contacts import Verification
from ...domain.rotation import CalendarEvent, OverrideKind, ReportedProblem, RotationOverride, Shift, lay_overrides
from ...domain.swaps import SwapKind, SwapRequest, SwapState
from ...domain.watch import OutboxState
from ...domain.web import FeedScope, SignIn, WebSession
from ...errors import ConfigError
from ...ports import (
    FiredSteps,
    JobRun,
    NewNotification,
    NotificationRecord,
    PageRecord,
    PhoneCallRecord,
    StoreObserver,
)
from .models import (
    AuditEntryRow,
    CalendarEventRow,
    ChannelOrderRow,
    EarlyStatusRow,
    FeedTokenRow,
    InboundEventRow,
    JobRunRow,
    MailboxRow,
    MailMessageRow,
    NotificationRow,
    OptOutRow,
    PageRow,
    PhoneCallRow,
    PhoneVerificationRow,
    ReportedProblemRow,
    RotationOverrideRow,
    RotationVersionRow,
    ShiftRow,
    SwapMessageRow,
    SwapRequestRow,
    SwapRequestWeekRow,
    SyncStateRow,
    WebSessionRow,
    WebSignInRow,
)
from .schema import MIGRATIONS, migration_head
from .wakeup import DUE_CHANNEL, DueListener, DueWakeup

PAGE_ID_MAX = 2**31 - 1  # pages.id is a 32-bit integer on PostgreSQL; SQLite cannot even bind a larger number


def bounded_key(key: str, column) -> str:
    """`key` made to fit its column. Keys embed outside text (an event title, a Slack id) of any length:
    a long one keeps a readable head and ends in the hash of the whole key, so distinct keys stay distinct."""
    limit = column.type.length
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:limit - len(digest) - 1]}#{digest}"


SQLITE_WAIT_SECONDS = 30  # how long a writer waits for SQLite's lock


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_WAIT_SECONDS, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_WAIT_SECONDS * 1000}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection):
            # Writers take the lock up front: a deferred transaction that later writes can fail with
            # "database is locked" instead of waiting, when the scheduler and the web server collide.
            readonly = connection.get_execution_options().get("oncallbot_readonly")
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         connect_args={"connect_timeout": 10})


def _make_version_engine(url: str, main: Engine) -> Engine:
    """For the one-row read of the rotation's version on every /oncall: autocommit (no BEGIN, no ROLLBACK)
    and no ping on checkout, so the read is a single round trip. A connection the server dropped fails that
    read once; `Store.rotation_version` retries it on a fresh one."""
    if url.startswith("sqlite"):
        if url.split("///", 1)[-1] in ("", ":memory:"):
            return main  # a private in-memory database exists on its own connection only
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=4)

        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # pysqlite then never opens a transaction for a SELECT
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        return engine
    # /oncall reads it on the server's event loop: a database that stopped answering must fail it in
    # seconds, not hold every request behind it (connect, and unacknowledged data, 2 s at most).
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=4,
                         connect_args={"connect_timeout": 2, "tcp_user_timeout": 2000})


class _WriterTurn:
    """A turn at SQLite's one writer among this process's threads. Bounded like SQLite's own wait (30 s): a
    turn not had by then goes on to wait on SQLite's lock, as every writer did before."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._held = threading.local()

    def __enter__(self) -> None:
        taken = self._lock.acquire(timeout=SQLITE_WAIT_SECONDS)
        self._held.turns = [*getattr(self._held, "turns", []), taken]

    def __exit__(self, *exc_info: object) -> None:
        if self._held.turns.pop():
            self._lock.release()


class Store:
    def __init__(self, url: str, replica: str | None = None):
        self.url = url
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"  # recorded with each claimed job run
        self.engine = _make_engine(url)
        self._version_engine: Engine | None = None  # made on the first rotation_version(): `serve` asks, the CLI not
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.observer: StoreObserver | None = None  # told what each transaction did, once it has committed
        self.wakeup = DueWakeup()  # told of each step committed to fall due, for this process's dispatcher
        # SQLite has one writer. This process's writers take turns on a lock of their own, which wakes the next
        # at once: waiting on SQLite's lock instead is its busy handler's sleeps, of up to 100 ms each, which
        # made the tail of intake under load (bench/README.md). Another process still waits on SQLite's lock.
        self._writer: AbstractContextManager[object] = _WriterTurn() if self.dialect == "sqlite" else nullcontext()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Apply every Alembic migration (what `oncallbot db upgrade` runs)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise ConfigError([f"database: cannot migrate {self.safe_url}: {exc.orig}"]) from None

    def schema_is_current(self) -> bool:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
        with self.engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads

    def ensure_schema(self) -> None:
        """The embedded SQLite database migrates itself; a shared PostgreSQL is migrated on purpose."""
        if self._at_head():
            return  # the common case, without importing Alembic (most of a CLI command's start-up otherwise)
        if self.dialect == "sqlite":
            self.upgrade()
        elif not self.schema_is_current():
            raise ConfigError([f"database: {self.safe_url} is not at the current schema; run `oncallbot db upgrade`"])

    def _at_head(self) -> bool:
        """Whether the database is at the one head the migration files name (read from their text). Anything
        unusual (several heads, no version table yet) answers False, and Alembic decides."""
        head = migration_head()
        if head is None:
            return False
        try:
            with self.engine.connect() as connection:
                current = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        except (OperationalError, ProgrammingError):
            return False
        return current == [head]

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator["StoreTx"]:
        with self._writer, self._sessions.begin() as session:
            tx = StoreTx(session, self.replica)
            yield tx
            if tx.rotation_changed:
                # Last, just before the commit: the version's row lock is then never held while waiting for
                # another lock (a week's, by a swap or a sync), so it cannot close a deadlock.
                tx.bump_rotation_version()
            if tx.earliest_due_at is not None and self.dialect == "postgresql":
                # Delivered to every replica's listener when (and only if) this transaction commits.
                session.execute(text("SELECT pg_notify(:channel, :due_at)"),
                                {"channel": DUE_CHANNEL, "due_at": tx.earliest_due_at.isoformat()})
        # After the commit: a rolled-back transaction opened nothing and fired nothing.
        if tx.earliest_due_at is not None:
            self.wakeup.announce(tx.earliest_due_at)
        if self.observer is not None and tx.observed:
            _tell(self.observer, tx.observed)

    def listen_for_due(self, stopping: threading.Event) -> DueListener | None:
        """On PostgreSQL, a started thread that wakes this process's dispatcher when another replica commits
        a step due sooner; None on SQLite, where every writer is this process."""
        if self.dialect != "postgresql":
            return None
        listener = DueListener(self.url, self.wakeup, stopping)
        listener.start()
        return listener

    @contextmanager
    def reading(self) -> Iterator["StoreTx"]:
        """A transaction that only reads: on SQLite it does not wait for the write lock."""
        readonly = self.engine.execution_options(oncallbot_readonly=True)
        with Session(readonly, expire_on_commit=False) as session, session.begin():
            yield StoreTx(session, self.replica)

    def rotation_version(self) -> int:
        """The rotation's version as committed now, read outside any transaction (see RotationVersionRow)."""
        if self._version_engine is None:
            self._version_engine = _make_version_engine(self.url, self.engine)
        for attempt in (1, 2):
            try:
                with self._version_engine.connect() as connection:  # plain SQL: nothing to compile or cache
                    version = connection.exec_driver_sql("SELECT version FROM rotation_version WHERE id = 1")
                    return version.scalar() or 0
            except OperationalError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()
        if self._version_engine not in (None, self.engine):
            self._version_engine.dispose()


Observed = tuple[str, Any, Any]  # ("opened", source, None) | ("taken", source, after) | ("fired", due_at, None)


def _tell(observer: StoreObserver, observed: list[Observed]) -> None:
    """Counting must never fail the work it counts."""
    try:
        for what, value, after in observed:
            if what == "opened":
                observer.page_opened(value)
            elif what == "taken":
                observer.page_taken(value, after)
            else:
                observer.step_fired(value)
    except Exception:
        logging.getLogger("oncallbot.store").exception("the store's observer failed")


def _shift(row: ShiftRow) -> Shift:
    return Shift(row.week_start, row.person_id, row.start_at, row.end_at, row.event_id)


def _shift_values(shift: Shift) -> dict:
    return {"week_start": shift.week_start, "person_id": shift.person_id, "start_at": shift.start_at,
            "end_at": shift.end_at, "event_id": shift.event_id}


def _calendar_event(row: CalendarEventRow) -> CalendarEvent:
    return CalendarEvent(row.event_id, row.summary, row.start_at, row.end_at, row.all_day, tuple(row.attendee_emails),
                         row.etag)


def _override(row: RotationOverrideRow) -> RotationOverride:
    return RotationOverride(row.week_start, row.from_person_id, row.to_person_id, OverrideKind(row.kind), row.reason,
                            row.requested_by, row.approved_by, row.applied_at, row.id)


def _audit_entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(row.subject, row.subject_id, row.at, row.kind, row.actor, row.channel, row.detail)


_PAGE_FIELDS = tuple(f.name for f in fields(PageRecord))
_NOTIFICATION_FIELDS = tuple(f.name for f in fields(NotificationRecord))
_PHONE_CALL_FIELDS = tuple(f.name for f in fields(PhoneCallRecord))


def _phone_call(row: PhoneCallRow | None) -> PhoneCallRecord | None:
    return PhoneCallRecord(*(getattr(row, name) for name in _PHONE_CALL_FIELDS)) if row is not None else None


def _page(row: PageRow | None) -> PageRecord | None:
    return PageRecord(*(getattr(row, name) for name in _PAGE_FIELDS)) if row is not None else None


def _pages(rows) -> list[PageRecord]:
    return [PageRecord(*(getattr(row, name) for name in _PAGE_FIELDS)) for row in rows]


def _notification(row: NotificationRow | None) -> NotificationRecord | None:
    return NotificationRecord(*(getattr(row, name) for name in _NOTIFICATION_FIELDS)) if row is not None else None


def _notifications(rows) -> list[NotificationRecord]:
    return [NotificationRecord(*(getattr(row, name) for name in _NOTIFICATION_FIELDS)) for row in rows]


class StoreTx:
    """The operations of ports.StoreTx. Pages and outbox rows leave as frozen records and change only through
    the explicit updates below."""

    def __init__(self, session: Session, replica: str | None = None):
        self.session = session
        self.replica = replica
        self.observed: list[Observed] = []
        self.rotation_changed = False  # the weeks or the overrides were written: the version goes up at commit
        self.earliest_due_at: datetime | None = None  # the soonest step this transaction makes due

    def _due(self, row: "PageRow") -> None:
        if row.state == "open" and row.next_due_at is not None and (
                self.earliest_due_at is None or row.next_due_at < self.earliest_due_at):
            self.earliest_due_at = row.next_due_at

    def flush(self) -> None:
        self.session.flush()

    def _insert(self, model: Any) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING for the backend in use."""
        if self.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            return postgresql_insert(model)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model)

    # --- rotation -------------------------------------------------------------------------------

    def calendar_events(self) -> list[CalendarEvent]:
        rows = self.session.scalars(select(CalendarEventRow).order_by(CalendarEventRow.start_at))
        return [_calendar_event(r) for r in rows]

    def calendar_event(self, event_id: str) -> CalendarEvent | None:
        row = self.session.get(CalendarEventRow, event_id)
        return _calendar_event(row) if row else None

    def replace_calendar_events(self, events: list[CalendarEvent]) -> None:
        self.session.execute(delete(CalendarEventRow))
        self.session.flush()
        unique = {e.event_id: e for e in events}  # one row per occurrence, as upserting would leave it
        if unique:
            self.session.execute(insert(CalendarEventRow), [
                {"event_id": e.event_id, "summary": e.summary, "start_at": e.start_at, "end_at": e.end_at,
                 "all_day": e.all_day, "attendee_emails": list(e.attendee_emails), "etag": e.etag}
                for e in unique.values()])

    def upsert_calendar_events(self, events: list[CalendarEvent]) -> None:
        for e in events:
            self.session.merge(CalendarEventRow(event_id=e.event_id, summary=e.summary, start_at=e.start_at,
                                                end_at=e.end_at, all_day=e.all_day,
                                                attendee_emails=list(e.attendee_emails), etag=e.etag))

    def delete_calendar_events(self, event_ids: list[str]) -> None:
        if event_ids:
            self.session.execute(delete(CalendarEventRow).where(CalendarEventRow.event_id.in_(event_ids)))

    # The shifts table holds the calendar's weeks; every read below returns the weeks in effect, with the
    # overrides laid over them (see ShiftRow for why). Only the sync writes the calendar's part.

    def bump_rotation_version(self) -> None:
        """Raise the rotation's version; the transaction does it before committing a write below that changed
        the rotation in effect, so the replicas' in-memory copies reload once it commits."""
        bumped = self.session.execute(update(RotationVersionRow).where(RotationVersionRow.id == 1)
                                      .values(version=RotationVersionRow.version + 1))
        if cast(CursorResult, bumped).rowcount == 0:  # a database created without the migration's row
            self.session.execute(self._insert(RotationVersionRow).values(id=1, version=1)
                                 .on_conflict_do_update(index_elements=["id"],
                                                        set_={"version": RotationVersionRow.version + 1}))

    def rotation_version(self) -> int:
        return self.session.scalar(select(RotationVersionRow.version).where(RotationVersionRow.id == 1)) or 0

    def replace_shifts(self, shifts: list[Shift]) -> None:
        """Make `shifts` the calendar's weeks, all of them (the overrides stay)."""
        self.rotation_changed = True
        self.session.execute(delete(ShiftRow))
        self.session.flush()
        if shifts:
            self.session.execute(insert(ShiftRow), [_shift_values(s) for s in shifts])

    def replace_shifts_between(self, start_at: datetime, end_at: datetime, shifts: list[Shift]) -> None:
        """Make `shifts` the calendar's weeks that start in [start_at, end_at); the weeks before and after,
        and every override, stay."""
        self.rotation_changed = True
        replaced: ColumnElement[bool] = (ShiftRow.start_at >= start_at) & (ShiftRow.start_at < end_at)
        if shifts:  # and a week stored under other shift times (the shift window was reconfigured)
            replaced = or_(replaced, ShiftRow.week_start.in_([s.week_start for s in shifts]))
        self.session.execute(delete(ShiftRow).where(replaced))
        self.session.flush()
        if shifts:
            self.session.execute(insert(ShiftRow), [_shift_values(s) for s in shifts])

    def _in_effect(self, rows: Sequence[ShiftRow]) -> list[Shift]:
        shifts = [_shift(r) for r in rows]
        if not shifts:
            return shifts
        weeks = [s.week_start for s in shifts]
        overrides = self.overrides_between(min(weeks), max(weeks))
        return lay_overrides(shifts, overrides) if overrides else shifts

    def shifts_starting_between(self, start_at: datetime, end_at: datetime) -> list[Shift]:
        """The weeks in effect that start in [start_at, end_at)."""
        rows = self.session.scalars(select(ShiftRow).where(ShiftRow.start_at >= start_at, ShiftRow.start_at < end_at)
                                    .order_by(ShiftRow.start_at)).all()
        return self._in_effect(rows)

    def shifts_between(self, start_at: datetime, end_at: datetime) -> list[Shift]:
        rows = self.session.scalars(select(ShiftRow).where(ShiftRow.end_at > start_at, ShiftRow.start_at < end_at)
                                    .order_by(ShiftRow.start_at)).all()
        return self._in_effect(rows)

    def shifts_around(self, at: datetime) -> list[Shift]:
        """The two shifts starting at or before `at` and the two after: enough for who/previous/next."""
        before = self.session.scalars(select(ShiftRow).where(ShiftRow.start_at <= at)
                                      .order_by(ShiftRow.start_at.desc()).limit(2)).all()
        # Two after: an office-holiday rule may start the first one early, and the next is still wanted.
        after = self.session.scalars(select(ShiftRow).where(ShiftRow.start_at > at)
                                     .order_by(ShiftRow.start_at).limit(2)).all()
        return self._in_effect([*reversed(before), *after])

    def shifts_of(self, person_id: str, from_at: datetime, limit: int = 8) -> list[Shift]:
        """The person's weeks in effect that end after `from_at`: the calendar's, less those overridden
        away from them, plus those overridden to them."""
        involved = (select(RotationOverrideRow.week_start)
                    .where(or_(RotationOverrideRow.from_person_id == person_id,
                               RotationOverrideRow.to_person_id == person_id)))
        moved_away = self.session.scalar(select(func.count()).select_from(RotationOverrideRow)
                                         .where(RotationOverrideRow.from_person_id == person_id)) or 0
        rows = self.session.scalars(select(ShiftRow)
                                    .where(ShiftRow.end_at > from_at,
                                           or_(ShiftRow.person_id == person_id, ShiftRow.week_start.in_(involved)))
                                    .order_by(ShiftRow.start_at).limit(limit + moved_away)).all()
        return [s for s in self._in_effect(rows) if s.person_id == person_id][:limit]

    def all_shifts(self) -> list[Shift]:
        return self._in_effect(self.session.scalars(select(ShiftRow).order_by(ShiftRow.start_at)).all())

    def shift_for_week(self, week_start: date, lock: bool = False) -> Shift | None:
        """The week in effect. `lock` holds the calendar's row until the transaction ends, so two changes of
        the same week (or a sync replacing it) take turns."""
        statement = select(ShiftRow).where(ShiftRow.week_start == week_start)
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        row = self.session.scalars(statement).first()
        return self._in_effect([row])[0] if row else None

    def calendar_shifts_between(self, start_at: datetime, end_at: datetime) -> list[Shift]:
        """The calendar's weeks alone (no overrides) that overlap [start_at, end_at)."""
        rows = self.session.scalars(select(ShiftRow).where(ShiftRow.end_at > start_at, ShiftRow.start_at < end_at)
                                    .order_by(ShiftRow.start_at))
        return [_shift(r) for r in rows]

    # --- rotation overrides and the audit trail --------------------------------------------------------

    def add_override(self, override: RotationOverride) -> RotationOverride:
        """Store an override; returns it with its id."""
        self.rotation_changed = True
        row = RotationOverrideRow(week_start=override.week_start, from_person_id=override.from_person_id,
                                  to_person_id=override.to_person_id, kind=str(override.kind), reason=override.reason,
                                  requested_by=override.requested_by, approved_by=override.approved_by,
                                  applied_at=override.applied_at)
        self.session.add(row)
        self.session.flush()
        return _override(row)

    def overrides_between(self, first_week: date, last_week: date) -> list[RotationOverride]:
        """The overrides of the weeks starting from `first_week` to `last_week` (both included), in the order
        they were made."""
        rows = self.session.scalars(select(RotationOverrideRow)
                                    .where(RotationOverrideRow.week_start >= first_week,
                                           RotationOverrideRow.week_start <= last_week)
                                    .order_by(RotationOverrideRow.applied_at, RotationOverrideRow.id))
        return [_override(r) for r in rows]

    def add_audit_entry(self, entry: AuditEntry) -> None:
        self.session.add(AuditEntryRow(subject=str(entry.subject), subject_id=entry.subject_id, at=entry.at,
                                       actor=entry.actor, kind=entry.kind, channel=entry.channel,
                                       detail=entry.detail))

    def audit_entries(self, subject: str, subject_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """A subject's entries (of one `subject_id`, or of all), oldest first; with `limit`, the newest ones."""
        statement = select(AuditEntryRow).where(AuditEntryRow.subject == str(subject))
        if subject_id is not None:
            statement = statement.where(AuditEntryRow.subject_id == subject_id)
        statement = statement.order_by(AuditEntryRow.at.desc(), AuditEntryRow.id.desc())
        if limit is not None:
            statement = statement.limit(limit)
        return [_audit_entry(r) for r in reversed(self.session.scalars(statement).all())]

    # --- sync state and job runs ----------------------------------------------------------------

    def sync_state(self, source: str) -> tuple[str | None, datetime | None]:
        row = self.session.get(SyncStateRow, source)
        return (row.sync_token, row.synced_at) if row else (None, None)

    def set_sync_state(self, source: str, sync_token: str | None, synced_at: datetime) -> None:
        self.session.merge(SyncStateRow(source=source, sync_token=sync_token, synced_at=synced_at))

    def sync_expanded_until(self, source: str) -> datetime | None:
        """How far ahead the last full fetch of this calendar expanded recurring events."""
        row = self.session.get(SyncStateRow, source)
        return row.expanded_until if row else None

    def claim_sync(self, source: str, claim: str, now: datetime, until: datetime) -> bool:
        """True when no other sync of this calendar holds an unexpired claim: ours now, until `until`.

        A conditional UPDATE, so of two replicas claiming at once exactly one matches the row (PostgreSQL
        re-checks the condition after waiting on the other's row lock; SQLite has one writer)."""
        self.session.execute(self._insert(SyncStateRow).values(source=source).on_conflict_do_nothing())
        claimed = cast(CursorResult[Any], self.session.execute(
            update(SyncStateRow)
            .where(SyncStateRow.source == source,
                   or_(SyncStateRow.claimed_until.is_(None), SyncStateRow.claimed_until <= now))
            .values(claimed_by=claim, claimed_until=until)))
        return claimed.rowcount == 1

    def holds_sync_claim(self, source: str, claim: str) -> bool:
        """Still ours? Locks the row, so no other sync can take the claim until this transaction ends."""
        statement = (select(SyncStateRow.source)
                     .where(SyncStateRow.source == source, SyncStateRow.claimed_by == claim).with_for_update())
        return self.session.execute(statement).first() is not None

    def finish_sync(self, source: str, claim: str, sync_token: str | None, synced_at: datetime,
                    expanded_until: datetime | None) -> None:
        """Record a finished sync and give its claim back."""
        self.session.execute(update(SyncStateRow).where(SyncStateRow.source == source, SyncStateRow.claimed_by == claim)
                             .values(sync_token=sync_token, synced_at=synced_at, expanded_until=expanded_until,
                                     claimed_by=None, claimed_until=None))

    def release_sync_claim(self, source: str, claim: str) -> None:
        self.session.execute(update(SyncStateRow).where(SyncStateRow.source == source, SyncStateRow.claimed_by == claim)
                             .values(claimed_by=None, claimed_until=None))

    def claim_job_run(self, job: str, occasion: str, at: datetime, outcome: str = "ran") -> bool:
        """True for exactly one caller per (job, occasion), across processes; the run records this replica."""
        statement = (self._insert(JobRunRow).values(job=job, occasion=occasion, ran_at=at, replica=self.replica,
                                                    outcome=outcome)
                     .on_conflict_do_nothing().returning(JobRunRow.job))
        return self.session.execute(statement).first() is not None

    def last_job_run(self, job: str) -> JobRun | None:
        """The latest claimed run of `job` (occasions of the weekly jobs are ISO dates, so they sort)."""
        row = self.session.scalars(select(JobRunRow).where(JobRunRow.job == job)
                                   .order_by(JobRunRow.occasion.desc()).limit(1)).first()
        return JobRun(row.job, row.occasion, row.ran_at, row.replica, row.outcome) if row is not None else None

    # --- pages ----------------------------------------------------------------------------------

    def add_page(self, **values) -> PageRecord | None:
        """The new page, or None when a page with the same source and external_id got there first (a concurrent
        intake of the same ticket): the savepoint keeps the rest of the transaction usable."""
        page = PageRow(**values)
        try:
            with self.session.begin_nested():
                self.session.add(page)
        except IntegrityError:
            return None
        self._due(page)
        self.observed.append(("opened", page.source, None))
        return _page(page)

    def update_page(self, page_id: int, **changes) -> PageRecord:
        """Change the given fields of a page (which the transaction has read); the page as it now is."""
        row = self.session.get(PageRow, page_id)
        assert row is not None  # the transaction has read the page
        if changes.get("on_it_at") is not None and row.on_it_at is None:
            self.observed.append(("taken", row.source, changes["on_it_at"] - row.created_at))
        if changes.get("fired", row.fired) > row.fired and row.next_due_at is not None:
            self.observed.append(("fired", row.next_due_at, None))
        for name, value in changes.items():
            setattr(row, name, value)
        if "next_due_at" in changes or "state" in changes:
            self._due(row)
        return _pages([row])[0]

    def record_fired(self, steps: Sequence[FiredSteps]) -> None:
        """One executemany UPDATE. The claim's ORM rows are gone by now (records left the store, not rows), so
        changing them through the session would first read each one back; a row some caller still holds in the
        session is brought up to date without being written twice."""
        if not steps:
            return
        self.session.flush()  # pending changes of the same rows first (escalate_page re-plans, then fires)
        self.session.connection().execute(  # Core, on the connection: no ORM bookkeeping per row
            update(PageRow).where(PageRow.id == bindparam("b_id"))
            .values(fired=bindparam("b_fired"), next_due_at=bindparam("b_next_due_at")),
            [{"b_id": s.page_id, "b_fired": s.fired, "b_next_due_at": s.next_due_at} for s in steps])
        for step in steps:
            self.observed.append(("fired", step.was_due_at, None))
            row = self.session.identity_map.get(identity_key(PageRow, step.page_id))
            if row is not None:
                set_committed_value(row, "fired", step.fired)
                set_committed_value(row, "next_due_at", step.next_due_at)
            # Open still (only open pages fire): the next step's time may wake a dispatcher.
            if step.next_due_at is not None and (self.earliest_due_at is None
                                                 or step.next_due_at < self.earliest_due_at):
                self.earliest_due_at = step.next_due_at

    def page(self, page_id: int, lock: bool = False) -> PageRecord | None:
        if not 0 < page_id <= PAGE_ID_MAX:
            return None  # "done 99999999999999999999": no such page can exist
        statement = select(PageRow).where(PageRow.id == page_id)
        if lock:
            # A row this transaction read before the lock was granted is re-read, not kept stale.
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return _page(self.session.scalars(statement).first())

    def page_by_external_id(self, source: str, external_id: str) -> PageRecord | None:
        return _page(self.session.scalars(select(PageRow).where(PageRow.source == source,
                                                                PageRow.external_id == external_id)).first())

    def page_by_slack_thread(self, channel: str, thread_ts: str) -> PageRecord | None:
        return _page(self.session.scalars(select(PageRow).where(PageRow.slack_channel == channel,
                                                                PageRow.slack_thread_ts == thread_ts)).first())

    def claim_due_pages(self, now: datetime, limit: int) -> list[PageRecord]:
        """Open pages whose next step is due, locked so no other replica fires them (SKIP LOCKED on
        PostgreSQL; SQLite has a single writer, BEGIN IMMEDIATE serialises us). Steps due at the same moment
        fire oldest page first, on both databases: that page's step is the text and call, the rest the digest."""
        statement = (select(PageRow).where(PageRow.next_due_at <= now, PageRow.state == "open")
                     .order_by(PageRow.next_due_at, PageRow.id).limit(limit).with_for_update(skip_locked=True))
        return _pages(self.session.scalars(statement))

    def claim_due_done_reminders(self, cutoffs: tuple[tuple[int, datetime], ...], excluding_source: str,
                                 limit: int) -> list[PageRecord]:
        """Pages left at On It! whose next reminder is due: for each (reminders sent, cutoff), On It! at or
        before the cutoff. Locked like due escalation steps, so one replica sends each reminder."""
        if not cutoffs:
            return []
        due = or_(*(and_(PageRow.done_reminders_sent == sent, PageRow.on_it_at <= cutoff) for sent, cutoff in cutoffs))
        statement = (select(PageRow).where(PageRow.state == "on_it", PageRow.source != excluding_source, due)
                     .order_by(PageRow.on_it_at).limit(limit).with_for_update(skip_locked=True))
        return _pages(self.session.scalars(statement))

    def next_due_at(self) -> datetime | None:
        return self.session.scalar(select(func.min(PageRow.next_due_at)).where(PageRow.state == "open"))

    def pages_waiting_on(self, person_id: str, since: datetime, excluding: int | None = None) -> list[int]:
        """Open pages for which this person was really phoned (not grouped into a digest) since `since`."""
        statement = (select(NotificationRow.page_id).join(PageRow, PageRow.id == NotificationRow.page_id)
                     .where(NotificationRow.person_id == person_id, NotificationRow.channel.in_(("sms", "voice")),
                            NotificationRow.kind == "page", NotificationRow.state.in_(("pending", "sending", "sent")),
                            NotificationRow.created_at >= since, PageRow.state == "open")
                     .distinct())
        if excluding is not None:
            statement = statement.where(NotificationRow.page_id != excluding)
        return sorted(self.session.scalars(statement))

    def pages_waiting_on_people(self, person_ids: Sequence[str], since: datetime) -> dict[str, set[int]]:
        waiting: dict[str, set[int]] = {person_id: set() for person_id in person_ids}
        if not person_ids:
            return waiting
        statement = (select(NotificationRow.person_id, NotificationRow.page_id)
                     .join(PageRow, PageRow.id == NotificationRow.page_id)
                     .where(NotificationRow.person_id.in_(list(person_ids)),
                            NotificationRow.channel.in_(("sms", "voice")), NotificationRow.kind == "page",
                            NotificationRow.state.in_(("pending", "sending", "sent")),
                            NotificationRow.created_at >= since, PageRow.state == "open")
                     .distinct())
        for person_id, page_id in self.session.execute(statement):
            if person_id is not None and page_id is not None:  # both are, by the query
                waiting[person_id].add(page_id)
        return waiting

    def recent_calls_to(self, person_ids: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        calls: dict[str, list[datetime]] = {person_id: [] for person_id in person_ids}
        if not person_ids:
            return calls
        statement = (select(NotificationRow.person_id, NotificationRow.created_at).where(
            NotificationRow.person_id.in_(list(person_ids)), NotificationRow.channel == "voice",
            NotificationRow.kind == "page", NotificationRow.state.in_(("pending", "sending", "sent", "ambiguous")),
            NotificationRow.created_at >= since))
        for person_id, created_at in self.session.execute(statement):
            if person_id is not None:  # it is, by the query
                calls[person_id].append(created_at)
        return calls

    def open_pages_phoned(self, person_id: str) -> list[PageRecord]:
        phoned = select(NotificationRow.page_id).where(NotificationRow.person_id == person_id,
                                                       NotificationRow.channel.in_(("sms", "voice")))
        statement = select(PageRow).where(PageRow.id.in_(phoned), PageRow.state != "done").order_by(PageRow.id)
        return _pages(self.session.scalars(statement))

    def pages_listed(self, states: tuple[str, ...] | None, before: int | None, limit: int) -> list[PageRecord]:
        """Newest first; `before` (a page id) is the cursor of the next batch."""
        statement = select(PageRow).order_by(PageRow.id.desc()).limit(limit)
        if states is not None:
            statement = statement.where(PageRow.state.in_(states))
        if before is not None:
            statement = statement.where(PageRow.id < before)
        return _pages(self.session.scalars(statement))

    def pages_by_ids(self, page_ids: Sequence[int]) -> list[PageRecord]:
        if not page_ids:
            return []
        return _pages(self.session.scalars(select(PageRow).where(PageRow.id.in_(list(page_ids)))
                                           .order_by(PageRow.id)))

    def count_pages(self, states: tuple[str, ...] | None) -> int:
        statement = select(func.count()).select_from(PageRow)
        if states is not None:
            statement = statement.where(PageRow.state.in_(states))
        return cast(int, self.session.scalar(statement))

    def pages_between(self, start_at: datetime, end_at: datetime) -> list[PageRecord]:
        return _pages(self.session.scalars(select(PageRow).where(PageRow.created_at >= start_at,
                                                                 PageRow.created_at < end_at).order_by(PageRow.id)))

    # A page's timeline is its part of the audit trail (subject "page").

    def add_event(self, page_id: int, at: datetime, kind: str, person_id: str | None = None,
                  channel: str | None = None, detail: str | None = None) -> None:
        self.add_audit_entry(page_event_entry(PageEvent(page_id, at, kind, person_id, channel, detail)))

    def add_events(self, events: Sequence[PageEvent]) -> None:
        """One INSERT for them all, not an ORM object each."""
        if events:
            self._insert_rows(AuditEntryRow.__table__, [
                {"subject": AuditSubject.PAGE.value, "subject_id": str(e.page_id), "at": e.at, "kind": e.kind,
                 "actor": e.person_id, "channel": e.channel, "detail": e.detail} for e in events])

    def events_of(self, page_id: int) -> list[PageEvent]:
        return self.events_of_pages([page_id])

    def events_of_pages(self, page_ids: list[int]) -> list[PageEvent]:
        if not page_ids:
            return []
        rows = self.session.scalars(select(AuditEntryRow)
                                    .where(AuditEntryRow.subject == AuditSubject.PAGE.value,
                                           AuditEntryRow.subject_id.in_([str(i) for i in page_ids]))
                                    .order_by(AuditEntryRow.at, AuditEntryRow.id))
        return [page_event_of(_audit_entry(r)) for r in rows]

    # --- outbox ---------------------------------------------------------------------------------

    def add_notification(self, key: str, created_at: datetime, state_override: str | None = None, *, kind: str,
                         channel: str, text: str, page_id: int | None = None, person_id: str | None = None,
                         target: str | None = None, etag: str | None = None, reach_key: str | None = None) -> bool:
        """Queue a notification once per key; False when that key was already queued.

        `state_override` records a notification that is deliberately not sent (e.g. grouped into a digest)."""
        state = state_override or "pending"
        key = bounded_key(key, NotificationRow.__table__.c.key)
        statement = (self._insert(NotificationRow)
                     .values(key=key, created_at=created_at, state=state, kind=kind, channel=channel, text=text,
                             page_id=page_id, person_id=person_id, target=target, etag=etag, reach_key=reach_key)
                     .on_conflict_do_nothing().returning(NotificationRow.id))
        return self.session.execute(statement).first() is not None

    def add_notifications(self, rows: Sequence[NewNotification]) -> None:
        """INSERT ... ON CONFLICT DO NOTHING, many rows to a statement (Core: the ORM's bulk insert would split
        them by which values are None)."""
        if not rows:
            return
        column = NotificationRow.__table__.c.key
        self._insert_rows(NotificationRow.__table__, [
            {"key": bounded_key(r.key, column), "created_at": r.created_at, "state": r.state_override or "pending",
             "kind": r.kind, "channel": r.channel, "text": r.text, "page_id": r.page_id, "person_id": r.person_id,
             "target": r.target, "etag": None, "reach_key": r.reach_key} for r in rows], on_conflict_do_nothing=True)

    def _insert_rows(self, table: Any, rows: list[dict[str, Any]], on_conflict_do_nothing: bool = False) -> None:
        """One executemany (psycopg pipelines it: one round trip, not one a row), after the session's pending
        changes, to keep their order. Measured (bench.firing, PostgreSQL): cheaper in CPU than one multi-row
        VALUES statement (compiled anew for every batch) and than SQLAlchemy's "insertmanyvalues" (RETURNING)."""
        self.session.flush()
        statement = self._insert(table)
        self.session.connection().execute(statement.on_conflict_do_nothing() if on_conflict_do_nothing else statement,
                                          rows)

    def notifications_of(self, page_id: int) -> list[NotificationRecord]:
        return _notifications(self.session.scalars(select(NotificationRow).where(NotificationRow.page_id == page_id)
                                                   .order_by(NotificationRow.id)))

    def recent_calls(self, person_id: str, since: datetime) -> list[datetime]:
        return list(self.session.scalars(select(NotificationRow.created_at).where(
            NotificationRow.person_id == person_id, NotificationRow.channel == "voice",
            NotificationRow.kind == "page", NotificationRow.state.in_(("pending", "sending", "sent", "ambiguous")),
            NotificationRow.created_at >= since)))

    def notifications_to(self, person_id: str, channel: str, since: datetime,
                         text: str | None = None) -> list[NotificationRecord]:
        # A claim lasts past its send, so a row queued long before (sent on a retry) is claimed_until >= since.
        alike = [NotificationRow.text == text] if text is not None else []
        return _notifications(self.session.scalars(select(NotificationRow).where(
            NotificationRow.person_id == person_id, NotificationRow.channel == channel, *alike,
            (NotificationRow.created_at >= since) | (NotificationRow.claimed_until >= since))
            .order_by(NotificationRow.id)))

    def claim_pending_notifications(self, now: datetime, claim_until: datetime, limit: int,
                                    page_id: int | None = None,
                                    keys: Sequence[str] | None = None) -> list[NotificationRecord]:
        # Texts, calls and emails first: a backlog of Slack rows waiting for Slack's pace (a storm's thread lines)
        # never holds a page's SMS or call back. Within each, oldest first.
        statement = (select(NotificationRow).where(NotificationRow.state == "pending",
                                                   (NotificationRow.claimed_until.is_(None))
                                                   | (NotificationRow.claimed_until <= now))
                     .order_by(case((NotificationRow.channel == "slack", 1), else_=0), NotificationRow.id)
                     .limit(limit).with_for_update(skip_locked=True))
        if page_id is not None:
            statement = statement.where(NotificationRow.page_id == page_id)
        if keys is not None:
            column = NotificationRow.__table__.c.key
            statement = statement.where(NotificationRow.key.in_([bounded_key(key, column) for key in keys]))
        rows = list(self.session.scalars(statement))
        for row in rows:
            row.state, row.claimed_until, row.handed_at = "sending", claim_until, None
        return _notifications(rows)

    def hand_over(self, notification_id: int, claimed_until: datetime, at: datetime) -> bool:
        # Locked: a replica reaping the row as interrupted either commits first (then it is no longer ours) or
        # sees it handed over.
        row = self.session.get(NotificationRow, notification_id, with_for_update=True)
        if row is None or row.state != "sending" or row.claimed_until != claimed_until or row.handed_at is not None:
            return False
        row.handed_at = at
        return True

    def notification(self, notification_id: int) -> NotificationRecord | None:
        return _notification(self.session.get(NotificationRow, notification_id))

    def notification_by_ref(self, provider_ref: str) -> NotificationRecord | None:
        return _notification(self.session.scalars(select(NotificationRow)
                                                  .where(NotificationRow.provider_ref == provider_ref)).first())

    def claim_waiting_cards(self, now: datetime, claim_until: datetime, limit: int) -> list[NotificationRecord]:
        statement = (select(NotificationRow).where(NotificationRow.state == "pending", NotificationRow.kind == "card",
                                                   NotificationRow.channel == "slack",
                                                   (NotificationRow.claimed_until.is_(None))
                                                   | (NotificationRow.claimed_until <= now))
                     .order_by(NotificationRow.id).limit(limit).with_for_update(skip_locked=True))
        rows = list(self.session.scalars(statement))
        for row in rows:
            row.state, row.claimed_until = "sending", claim_until
        return _notifications(rows)

    def notifications_by_refs(self, provider_refs: Sequence[str]) -> list[NotificationRecord]:
        if not provider_refs:
            return []
        return _notifications(self.session.scalars(select(NotificationRow)
                                                   .where(NotificationRow.provider_ref.in_(list(provider_refs)))
                                                   .order_by(NotificationRow.id)))

    def stale_sending(self, now: datetime) -> list[NotificationRecord]:
        return _notifications(self.session.scalars(select(NotificationRow)
                                                   .where(NotificationRow.state == "sending",
                                                          NotificationRow.claimed_until < now)
                                                   .with_for_update(skip_locked=True)))

    def outbox_state(self, ignoring_prefix: str | None = None) -> OutboxState:
        counted = [~NotificationRow.key.startswith(ignoring_prefix, autoescape=True)] if ignoring_prefix else []
        count, oldest = self.session.execute(
            select(func.count(), func.min(NotificationRow.created_at))
            .where(NotificationRow.state.in_(("pending", "sending")), *counted)).one()
        last_sent = self.session.scalar(select(func.max(NotificationRow.sent_at))
                                        .where(NotificationRow.state == "sent", *counted))
        return OutboxState(count, oldest, last_sent)

    def update_notification(self, notification_id: int, **changes) -> None:
        row = self.session.get(NotificationRow, notification_id)
        for name, value in changes.items():
            setattr(row, name, value)

    def mark_sent(self, notification_id: int, at: datetime, provider_ref: str | None) -> None:
        self.update_notification(notification_id, state="sent", sent_at=at, provider_ref=provider_ref)

    # --- the support mailbox ---------------------------------------------------------------------

    def mailbox_position(self, mailbox: str) -> tuple[int | None, int]:
        """(UIDVALIDITY, last UID handled); (None, 0) for a folder never read."""
        row = self.session.get(MailboxRow, mailbox)
        return (row.uidvalidity, row.last_uid) if row else (None, 0)

    def set_mailbox_position(self, mailbox: str, uidvalidity: int, uid: int) -> None:
        """Move forward only: of two replicas reading the same folder, the slower never moves it back. A new
        UIDVALIDITY starts over (its UIDs are another numbering)."""
        self.session.execute(self._insert(MailboxRow).values(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=0)
                             .on_conflict_do_nothing())
        self.session.execute(update(MailboxRow).where(
            MailboxRow.mailbox == mailbox,
            or_(MailboxRow.uidvalidity.is_(None), MailboxRow.uidvalidity != uidvalidity,
                MailboxRow.last_uid < uid)).values(uidvalidity=uidvalidity, last_uid=uid))

    def mark_mailbox_down(self, mailbox: str, at: datetime) -> datetime | None:
        """Since when it has been down, when this call is the first to say so (else None)."""
        self.session.execute(self._insert(MailboxRow).values(mailbox=mailbox, last_uid=0).on_conflict_do_nothing())
        changed = cast(CursorResult[Any], self.session.execute(update(MailboxRow).where(
            MailboxRow.mailbox == mailbox, MailboxRow.down_since.is_(None)).values(down_since=at)))
        return at if changed.rowcount == 1 else None

    def mark_mailbox_up(self, mailbox: str) -> datetime | None:
        """Since when it had been down, when this call is the first to see it back (else None)."""
        row = self.session.execute(select(MailboxRow).where(MailboxRow.mailbox == mailbox,
                                                            MailboxRow.down_since.is_not(None))
                                   .with_for_update()).scalars().first()
        if row is None or row.down_since is None:
            return None
        since = row.down_since
        row.down_since = None
        return since

    def add_mail_message(self, message_id: str, page_id: int, sender_key: str, new_thread: bool,
                         at: datetime) -> None:
        self.session.execute(self._insert(MailMessageRow).values(
            message_id=message_id, page_id=page_id, sender_key=sender_key, new_thread=new_thread, received_at=at)
            .on_conflict_do_nothing())

    def mail_thread_page(self, message_ids: Sequence[str]) -> int | None:
        """The page an email's In-Reply-To/References point into, by the first id that is known."""
        if not message_ids:
            return None
        statement = select(MailMessageRow.message_id, MailMessageRow.page_id).where(
            MailMessageRow.message_id.in_(list(message_ids)))
        rows = {message_id: page_id for message_id, page_id in self.session.execute(statement)}
        return next((rows[m] for m in message_ids if m in rows), None)

    def mail_threads_from(self, sender_key: str, since: datetime) -> list[int]:
        """The pages of a sender's new threads since `since`, oldest first (one entry per thread)."""
        statement = (select(MailMessageRow.page_id)
                     .where(MailMessageRow.sender_key == sender_key, MailMessageRow.new_thread.is_(True),
                            MailMessageRow.received_at >= since)
                     .order_by(MailMessageRow.received_at, MailMessageRow.page_id))
        return list(self.session.scalars(statement))


    # --- the office line's calls -------------------------------------------------------------------

    def add_phone_call(self, record: PhoneCallRecord) -> bool:
        values = {name: getattr(record, name) for name in _PHONE_CALL_FIELDS}
        statement = (self._insert(PhoneCallRow).values(**values).on_conflict_do_nothing()
                     .returning(PhoneCallRow.call_sid))
        return self.session.execute(statement).first() is not None

    def phone_call(self, call_sid: str, lock: bool = False) -> PhoneCallRecord | None:
        statement = select(PhoneCallRow).where(PhoneCallRow.call_sid == call_sid[:64])
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return _phone_call(self.session.scalars(statement).first())

    def update_phone_call(self, call_sid: str, **changes) -> PhoneCallRecord:
        row = self.session.get(PhoneCallRow, call_sid)
        assert row is not None  # the transaction has read the call
        for name, value in changes.items():
            setattr(row, name, value)
        self.session.flush()
        record = _phone_call(row)
        assert record is not None
        return record

    def phone_call_of_page(self, page_id: int) -> PhoneCallRecord | None:
        return _phone_call(self.session.scalars(select(PhoneCallRow).where(PhoneCallRow.page_id == page_id)).first())

    # --- early delivery statuses -----------------------------------------------------------------

    def keep_early_status(self, provider_ref: str, status: str, error_code: str | None, at: datetime) -> None:
        self.session.execute(self._insert(EarlyStatusRow).values(
            provider_ref=provider_ref[:64], status=status[:32], error_code=error_code[:16] if error_code else None,
            received_at=at).on_conflict_do_nothing())

    def early_statuses_kept(self, provider_ref: str) -> bool:
        return self.session.scalars(select(EarlyStatusRow.id).where(EarlyStatusRow.provider_ref == provider_ref)
                                    .limit(1)).first() is not None

    def take_early_statuses(self, provider_ref: str) -> list[tuple[str, str | None]]:
        """The statuses kept for this reference, oldest first, deleted as they are read: whoever deletes them
        applies them (a concurrent taker waits for the delete and gets none)."""
        taken = self.session.execute(delete(EarlyStatusRow).where(EarlyStatusRow.provider_ref == provider_ref)
                                     .returning(EarlyStatusRow.id, EarlyStatusRow.status, EarlyStatusRow.error_code))
        return [(status, code) for _, status, code in sorted(taken.all())]

    def forget_early_statuses(self, received_before: datetime) -> int:
        result = self.session.execute(delete(EarlyStatusRow).where(EarlyStatusRow.received_at < received_before))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- inbound dedupe, opt-outs, reported problems -----------------------------------------------

    def first_time_seen(self, key: str, at: datetime) -> bool:
        """True the first time an inbound event key is seen; retries and duplicates get False."""
        key = bounded_key(key, InboundEventRow.__table__.c.key)
        statement = (self._insert(InboundEventRow).values(key=key, received_at=at)
                     .on_conflict_do_nothing().returning(InboundEventRow.key))
        return self.session.execute(statement).first() is not None

    def seen(self, key: str) -> bool:
        return self.session.get(InboundEventRow, bounded_key(key, InboundEventRow.__table__.c.key)) is not None

    def opted_out(self, person_id: str, channel: str) -> bool:
        return self.session.get(OptOutRow, (person_id, channel)) is not None

    def opted_out_of(self, person_ids: Sequence[str]) -> set[tuple[str, str]]:
        if not person_ids:
            return set()
        statement = select(OptOutRow.person_id, OptOutRow.channel).where(OptOutRow.person_id.in_(list(person_ids)))
        return {(person_id, channel) for person_id, channel in self.session.execute(statement)}

    def opt_out(self, person_id: str, channel: str, at: datetime, reason: str) -> bool:
        statement = (self._insert(OptOutRow).values(person_id=person_id, channel=channel, since=at, reason=reason)
                     .on_conflict_do_nothing().returning(OptOutRow.person_id))
        return self.session.execute(statement).first() is not None

    def opt_in(self, person_id: str, channel: str) -> None:
        self.session.execute(delete(OptOutRow).where(OptOutRow.person_id == person_id, OptOutRow.channel == channel))

    def opt_outs(self) -> list[OptOutRow]:
        return list(self.session.scalars(select(OptOutRow)))

    def first_report_of(self, key: str, at: datetime, text: str | None = None, ends_at: datetime | None = None) -> bool:
        """True when the problem is not currently reported (then it is, from now); else its end is updated."""
        key = bounded_key(key, ReportedProblemRow.__table__.c.key)
        statement = (self._insert(ReportedProblemRow).values(key=key, reported_at=at, text=text, ends_at=ends_at)
                     .on_conflict_do_nothing().returning(ReportedProblemRow.key))
        if self.session.execute(statement).first() is not None:
            return True
        self.session.execute(update(ReportedProblemRow).where(ReportedProblemRow.key == key).values(
            ends_at=ends_at, text=func.coalesce(ReportedProblemRow.text, text)))
        return False

    def forget_reported_problems_except(self, keys: list[str]) -> list[ReportedProblem]:
        """Stop reporting every problem not in `keys`; returns those this call removed (key, text, ends_at,
        reported_at), so a concurrent sync cannot announce the same end twice."""
        current = {bounded_key(key, ReportedProblemRow.__table__.c.key) for key in keys}
        columns = (ReportedProblemRow.key, ReportedProblemRow.text, ReportedProblemRow.ends_at,
                   ReportedProblemRow.reported_at)
        gone = [row for row in self.session.execute(select(*columns)) if row.key not in current]
        removed = [row for row in gone if cast(CursorResult[Any], self.session.execute(
            delete(ReportedProblemRow).where(ReportedProblemRow.key == row.key))).rowcount]
        return [ReportedProblem(row.key, row.text, row.ends_at, row.reported_at) for row in removed]

    # --- contacts: phone verification and channel order (issue 10) ------------------------------------

    def verification(self, person_id: str, lock: bool = False) -> Verification | None:
        statement = select(PhoneVerificationRow).where(PhoneVerificationRow.person_id == person_id)
        row = self.session.scalars(statement.with_for_update() if lock else statement).first()
        return _verification(row) if row else None

    def verifications_of(self, person_ids: Sequence[str]) -> dict[str, Verification]:
        if not person_ids:
            return {}
        rows = self.session.scalars(select(PhoneVerificationRow)
                                    .where(PhoneVerificationRow.person_id.in_(list(person_ids))))
        return {row.person_id: _verification(row) for row in rows}

    def verifications(self) -> list[Verification]:
        return [_verification(r) for r in self.session.scalars(select(PhoneVerificationRow))]

    def start_verification(self, verification: Verification, replacing: str | None) -> bool:
        values = dict(phone=verification.phone, code_digest=verification.code_digest,
                      codes_sent=verification.codes_sent, code_sent_at=verification.code_sent_at,
                      attempts=verification.attempts, created_at=verification.created_at,
                      verified_at=None, reminded_at=None)
        if replacing is None:
            statement = (self._insert(PhoneVerificationRow).values(person_id=verification.person_id, **values)
                         .on_conflict_do_nothing().returning(PhoneVerificationRow.person_id))
            return self.session.execute(statement).first() is not None
        changed = self.session.execute(update(PhoneVerificationRow).where(
            PhoneVerificationRow.person_id == verification.person_id,
            PhoneVerificationRow.phone == replacing).values(**values))
        return bool(cast(CursorResult[Any], changed).rowcount)

    def update_verification(self, person_id: str, **changes: Any) -> None:
        self.session.execute(update(PhoneVerificationRow).where(PhoneVerificationRow.person_id == person_id)
                             .values(**changes))

    def mark_verification_reminded(self, person_id: str, phone: str, at: datetime) -> bool:
        changed = self.session.execute(update(PhoneVerificationRow).where(
            PhoneVerificationRow.person_id == person_id, PhoneVerificationRow.phone == phone,
            PhoneVerificationRow.reminded_at.is_(None), PhoneVerificationRow.verified_at.is_(None))
            .values(reminded_at=at))
        return bool(cast(CursorResult[Any], changed).rowcount)

    def channel_order(self, person_id: str) -> tuple[str, ...]:
        row = self.session.get(ChannelOrderRow, person_id)
        return tuple(c for c in row.channels.split(",") if c) if row else ()

    def channel_orders(self, person_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        if not person_ids:
            return {}
        statement = select(ChannelOrderRow.person_id, ChannelOrderRow.channels).where(
            ChannelOrderRow.person_id.in_(list(person_ids)))
        return {person_id: tuple(c for c in channels.split(",") if c)
                for person_id, channels in self.session.execute(statement)}

    def set_channel_order(self, person_id: str, channels: Sequence[str], at: datetime) -> None:
        values = {"channels": ",".join(channels), "updated_at": at}
        statement = self._insert(ChannelOrderRow).values(person_id=person_id, **values)
        self.session.execute(statement.on_conflict_do_update(index_elements=[ChannelOrderRow.person_id], set_=values))

    # --- swap requests (issue 9): frozen domain records in and out, never rows ----------------------------

    def add_swap_request(self, request: SwapRequest, expires_at: datetime, remind_at: datetime | None) -> SwapRequest:
        """Store a request; returns it with its id."""
        row = SwapRequestRow(expires_at=expires_at, remind_at=remind_at, **_swap_values(request))
        self.session.add(row)
        self.session.flush()
        return _swap_request(row)

    def swap_request(self, request_id: str, lock: bool = False) -> SwapRequest | None:
        """`lock`: held until the transaction ends, re-read once granted, so two steps on one request take turns."""
        if not request_id.isdigit() or not 0 < int(request_id) <= PAGE_ID_MAX:
            return None
        statement = select(SwapRequestRow).where(SwapRequestRow.id == int(request_id))
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        row = self.session.scalars(statement).first()
        return _swap_request(row) if row else None

    def update_swap_request(self, request: SwapRequest) -> None:
        values = _swap_values(request)
        self.session.execute(update(SwapRequestRow).where(SwapRequestRow.id == int(request.id)).values(**values))

    def hold_swap_weeks(self, request_id: str, weeks: Sequence[date]) -> bool:
        """Make the weeks this pending request's; False (and nothing held) when another pending request holds
        one already: the week is the guard's key, so of two concurrent requests exactly one gets it."""
        try:
            with self.session.begin_nested():
                self.session.execute(insert(SwapRequestWeekRow),
                                     [{"week_start": w, "request_id": int(request_id)} for w in weeks])
        except IntegrityError:
            return False
        return True

    def release_swap_weeks(self, request_id: str) -> None:
        self.session.execute(delete(SwapRequestWeekRow).where(SwapRequestWeekRow.request_id == int(request_id)))

    def held_swap_weeks(self) -> set[date]:
        return set(self.session.scalars(select(SwapRequestWeekRow.week_start)))

    def swap_requests(self, states: Sequence[str] | None = None) -> list[SwapRequest]:
        """Oldest first; of the given states, or all."""
        statement = select(SwapRequestRow).order_by(SwapRequestRow.id)
        if states is not None:
            statement = statement.where(SwapRequestRow.state.in_([str(s) for s in states]))
        return [_swap_request(r) for r in self.session.scalars(statement)]

    def due_swap_requests(self, states: Sequence[str], now: datetime, limit: int = 100) -> list[SwapRequest]:
        """Pending requests whose earliest week has started, locked (SKIP LOCKED) so one replica expires each."""
        statement = (select(SwapRequestRow)
                     .where(SwapRequestRow.state.in_([str(s) for s in states]), SwapRequestRow.expires_at <= now)
                     .order_by(SwapRequestRow.expires_at).limit(limit).with_for_update(skip_locked=True))
        return [_swap_request(r) for r in self.session.scalars(statement)]

    def swap_requests_to_remind(self, states: Sequence[str], now: datetime) -> list[SwapRequest]:
        statement = (select(SwapRequestRow)
                     .where(SwapRequestRow.state.in_([str(s) for s in states]), SwapRequestRow.remind_at <= now,
                            SwapRequestRow.reminded_at.is_(None), SwapRequestRow.expires_at > now)
                     .order_by(SwapRequestRow.id))
        return [_swap_request(r) for r in self.session.scalars(statement)]

    def mark_swap_reminded(self, request_id: str, at: datetime) -> bool:
        """True for exactly one caller per request (a conditional update)."""
        result = self.session.execute(update(SwapRequestRow)
                                      .where(SwapRequestRow.id == int(request_id), SwapRequestRow.reminded_at.is_(None))
                                      .values(reminded_at=at))
        return cast(CursorResult[Any], result).rowcount == 1

    def swap_recipients(self, request_id: str) -> list[str]:
        """The people a DM about the request was queued for (they get each redraw)."""
        statement = (select(NotificationRow.person_id)
                     .where(NotificationRow.kind == "swap", NotificationRow.target == request_id,
                            NotificationRow.person_id.is_not(None))
                     .distinct())
        return sorted(p for p in self.session.scalars(statement) if p)

    def add_swap_message(self, request_id: str, person_id: str, slack_channel: str, slack_ts: str, text: str) -> None:
        self.session.add(SwapMessageRow(request_id=int(request_id), person_id=person_id, slack_channel=slack_channel,
                                        slack_ts=slack_ts, text=text))

    def swap_messages(self, request_id: str, person_id: str) -> list[tuple[str, str, str]]:
        """(channel, ts, text) of each DM sent to the person about the request, oldest first."""
        statement = (select(SwapMessageRow.slack_channel, SwapMessageRow.slack_ts, SwapMessageRow.text)
                     .where(SwapMessageRow.request_id == int(request_id), SwapMessageRow.person_id == person_id)
                     .order_by(SwapMessageRow.id))
        return [(c, t, x) for c, t, x in self.session.execute(statement)]

    def audit_entries_since(self, subjects: Sequence[str], since: datetime | None,
                            limit: int | None = None) -> list[AuditEntry]:
        """The entries of several subjects in one history, oldest first; with `limit`, the newest ones."""
        statement = select(AuditEntryRow).where(AuditEntryRow.subject.in_([str(s) for s in subjects]))
        if since is not None:
            statement = statement.where(AuditEntryRow.at >= since)
        statement = statement.order_by(AuditEntryRow.at.desc(), AuditEntryRow.id.desc())
        if limit is not None:
            statement = statement.limit(limit)
        return [_audit_entry(r) for r in reversed(self.session.scalars(statement).all())]

    # --- the web view's sign-ins and sessions, and the calendar feeds' tokens (hashes only) --------

    def add_sign_in(self, token_hash: str, person_id: str, at: datetime) -> None:
        self.session.add(WebSignInRow(token_hash=token_hash, person_id=person_id, created_at=at))
        self.session.flush()

    def sign_in(self, token_hash: str, lock: bool = False) -> SignIn | None:
        statement = select(WebSignInRow).where(WebSignInRow.token_hash == token_hash)
        row = self.session.scalars(statement.with_for_update() if lock else statement).first()
        return SignIn(row.person_id, row.created_at, row.used_at) if row is not None else None

    def use_sign_in(self, token_hash: str, at: datetime) -> bool:
        """False when it was used already: of two tabs opening one link at once, one signs in."""
        result = cast(CursorResult, self.session.execute(
            update(WebSignInRow).where(WebSignInRow.token_hash == token_hash, WebSignInRow.used_at.is_(None))
            .values(used_at=at)))
        return result.rowcount == 1

    def add_web_session(self, token_hash: str, session: WebSession, at: datetime) -> None:
        self.session.add(WebSessionRow(token_hash=token_hash, person_id=session.person_id,
                                       csrf_token=session.csrf_token, created_at=at, expires_at=session.expires_at))
        self.session.flush()

    def web_session(self, token_hash: str, now: datetime) -> WebSession | None:
        row = self.session.scalars(select(WebSessionRow).where(
            WebSessionRow.token_hash == token_hash, WebSessionRow.expires_at > now)).first()
        return WebSession(row.person_id, row.csrf_token, row.expires_at) if row is not None else None

    def end_web_session(self, token_hash: str) -> None:
        self.session.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_hash))

    def forget_expired_web_access(self, sessions_ended_by: datetime, links_made_before: datetime) -> None:
        self.session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= sessions_ended_by))
        self.session.execute(delete(WebSignInRow).where(WebSignInRow.created_at < links_made_before))

    def add_feed_token(self, token_hash: str, person_id: str, scope: str, at: datetime) -> None:
        self.session.add(FeedTokenRow(token_hash=token_hash, person_id=person_id, scope=str(scope), created_at=at))
        self.session.flush()

    def feed_token(self, token_hash: str) -> tuple[str, FeedScope] | None:
        row = self.session.scalars(select(FeedTokenRow).where(
            FeedTokenRow.token_hash == token_hash, FeedTokenRow.revoked_at.is_(None))).first()
        return (row.person_id, FeedScope(row.scope)) if row is not None else None

    def revoke_feed_tokens(self, person_id: str, at: datetime) -> int:
        result = cast(CursorResult, self.session.execute(
            update(FeedTokenRow).where(FeedTokenRow.person_id == person_id, FeedTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)))
        return result.rowcount

    def week_change_counts(self, first_week: date, last_week: date) -> dict[date, int]:
        """Per week, how many times its person changed (the rotation's audit trail): a feed's SEQUENCE."""
        statement = (select(AuditEntryRow.subject_id, func.count())
                     .where(AuditEntryRow.subject == str(AuditSubject.ROTATION),
                            AuditEntryRow.subject_id >= first_week.isoformat(),
                            AuditEntryRow.subject_id <= last_week.isoformat())
                     .group_by(AuditEntryRow.subject_id))
        return {date.fromisoformat(week): count for week, count in self.session.execute(statement)}


def _swap_values(request: SwapRequest) -> dict[str, object]:
    return {"kind": request.kind.value, "state": request.state.value, "requester_id": request.requester_id,
            "counterpart_id": request.counterpart_id, "requester_week": request.requester_week,
            "counterpart_week": request.counterpart_week, "requested_at": request.requested_at, "note": request.note,
            "decided_by": request.decided_by, "decided_at": request.decided_at, "reason": request.reason,
            "previous_owner_id": request.previous_owner_id}


def _swap_request(row: SwapRequestRow) -> SwapRequest:
    return SwapRequest(str(row.id), SwapKind(row.kind), row.requester_id, row.counterpart_id, row.requester_week,
                       row.counterpart_week, row.requested_at, row.note, SwapState(row.state), row.decided_by,
                       row.decided_at, row.reason, row.previous_owner_id)


def _verification(row: PhoneVerificationRow) -> Verification:
    return Verification(row.person_id, row.phone, row.code_digest, row.codes_sent, row.code_sent_at, row.attempts,
                        row.created_at, row.verified_at, row.reminded_at)
