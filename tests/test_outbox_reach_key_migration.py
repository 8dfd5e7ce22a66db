"""Migration 0006: pages and digests queued before the upgrade fall back to other channels under the same
keys as before (their reach is carried over from their keys), on SQLite and PostgreSQL."""

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.store import MIGRATIONS

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def migrate(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_pages_and_digests_queued_before_the_upgrade_keep_their_reach(database_url):
    store = Store(database_url)
    try:
        migrate(store, "0005")
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO pages (id, summary, source, state, responsible, created_at, deadline_at, plan, fired,"
                " done_reminders_sent) VALUES (1, 'down', 'api', 'open', 'aisha', :at, :at, '{}', 1, 0)"), {"at": NOW})
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
    finally:
        store.dispose()
