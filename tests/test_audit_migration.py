"""Issue 8, item 4: the page timelines move onto the audit trail. An upgraded database shows every page's
timeline as it was, in the order it was written; a downgrade gives page_events back."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.store import MIGRATIONS
from oncallbot.adapters.db.types import UTCDateTime
from oncallbot.domain.audit import PageEvent
from oncallbot.domain.paging import EscalationPlan, PlannedStep
from oncallbot.services import paging
from tests.harness.rotation import LA

AT = datetime(2026, 11, 24, 6, 0, tzinfo=LA)
PLAN = EscalationPlan(AT, (PlannedStep("oncall", ("aisha",), ("sms",), timedelta(0)),), timedelta(minutes=15), 0)
PAGES = sa.table("pages", *(sa.column(name) for name in ("id", "summary", "source", "state", "responsible", "fired")),
                 sa.column("created_at", UTCDateTime), sa.column("deadline_at", UTCDateTime),
                 sa.column("plan", sa.JSON))
PAGE_EVENTS = sa.table("page_events", *(sa.column(name) for name in ("page_id", "kind", "person_id", "channel",
                                                                     "detail")),
                       sa.column("at", UTCDateTime))
TIMELINE = [  # two at the same instant: their order is the order they were written in
    PageEvent(1, AT, "opened", "aisha", None, None),
    PageEvent(1, AT, "step", None, None, "step 1: Aisha Khan by sms"),
    PageEvent(1, AT + timedelta(minutes=3), "on_it", "aisha", "sms", None),
    PageEvent(2, AT + timedelta(minutes=5), "opened", None, None, "nobody on call"),
]


def alembic(store: Store, action, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def test_page_timelines_are_carried_onto_the_audit_trail_and_back(empty_database_url):
    store = Store(empty_database_url)
    alembic(store, command.upgrade, "0005")
    with store.engine.begin() as connection:
        for page_id in (1, 2):
            connection.execute(PAGES.insert().values(
                id=page_id, summary=f"Voicemail {page_id}", source="cli", state="open", responsible="aisha", fired=1,
                created_at=AT, deadline_at=AT + timedelta(minutes=15), plan=paging.plan_to_json(PLAN)))
        for event in TIMELINE:
            connection.execute(PAGE_EVENTS.insert().values(
                page_id=event.page_id, at=event.at, kind=event.kind, person_id=event.person_id,
                channel=event.channel, detail=event.detail))

    store.upgrade()
    with store.reading() as tx:
        assert tx.events_of(1) == TIMELINE[:3]
        assert tx.events_of_pages([1, 2]) == TIMELINE
        assert sa.inspect(tx.session.connection()).has_table("page_events") is False
    with store.transaction() as tx:  # and the timeline goes on where it left off
        tx.add_event(1, AT + timedelta(minutes=9), "done", "aisha", "slack")
    assert [e.kind for e in paging.get_page(store, 1).timeline] == ["opened", "step", "on_it", "done"]

    alembic(store, command.downgrade, "0005")
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(PAGE_EVENTS).order_by(sa.text("id"))).all()
    assert [(r.page_id, r.kind, r.person_id, r.channel, r.detail) for r in rows] == [
        (e.page_id, e.kind, e.person_id, e.channel, e.detail) for e in TIMELINE] + [(1, "done", "aisha", "slack", None)]
    store.upgrade()
    assert store.schema_is_current()
    store.dispose()
