"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.models import Base


def test_the_migrated_schema_is_the_models(empty_database_url):
    store = Store(empty_database_url)
    try:
        store.upgrade()
        assert store.schema_is_current()
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "compare_server_default": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], "the models and the migrations disagree:\n" + "\n".join(map(str, differences))
        store.upgrade()  # again: nothing left to do
        assert store.schema_is_current()
    finally:
        store.dispose()
