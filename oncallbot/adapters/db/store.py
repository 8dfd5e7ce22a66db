"""Unit of work over SQLAlchemy: `with store.transaction() as tx:` is one database transaction."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, delete, event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ...domain.rotation import CalendarEvent, Shift
from ...errors import ConfigError
from .models import CalendarEventRow, JobRunRow, ShiftRow, SyncStateRow

MIGRATIONS = Path(__file__).parent / "migrations"


def default_database_url(sqlite_path: str) -> str:
    return f"sqlite:///{sqlite_path}"


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection):
            # Take the write lock up front: a deferred transaction that later writes can fail with
            # "database is locked" instead of waiting, when the scheduler and the web server collide.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         connect_args={"connect_timeout": 10})


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

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
        if self.dialect == "sqlite":
            self.upgrade()
        elif not self.schema_is_current():
            raise ConfigError([f"database: {self.safe_url} is not at the current schema; run `oncallbot db upgrade`"])

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator["StoreTx"]:
        with self._sessions.begin() as session:
            yield StoreTx(session)

    def dispose(self) -> None:
        self.engine.dispose()


def _shift(row: ShiftRow) -> Shift:
    return Shift(row.week_start, row.person_id, row.start_at, row.end_at, row.event_id)


class StoreTx:
    def __init__(self, session: Session):
        self.session = session

    def _insert(self, model):
        """INSERT ... ON CONFLICT DO NOTHING for the backend in use."""
        if self.session.bind.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert(model)

    # --- rotation -------------------------------------------------------------------------------

    def calendar_events(self) -> list[CalendarEvent]:
        rows = self.session.scalars(select(CalendarEventRow).order_by(CalendarEventRow.start_at))
        return [CalendarEvent(r.event_id, r.summary, r.start_at, r.end_at, r.all_day, tuple(r.attendee_emails))
                for r in rows]

    def replace_calendar_events(self, events: list[CalendarEvent]) -> None:
        self.session.execute(delete(CalendarEventRow))
        self.upsert_calendar_events(events)

    def upsert_calendar_events(self, events: list[CalendarEvent]) -> None:
        for e in events:
            self.session.merge(CalendarEventRow(event_id=e.event_id, summary=e.summary, start_at=e.start_at,
                                                end_at=e.end_at, all_day=e.all_day,
                                                attendee_emails=list(e.attendee_emails)))

    def delete_calendar_events(self, event_ids: list[str]) -> None:
        if event_ids:
            self.session.execute(delete(CalendarEventRow).where(CalendarEventRow.event_id.in_(event_ids)))

    def replace_shifts(self, shifts: list[Shift]) -> None:
        self.session.execute(delete(ShiftRow))
        self.session.flush()
        if shifts:
            self.session.execute(insert(ShiftRow), [
                {"week_start": s.week_start, "person_id": s.person_id, "start_at": s.start_at,
                 "end_at": s.end_at, "event_id": s.event_id} for s in shifts])

    def shifts_between(self, start_at: datetime, end_at: datetime) -> list[Shift]:
        rows = self.session.scalars(select(ShiftRow).where(ShiftRow.end_at > start_at, ShiftRow.start_at < end_at)
                                    .order_by(ShiftRow.start_at))
        return [_shift(r) for r in rows]

    def shifts_around(self, at: datetime) -> list[Shift]:
        """The two shifts starting at or before `at` and the first one after: enough for who/previous/next."""
        before = self.session.scalars(select(ShiftRow).where(ShiftRow.start_at <= at)
                                      .order_by(ShiftRow.start_at.desc()).limit(2)).all()
        after = self.session.scalars(select(ShiftRow).where(ShiftRow.start_at > at)
                                     .order_by(ShiftRow.start_at).limit(1)).all()
        return [_shift(r) for r in reversed(before)] + [_shift(r) for r in after]

    def shifts_of(self, person_id: str, from_at: datetime, limit: int = 8) -> list[Shift]:
        rows = self.session.scalars(select(ShiftRow).where(ShiftRow.person_id == person_id, ShiftRow.end_at > from_at)
                                    .order_by(ShiftRow.start_at).limit(limit))
        return [_shift(r) for r in rows]

    def all_shifts(self) -> list[Shift]:
        return [_shift(r) for r in self.session.scalars(select(ShiftRow).order_by(ShiftRow.start_at))]

    def shift_for_week(self, week_start: date) -> Shift | None:
        row = self.session.get(ShiftRow, week_start)
        return _shift(row) if row else None

    # --- sync state and job runs ----------------------------------------------------------------

    def sync_state(self, source: str) -> tuple[str | None, datetime | None]:
        row = self.session.get(SyncStateRow, source)
        return (row.sync_token, row.synced_at) if row else (None, None)

    def set_sync_state(self, source: str, sync_token: str | None, synced_at: datetime) -> None:
        self.session.merge(SyncStateRow(source=source, sync_token=sync_token, synced_at=synced_at))

    def claim_job_run(self, job: str, occasion: str, at: datetime) -> bool:
        """True for exactly one caller per (job, occasion), across processes."""
        statement = (self._insert(JobRunRow).values(job=job, occasion=occasion, ran_at=at)
                     .on_conflict_do_nothing().returning(JobRunRow.job))
        return self.session.execute(statement).first() is not None
