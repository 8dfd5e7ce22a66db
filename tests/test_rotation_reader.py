"""`oncallbot who` reads the stored rotation over the database driver alone (adapters.db.rotation_reader) when
the schema is current and no sync is due. It must answer what the store answers, on SQLite and PostgreSQL,
with swaps, handovers and overrides the calendar has since overruled; and a database behind the code must
never be read as if it were current."""

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.rotation_reader import open_rotation_reader
from oncallbot.adapters.db.schema import MIGRATIONS, migration_head
from oncallbot.domain.rotation import OverrideKind, RotationOverride, Shift
from oncallbot.entrypoints.cli import main
from oncallbot.services.rotation import who_is_on_call
from tests.harness.clock import FakeClock
from tests.harness.config import example_data, write_config
from tests.harness.rotation import FIRST_WEEK as PAIR_FIRST_WEEK
from tests.harness.rotation import PAIR_ICS, PROCEDURE, ics, ics_series

FIRST_WEEK = date(2027, 1, 4)  # a Monday
PEOPLE = ("kelly", "marcus", "priya", "diego", "aisha", "tom")
APPLIED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SOURCE = "ical:/srv/rotation.ics"


def seed(store: Store) -> list[Shift]:
    """Thirty weeks with two holes, and the kinds of change made in the bot laid over them."""
    window = PROCEDURE.window
    weeks = [FIRST_WEEK + timedelta(weeks=n) for n in range(30) if n not in (7, 8, 19)]
    shifts = [Shift(week, PEOPLE[n % len(PEOPLE)], *window.bounds(week), f"event-{n}@example.com")
              for n, week in enumerate(weeks)]
    owner = {s.week_start: s.person_id for s in shifts}

    def override(week, from_person, to_person, kind=OverrideKind.SWAP, after=timedelta(0)):
        return RotationOverride(week, from_person, to_person, kind, "a reason", from_person, "dana",
                                APPLIED_AT + after)

    swap_a, swap_b = weeks[2], weeks[3]
    changes = [
        override(swap_a, owner[swap_a], owner[swap_b]), override(swap_b, owner[swap_b], owner[swap_a]),  # a swap
        override(weeks[5], owner[weeks[5]], "tom", OverrideKind.HANDOVER),
        # a week handed on twice, the second made in the same second as the first (applied in id order)
        override(weeks[10], owner[weeks[10]], "aisha", OverrideKind.HANDOVER),
        override(weeks[10], "aisha", "diego", OverrideKind.REASSIGNMENT),
        # made from someone the calendar no longer names for the week: it no longer holds
        override(weeks[14], "nobody-now", "kelly", OverrideKind.REASSIGNMENT, after=timedelta(hours=1)),
        override(weeks[-1], owner[weeks[-1]], "priya", OverrideKind.HANDOVER, after=timedelta(days=2)),
    ]
    with store.transaction() as tx:
        tx.replace_shifts(shifts)
        for change in changes:
            tx.add_override(change)
        tx.set_sync_state(SOURCE, "token-1", datetime(2027, 1, 20, 8, 30, 15, 123456, tzinfo=UTC))
    return shifts


def instants(shifts: list[Shift], count: int) -> list[datetime]:
    """Random instants over the whole rotation and a week either side, and each week's edges to the microsecond."""
    rng = random.Random(14)
    start, end = shifts[0].start_at - timedelta(weeks=1), shifts[-1].end_at + timedelta(weeks=1)
    span = int((end - start).total_seconds())
    chosen = [start + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6)) for _ in range(count)]
    for shift in shifts:
        for edge in (shift.start_at, shift.end_at):
            chosen += [edge - timedelta(microseconds=1), edge, edge + timedelta(microseconds=1)]
    return chosen


@pytest.fixture
def seeded(database_url):
    store = Store(database_url)
    try:
        yield database_url, store, seed(store)
    finally:
        store.dispose()


def test_the_reader_reads_what_the_store_reads(seeded):
    url, store, shifts = seeded
    reader = open_rotation_reader(url)
    assert reader is not None and reader.schema_is_current()
    try:
        for at in instants(shifts, 300):
            with store.reading() as tx, reader.reading() as light:
                assert light.shifts_around(at) == tx.shifts_around(at), at
            assert who_is_on_call(reader, PROCEDURE, at) == who_is_on_call(store, PROCEDURE, at), at
        with store.reading() as tx, reader.reading() as light:
            assert light.sync_state(SOURCE) == tx.sync_state(SOURCE)
            assert light.sync_state("ical:/elsewhere.ics") == tx.sync_state("ical:/elsewhere.ics") == (None, None)
        with reader.reading() as light:  # the overrides are there to compare: the swap took both weeks
            around = light.shifts_around(shifts[2].start_at)
        assert [s.override_id is not None for s in around] == [False, True, True, False]
    finally:
        reader.close()


def test_a_database_without_the_schema_is_not_current(empty_database_url):
    store = Store(empty_database_url)  # SQLite: the file exists, with no tables in it
    try:
        with store.engine.connect():
            pass
        reader = open_rotation_reader(empty_database_url)
        assert reader is not None
        try:
            assert not reader.schema_is_current()
        finally:
            reader.close()
    finally:
        store.dispose()


def test_a_missing_sqlite_file_is_left_to_the_store_and_not_created(tmp_path):
    assert open_rotation_reader(f"sqlite:///{tmp_path}/none.sqlite3") is None
    assert not (tmp_path / "none.sqlite3").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///x.sqlite3?timeout=5",
                                 "postgresql://postgres@127.0.0.1/test", "mysql://db/oncall"])
def test_urls_the_reader_does_not_open_are_left_to_the_store(url):
    assert open_rotation_reader(url) is None


def set_schema_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def schema_revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_who_refuses_a_postgresql_database_behind_the_code(capsys, monkeypatch, tmp_path, pg_url):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", pg_url)
    config = write_config(tmp_path, example_data())
    set_schema_revision(pg_url, "0015")
    try:
        code = main(["who", "--config", str(config)], clock=FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC)))
        err = capsys.readouterr().err
        assert code == 2
        assert "is not at the current schema; run `oncallbot db upgrade`" in err
        assert schema_revision(pg_url) == "0015"  # nothing migrated, nothing synced
        store = Store(pg_url)
        try:
            with store.reading() as tx:
                assert tx.all_shifts() == []
        finally:
            store.dispose()
    finally:
        set_schema_revision(pg_url, migration_head())


def test_who_migrates_an_embedded_database_behind_the_code_as_before(capsys, tmp_path):
    config = write_config(tmp_path, example_data())
    now = FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    assert main(["who", "--json", "--config", str(config)], clock=now) == 0
    first = json.loads(capsys.readouterr().out)
    database = f"sqlite:///{tmp_path}/var/oncallbot.sqlite3"
    store = Store(database)
    try:
        alembic_config = Config()
        alembic_config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as connection:  # the file as the release before last left it
            alembic_config.attributes["connection"] = connection
            command.downgrade(alembic_config, "0015")
    finally:
        store.dispose()
    assert schema_revision(database) == "0015"
    assert main(["who", "--json", "--config", str(config)], clock=now) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert schema_revision(database) == migration_head()


def test_who_syncs_again_once_the_stored_rotation_is_older_than_the_sync_interval(capsys, monkeypatch, tmp_path,
                                                                                  database_url):
    """Within the sync interval `who` answers from the stored copy (an edit of the calendar is not seen yet);
    past it, it syncs first and answers from the edited calendar."""
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)
    config = write_config(tmp_path, example_data(), ics_text=ics(*PAIR_ICS))
    start = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)  # the week of Jan 4: Kelly's in the pair

    def on_call(at: datetime) -> str:
        assert main(["who", "--json", "--config", str(config)], clock=FakeClock(at)) == 0
        return json.loads(capsys.readouterr().out)["current"]["person"]["id"]

    assert on_call(start) == "kelly"
    (tmp_path / "rotation.ics").write_text(ics(ics_series("priya", PAIR_FIRST_WEEK), PAIR_ICS[1]))
    assert on_call(start + timedelta(minutes=9, seconds=59)) == "kelly"  # the stored copy, not yet 10 minutes old
    assert on_call(start + timedelta(minutes=10)) == "priya"
