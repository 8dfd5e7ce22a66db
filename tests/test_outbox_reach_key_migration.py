"""Migration 0006, on SQLite and PostgreSQL: pages and digests queued before the upgrade fall back to other
channels under the same keys as before (their reach is carried over from their keys), and a test page in
flight still alerts the approvers when it goes unconfirmed (the alert is now in its plan)."""

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.store import MIGRATIONS
from oncallbot.services.paging import plan_from_json

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
OLD_TEST_PLAN = ('{"first_due_at": "2026-11-25T02:01:00+00:00", "repeat_every": 900.0, "max_repeats": 0, "steps": ['
                 '{"notify": "oncall", "person_ids": ["aisha"], "channels": ["sms", "voice"], "delay": 0.0}, '
                 '{"notify": "approvers", "person_ids": ["dana"], "channels": ["sms", "slack"], "delay": 900.0}]}')


def migrate(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_queued_pages_keep_their_reach_and_test_pages_in_flight_keep_their_alert(empty_database_url):
    store = Store(empty_database_url)
    try:
        migrate(store, "0005")
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO pages (id, summary, source, state, responsible, created_at, deadline_at, plan, fired,"
                " done_reminders_sent) VALUES (1, 'down', 'api', 'open', 'aisha', :at, :at, '{}', 1, 0)"), {"at": NOW})
            connection.execute(text(
                "INSERT INTO pages (id, summary, source, state, responsible, created_at, deadline_at, plan, fired,"
                " done_reminders_sent) VALUES (2, 'Test page', 'test', 'open', 'aisha', :at, :at, :plan, 1, 0)"),
                {"at": NOW, "plan": OLD_TEST_PLAN})
            for key, kind, channel in [("page:1:step:0:aisha:sms", "page", "sms"),
                                       ("digest:aisha:1900", "digest", "sms"),
                                       ("digest:aisha:1900:fallback:voice", "page", "voice"),
                                       ("page:1:step:0:thread", "thread", "slack")]:
                connection.execute(text(
                    "INSERT INTO notifications (key, page_id, kind, channel, text, state, created_at, attempts)"
                    " VALUES (:key, 1, :kind, :channel, 'x', 'sent', :at, 0)"),
                    {"key": key, "kind": kind, "channel": channel, "at": NOW})
        store.upgrade()
        assert store.schema_is_current()
        with store.engine.connect() as connection:
            reach = dict(connection.execute(text("SELECT key, reach_key FROM notifications")).all())
        assert reach == {"page:1:step:0:aisha:sms": "page:1:step:0:aisha",
                         "digest:aisha:1900": "digest:aisha:1900:fallback",
                         "digest:aisha:1900:fallback:voice": "digest:aisha:1900:fallback",
                         "page:1:step:0:thread": None}
        with store.reading() as tx:
            plan = plan_from_json(tx.page(2).plan)
        assert [step.alert for step in plan.steps] == [False, True]
        with store.reading() as tx:
            assert tx.page(1).plan == {}  # other pages' plans are left as they were
    finally:
        store.dispose()
