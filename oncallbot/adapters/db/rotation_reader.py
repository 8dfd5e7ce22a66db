"""The rotation as `who` reads it, over the database driver alone (stdlib sqlite3, or psycopg): no SQLAlchemy,
no Alembic, which were most of `oncallbot who`'s start-up. Read-only, and for one short command.

It reads exactly the rows the store reads for `who` (`StoreTx.shifts_around` and `sync_state`: the same
queries, and the same overrides laid over the weeks by the same domain function); tests/test_rotation_reader.py
holds the two to the same answers on both backends. Instants are stored the way the store's UTCDateTime
writes them: on SQLite a naive UTC text `YYYY-MM-DD HH:MM:SS.ffffff` (compared as text, so the bound values
use the same form), on PostgreSQL a timestamptz.

`open_rotation_reader` answers None for a database URL it does not open itself (an in-memory database, a URL
with options, another driver); anything unusual is left to the store, which knows every case."""

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from ...domain.rotation import OverrideKind, RotationOverride, Shift, lay_overrides
from .schema import migration_head

SQLITE_PREFIX = "sqlite:///"
POSTGRESQL_PREFIX = "postgresql+psycopg://"
# As the store's engines: a locked SQLite file is waited for, an unreachable PostgreSQL given up on.
SQLITE_BUSY_TIMEOUT_SECONDS = 30
POSTGRESQL_CONNECT_TIMEOUT_SECONDS = 10

_SHIFT_COLUMNS = "week_start, person_id, start_at, end_at, event_id"
_OVERRIDE_COLUMNS = ("week_start, from_person_id, to_person_id, kind, reason, requested_by, approved_by, "
                     "applied_at, id")


class RotationReadFailed(Exception):
    """The database answered a read with an error (locked past the timeout, gone away): the caller falls back
    to the store, which reports it as every other command does."""


class _Connection(Protocol):
    """What sqlite3's and psycopg's connections both offer (PEP 249)."""

    def cursor(self) -> Any: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class RotationReader:
    """`ports.RotationReads` over one DB-API connection. `reading()` is one read transaction."""

    def __init__(self, connection: _Connection, dialect: str):
        self._connection, self.dialect = connection, dialect
        self._marker = "?" if dialect == "sqlite" else "%s"

    def schema_is_current(self) -> bool:
        """Whether the database is at the head the migration files name. False too for anything unusual (no
        version table yet, several heads): then the store decides (migrates SQLite, refuses PostgreSQL)."""
        head = migration_head()
        if head is None:
            return False
        try:
            with self.reading() as tx:
                current = [row[0] for row in tx.rows("SELECT version_num FROM alembic_version", ())]
        except RotationReadFailed:
            return False
        return current == [head]

    @contextmanager
    def reading(self) -> Iterator["RotationReadTx"]:
        """One read transaction; a driver's error comes out as RotationReadFailed."""
        try:
            cursor = self._connection.cursor()
            try:
                if self.dialect == "sqlite":
                    cursor.execute("BEGIN")  # the reads see one snapshot (the connection is in autocommit)
                yield RotationReadTx(cursor, self.dialect, self._marker)
            finally:
                # Nothing was written, so ending it either way is the same; psycopg began its own transaction.
                if self.dialect == "sqlite":
                    if self._connection.in_transaction:  # type: ignore[attr-defined]
                        cursor.execute("ROLLBACK")
                else:
                    self._connection.rollback()
                cursor.close()
        except Exception as exc:
            if _driver_error(exc):
                raise RotationReadFailed(f"cannot read the rotation: {exc}") from exc
            raise

    def close(self) -> None:
        self._connection.close()


class RotationReadTx:
    """The reads of `ports.RotationReadTx`, as the store's StoreTx makes them."""

    def __init__(self, cursor: Any, dialect: str, marker: str):
        self._cursor, self._dialect, self._marker = cursor, dialect, marker

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql.replace("?", self._marker), tuple(params))
        return list(self._cursor.fetchall())

    def shifts_around(self, at: datetime) -> list[Shift]:
        """The two weeks starting at or before `at` and the two after (as StoreTx.shifts_around)."""
        bound = self._instant(at)
        before = self.rows(f"SELECT {_SHIFT_COLUMNS} FROM shifts WHERE start_at <= ? ORDER BY start_at DESC LIMIT 2",
                           (bound,))
        after = self.rows(f"SELECT {_SHIFT_COLUMNS} FROM shifts WHERE start_at > ? ORDER BY start_at LIMIT 2",
                          (bound,))
        shifts = [Shift(self._date(r[0]), r[1], self._read_instant(r[2]), self._read_instant(r[3]), r[4])
                  for r in [*reversed(before), *after]]
        if not shifts:
            return shifts
        weeks = [s.week_start for s in shifts]
        overrides = self._overrides_between(min(weeks), max(weeks))
        return lay_overrides(shifts, overrides) if overrides else shifts

    def _overrides_between(self, first_week: date, last_week: date) -> list[RotationOverride]:
        rows = self.rows(f"SELECT {_OVERRIDE_COLUMNS} FROM rotation_overrides WHERE week_start >= ? AND "
                         "week_start <= ? ORDER BY applied_at, id", (self._day(first_week), self._day(last_week)))
        return [RotationOverride(self._date(r[0]), r[1], r[2], OverrideKind(r[3]), r[4], r[5], r[6],
                                 self._read_instant(r[7]), r[8]) for r in rows]

    def sync_state(self, source: str) -> tuple[str | None, datetime | None]:
        found = self.rows("SELECT sync_token, synced_at FROM sync_state WHERE source = ?", (source,))
        if not found:
            return None, None
        token, synced_at = found[0]
        return token, self._read_instant(synced_at) if synced_at is not None else None

    # --- values as the store's column types write them

    def _instant(self, value: datetime) -> Any:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: instants must be tz-aware")
        value = value.astimezone(UTC)
        # SQLAlchemy's SQLite DATETIME text, which the stored values compare against.
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self._dialect == "sqlite" else value

    def _read_instant(self, value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def _day(self, value: date) -> Any:
        return value.isoformat() if self._dialect == "sqlite" else value

    def _date(self, value: Any) -> date:
        return date.fromisoformat(value) if isinstance(value, str) else value


def open_rotation_reader(url: str) -> RotationReader | None:
    """A reader of the database at `url` (the store's URL), or None when it is one to leave to the store: a
    URL this module does not read the same way SQLAlchemy does, a SQLite file that does not exist yet (the
    store creates and migrates it), a PostgreSQL that cannot be reached (the store says why)."""
    if "?" in url or "%" in url:  # options, or escapes SQLAlchemy would decode: the store's to read
        return None
    if url.startswith(SQLITE_PREFIX):
        path = url.removeprefix(SQLITE_PREFIX)
        if path in ("", ":memory:"):
            return None
        import sqlite3

        try:
            # mode=rw: never create the file (an empty one would pass for a database), never write to it
            connection = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=rw", uri=True,
                                         timeout=SQLITE_BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error:
            return None
        return RotationReader(connection, "sqlite")
    if url.startswith(POSTGRESQL_PREFIX):
        import psycopg

        try:
            pg = psycopg.connect("postgresql://" + url.removeprefix(POSTGRESQL_PREFIX),
                                 connect_timeout=POSTGRESQL_CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error:
            return None
        pg.read_only = True
        return RotationReader(pg, "postgresql")
    return None


def _driver_error(exc: Exception) -> bool:
    """A database error of either driver (a missing table, a dropped connection), as opposed to a bug."""
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")  # loaded only when the URL is PostgreSQL's
    return psycopg is not None and isinstance(exc, psycopg.Error)
