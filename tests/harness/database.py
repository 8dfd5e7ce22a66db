"""Test databases, migrated once per session: SQLite tests get a copy of a migrated file, PostgreSQL tests the
session's migrated database with every table emptied. A test that needs the schema before the migrations (the
migration tests) asks for an empty database instead."""

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.models import Base

# Emptying waits for a lock on every table: a test that left a connection in a transaction fails loudly here.
LOCK_TIMEOUT = "10s"


def migrate(url: str) -> None:
    store = Store(url)
    try:
        store.upgrade()
    finally:
        store.dispose()  # on SQLite: the last connection closes, the write-ahead log goes into the file


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "migrated.sqlite3"
    migrate(f"sqlite:///{path}")
    return path


def sqlite_copy(template: Path, path: Path) -> str:
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def create_database(admin_url: URL, suffix: str = "") -> str:
    name = f"oncallbot_test_{uuid.uuid4().hex[:10]}{suffix}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: URL, url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def empty_tables(url: str) -> None:
    """Every table of the migrated schema emptied, its ids starting again at 1; the schema stays. DELETE in the
    order of the foreign keys: on tables this small it is several times faster than TRUNCATE."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            present = set(connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
            unknown = present - set(Base.metadata.tables) - {"alembic_version"}
            if unknown:  # not in the models (the migration test says so): emptied all the same
                quoted = ", ".join(f'"{name}"' for name in sorted(unknown))
                connection.execute(text(f"TRUNCATE {quoted} CASCADE"))
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in present:
                    connection.execute(table.delete())
            sequences = connection.scalars(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"))
            for sequence in list(sequences):
                connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    finally:
        engine.dispose()


def empty_schema(url: str) -> None:
    """No tables at all: the database as before the first migration."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def contents(url: str, ignore: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every row of every table (but `ignore`), for "this request changed nothing" checks."""
    engine = _engines.get(url) or _engines.setdefault(url, create_engine(url, poolclass=NullPool))
    with engine.connect() as connection:
        return {table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
                for table in Base.metadata.sorted_tables if table.name not in ignore}


def outbox_idle(url: str) -> bool:
    """No message waits to be sent or is being sent: a live `serve` has nothing left to change on its own
    (its sends write back to the pages and the outbox, e.g. a card's thread ts, paced behind Slack's limits)."""
    engine = _engines.get(url) or _engines.setdefault(url, create_engine(url, poolclass=NullPool))
    with engine.connect() as connection:
        return not connection.execute(text(
            "SELECT count(*) FROM notifications WHERE state IN ('pending', 'sending')")).scalar_one()


@contextmanager
def refusing_inserts(url: str, table: str) -> Iterator[None]:
    """While the block runs, the database refuses every new row of `table` (a trigger that raises): a real
    failure in the middle of a transaction, as a full disk or a failover gives, not a mock of our code."""
    engine = create_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        create = [f"CREATE TRIGGER refuse_inserts BEFORE INSERT ON {table} "
                  "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"]
        drop = ["DROP TRIGGER IF EXISTS refuse_inserts"]
    else:
        create = ["CREATE FUNCTION refuse_inserts() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
                  f"CREATE TRIGGER refuse_inserts BEFORE INSERT ON {table} FOR EACH ROW "
                  "EXECUTE FUNCTION refuse_inserts()"]
        drop = [f"DROP TRIGGER IF EXISTS refuse_inserts ON {table}", "DROP FUNCTION IF EXISTS refuse_inserts()"]
    try:
        with engine.begin() as connection:
            for statement in create:
                connection.execute(text(statement))
        yield
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))
        engine.dispose()


_engines: dict[str, Engine] = {}
