"""Issue 7 item 22 (the rotation half): the "your weeks changed" DMs are queued in the transaction that
changes the weeks, so a crash in between can never leave a changed week whose people were not told."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.bootstrap import build_procedure
from oncallbot.services.rotation import sync_and_notify, who_is_on_call
from tests.harness.config import example_settings
from tests.harness.rotation import ListSource, week_event

PROCEDURE = build_procedure(example_settings(holidays={}))
NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
CHANGED_WEEK = date(2027, 1, 18)


def weeks(people):
    return [week_event(date(2027, 1, 4) + timedelta(weeks=i), p) for i, p in enumerate(people)]


def break_the_outbox(store) -> None:
    """The database refuses every new outbox row, as a crash or a full disk would mid-sync."""
    with store.engine.begin() as connection:
        if store.dialect == "sqlite":
            connection.execute(text("CREATE TRIGGER outbox_down BEFORE INSERT ON notifications "
                                    "BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END"))
        else:
            connection.execute(text("CREATE FUNCTION outbox_down() RETURNS trigger LANGUAGE plpgsql AS "
                                    "$$ BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$"))
            connection.execute(text("CREATE TRIGGER outbox_down BEFORE INSERT ON notifications "
                                    "FOR EACH ROW EXECUTE FUNCTION outbox_down()"))


def repair_the_outbox(store) -> None:
    with store.engine.begin() as connection:
        on_table = "" if store.dialect == "sqlite" else " ON notifications"
        connection.execute(text("DROP TRIGGER outbox_down" + on_table))


def on_call_in_changed_week(store) -> str:
    return who_is_on_call(store, PROCEDURE, datetime(2027, 1, 20, 6, 0, tzinfo=UTC)).neighbours.current.person_id


def change_dms(store) -> list[str]:
    with store.transaction() as tx:
        return sorted(n.person_id for n in tx.session.query(NotificationRow) if "weeks changed" in n.text)


def test_a_week_change_and_its_dms_land_together_or_not_at_all(store):
    source = ListSource(weeks(["kelly", "marcus", "priya"] * 6))
    sync_and_notify(store, source, PROCEDURE, NOW)
    source.events = weeks(["kelly", "marcus", "tom"] + ["kelly", "marcus", "priya"] * 5)  # Tom takes Priya's week

    break_the_outbox(store)
    with pytest.raises(DBAPIError, match="outbox unavailable"):
        sync_and_notify(store, source, PROCEDURE, NOW + timedelta(minutes=10))

    # Neither the new week nor its DMs: the week did not silently change behind the people's backs.
    assert (on_call_in_changed_week(store), change_dms(store)) == ("priya", [])

    repair_the_outbox(store)
    sync_and_notify(store, source, PROCEDURE, NOW + timedelta(minutes=20))

    # The next sync sees the change as news again, so both people hear it.
    assert (on_call_in_changed_week(store), change_dms(store)) == ("tom", ["priya", "tom"])


def test_a_change_first_seen_by_who_is_still_announced(capsys, tmp_path):
    """`who` refreshes a stale rotation itself; the weeks it changes are news like any other sync's."""
    from oncallbot.adapters.db import Store
    from oncallbot.entrypoints.cli import main
    from tests.harness.clock import FakeClock
    from tests.harness.config import EXAMPLE_CONFIG, example_data, write_config

    ics = (EXAMPLE_CONFIG.parent / "rotation.example.ics").read_text()
    config = ["--config", str(write_config(tmp_path, example_data(), ics_text=ics))]
    clock = FakeClock(datetime(2026, 11, 23, 20, 0, tzinfo=UTC))
    assert main(["sync", *config], clock=clock) == 0
    (tmp_path / "rotation.ics").write_text(ics.replace("On call: Diego", "On call: Tom"))
    clock.advance(timedelta(hours=1))

    assert main(["who", *config], clock=clock) == 0
    store = Store(f"sqlite:///{tmp_path}/var/oncallbot.sqlite3")
    try:
        assert {"diego", "tom"} <= set(change_dms(store))
    finally:
        store.dispose()
