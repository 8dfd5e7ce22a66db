"""Issue 7, items 20 and 21: API sources are a closed list, and external ids are namespaced by source."""

from datetime import datetime, timedelta

import pytest

from oncallbot.errors import BadInput
from oncallbot.services import paging
from tests.harness.api import MLK_MORNING, VOICEMAIL
from tests.harness.pager import LA, Pager
from tests.harness.slack import API_TOKEN, SUPPORT

WEEK_START = datetime(2027, 3, 15, 18, 1, tzinfo=LA)  # Priya's week starts: the week's test page is due


# --- item 20: the API cannot open a weekly test page ---------------------------------------------------


@pytest.mark.parametrize("source", ["test", "slack", "cli", "zendesk", "API"])
def test_an_api_page_with_a_source_outside_the_list_is_refused_naming_the_allowed_ones(make_api, database_url,
                                                                                        source):
    api = make_api(database_url, MLK_MORNING)  # a page now would text the approvers at once
    response = api.post({**VOICEMAIL, "source": source, "external_id": "x-1"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(f'source: "{source}" is not one of: ')
    assert all(allowed in error for allowed in ("api", "email", "monitoring", "phone", "voicemail", "web"))
    assert api.page_count() == 0 and api.twilio_sends() == []


@pytest.mark.parametrize("source", ["api", "email", "monitoring", "phone", "voicemail", "web"])
def test_every_allowed_api_source_opens_a_page(make_api, sqlite_url, source):
    api = make_api(sqlite_url)
    response = api.post({**VOICEMAIL, "source": source})
    assert response.status_code == 201 and response.json()["source"] == source


def test_a_page_labelled_test_never_alerts_the_approvers_about_an_unconfirmed_test_page(store):
    pager = Pager(store)
    with pytest.raises(BadInput, match='source: "test" is not one of'):
        paging.open_api_page(store, pager.procedure, paging.NewPage("Fake test page", "test"), pager.clock.now())
    with pytest.raises(BadInput, match="weekly test page"):  # not through the generic intake either
        paging.open_page(store, pager.procedure, paging.NewPage("Fake test page", "test"), pager.clock.now())
    pager.advance(60)
    assert not any("was not confirmed" in m.text for m in pager.deliverer.of_kind("report"))


# --- item 21: external ids are namespaced by source ---------------------------------------------------------


def test_an_api_external_id_shaped_like_a_test_page_id_does_not_break_the_weeks_test_page(make_api, database_url):
    api = make_api(database_url, WEEK_START - timedelta(hours=1))
    response = api.post({**VOICEMAIL, "external_id": "test:2027-03-15"})
    assert response.status_code == 201
    assert response.json()["external_id"] == "test:2027-03-15"  # the caller's id, as given

    api.clock.set(WEEK_START)
    test_page = paging.open_test_page(api.container.store, api.container.procedure, timedelta(minutes=15),
                                      api.clock.now())
    assert test_page is not None and test_page.source == "test" and test_page.responsible == "priya"
    assert test_page.id != response.json()["id"]
    api.container.deliver_now()
    assert api.twilio.sms_to("+14155550103")  # Priya is texted: calls reach her
    assert api.get(response.json()["id"]).json()["summary"] == VOICEMAIL["summary"]  # the API page is untouched


def test_the_same_api_external_id_twice_is_still_one_page(make_api, database_url):
    api = make_api(database_url)
    first = api.post({**VOICEMAIL, "source": "monitoring", "external_id": "alert-9"})
    again = api.post({"summary": "the monitor retried", "source": "monitoring", "external_id": "alert-9"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == api.get(first.json()["id"]).json()
    assert again.json()["external_id"] == "alert-9"
    other_system = api.post({**VOICEMAIL, "source": "phone", "external_id": "alert-9"})  # another system's id
    assert other_system.status_code == 201 and other_system.json()["id"] != first.json()["id"]
    assert api.page_count() == 2


def test_an_api_page_with_a_slack_tickets_id_is_a_different_page(slack_db):
    ticket = slack_db.say("Ticket #4521: refund not received")
    slack_ticket = slack_db.page_of(ticket)
    response = slack_db.http.post("/api/v1/pages", headers={"Authorization": f"Bearer {API_TOKEN}"}, json={
        "summary": "Voicemail: checkout broken", "source": "api", "external_id": slack_ticket.external_id})
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != slack_ticket.id and body["summary"] == "Voicemail: checkout broken"
    assert body["external_id"] == f"slack:{SUPPORT}:{ticket['ts']}"
    assert slack_db.page_of(ticket).summary == "Ticket #4521: refund not received"
    assert slack_db.page_count() == 2


def test_the_migration_keeps_existing_pages_and_their_external_ids(empty_database_url):
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from oncallbot.adapters.db import Store
    from oncallbot.adapters.db.store import MIGRATIONS
    from oncallbot.adapters.db.types import UTCDateTime
    from oncallbot.domain.paging import EscalationPlan, PlannedStep

    store = Store(empty_database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    at = datetime(2026, 11, 24, 6, 0, tzinfo=LA)
    plan = EscalationPlan(at, (PlannedStep("oncall", ("aisha",), ("sms",), timedelta(0)),), timedelta(minutes=15), 0)
    pages = sa.table("pages", *(sa.column(name) for name in ("summary", "source", "external_id", "state",
                                                               "responsible", "fired")),
                     sa.column("created_at", UTCDateTime), sa.column("deadline_at", UTCDateTime),
                     sa.column("plan", sa.JSON))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")  # the schema before external ids were namespaced
        connection.execute(pages.insert().values(summary="Ticket 77", source="api", external_id="zd-77", state="on_it",
                                                 responsible="aisha", fired=1, created_at=at, deadline_at=at,
                                                 plan=paging.plan_to_json(plan)))
    store.upgrade()
    pager = Pager(store)
    again, created = paging.open_api_page(store, pager.procedure, paging.NewPage("retry", "api", external_id="zd-77"),
                                          pager.clock.now())
    assert not created and again.summary == "Ticket 77" and again.state == "on_it"
    other, created = paging.open_api_page(store, pager.procedure,
                                          paging.NewPage("phone", "phone", external_id="zd-77"), pager.clock.now())
    assert created and other.id != again.id
    store.dispose()
