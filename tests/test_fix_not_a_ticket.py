"""Issue 7, item 13: team chatter in the support channel is not a ticket.

The "Not a ticket" button closes the page without paging anyone and keeps it out of the weekly report;
`slack.intake` chooses which top-level messages become pages at all. Signed Slack requests into the real bolt
app, answered through the real WebClient on the loopback FakeSlack.
"""

import json
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from slack_bolt import BoltRequest, BoltResponse

from oncallbot.entrypoints.cli import main
from oncallbot.services import paging
from oncallbot.services.reports import week_report
from tests.harness.config import example_data, example_settings, write_config
from tests.harness.slack import (
    AISHA,
    API_TOKEN,
    FRONT_DESK,
    NOW,
    REFUSAL,
    SUPPORT,
    TOM,
    SlackHarness,
    block_texts,
    button_ids,
)

NOT_A_TICKET = "page.not_a_ticket"
STRANGER = "U0STRANGER"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def answers(harness, count):
    return [r.json["text"] for r in harness.fake.wait_for("/response/x", count=count)]


# --- the button -----------------------------------------------------------------------------------

def test_not_a_ticket_closes_the_page_posts_in_the_thread_and_stops_the_escalation(slack_db):
    chatter = slack_db.say("anyone seen my charger? left it by the printer", user=TOM)
    page_id = slack_db.page_of(chatter).id
    assert button_ids(slack_db.card(page_id)["blocks"]) == ["page.on_it", "page.done", NOT_A_TICKET,
                                                           "page.escalate"]
    slack_db.clock.advance(timedelta(minutes=3))

    assert slack_db.click(NOT_A_TICKET, page_id, AISHA).status_code == 200
    assert answers(slack_db, 1) == ["Closed as not a ticket: nobody is paged and it stays out of the report."]
    page = slack_db.page_of(chatter)
    assert page.state == "dismissed"
    assert ("dismissed", "aisha", "slack", NOW + timedelta(minutes=3)) in [
        (e.kind, e.person_id, e.channel, e.at) for e in page.timeline]
    assert slack_db.thread_texts(chatter["ts"]) == ["Closed as not a ticket by Aisha Khan"]
    card = slack_db.card(page_id)
    assert ":no_entry_sign: *Not a ticket*: closed by Aisha Khan at 22:03" in block_texts(card["blocks"])
    assert button_ids(card["blocks"]) == []

    # Nobody is phoned when the window ends, nor later.
    slack_db.clock.advance(timedelta(hours=2))
    procedure = slack_db.container.procedure
    assert paging.fire_due_escalations(slack_db.store, procedure, slack_db.clock.now()) == 0
    assert {s.status for s in slack_db.page_of(chatter).steps} == {"cancelled"}
    assert slack_db.thread_texts(chatter["ts"]) == ["Closed as not a ticket by Aisha Khan"]

    # An Escalate still open in someone's Slack changes nothing either.
    slack_db.submit_reason(page_id, "Looks like a customer after all", AISHA)
    assert [m["text"] for m in slack_db.fake.dms_to(AISHA)] == [
        "This page is already closed as not a ticket; nothing changed."]
    assert slack_db.page_of(chatter).state == "dismissed"

    # The page's JSON says so, with who closed it and when.
    body = slack_db.http.get(f"/api/v1/pages/{page_id}", headers=AUTH).json()
    assert body["state"] == "dismissed"
    assert body["done_at"] == "2026-11-23T22:03:00-08:00"
    assert {"at": "2026-11-23T22:03:00-08:00", "event": "dismissed", "who": "aisha", "channel": "slack",
            "detail": "not a ticket"} in body["timeline"]


def test_a_stranger_gets_the_same_refusal_and_nothing_changes(slack):
    chatter = slack.say("lunch?", user=TOM)
    page_id = slack.page_of(chatter).id
    before = slack.page_of(chatter)
    slack.click(NOT_A_TICKET, page_id, STRANGER)
    assert answers(slack, 1) == [REFUSAL + " Ask a manager to add you if you should be."]
    assert slack.page_of(chatter) == before
    assert slack.calls("chat.update") == [] and slack.thread_texts(chatter["ts"]) == []


def test_not_a_ticket_is_refused_once_done_and_after_on_it_is_the_holders_call(slack):
    done = slack.say("Ticket #1: refund")
    done_id = slack.page_of(done).id
    slack.clock.advance(timedelta(minutes=5))
    slack.click("page.done", done_id, AISHA)
    slack.click(NOT_A_TICKET, done_id, AISHA)
    assert answers(slack, 2)[1] == "Already done by Aisha Khan at 22:05; nothing changed."
    assert slack.page_of(done).state == "done"

    # After On It!, the person who took it knows what it turned out to be; a teammate cannot close it for them.
    taken = slack.say("is the VPN down for anyone else?", user=TOM)
    taken_id = slack.page_of(taken).id
    slack.click("page.on_it", taken_id, AISHA)
    assert button_ids(slack.card(taken_id)["blocks"]) == ["page.done", NOT_A_TICKET, "page.escalate"]
    slack.click(NOT_A_TICKET, taken_id, TOM)
    assert answers(slack, 4)[3] == ("Aisha Khan said On It! at 22:05: only they can close it as not a ticket; "
                                    "nothing changed.")
    assert slack.page_of(taken).state == "on_it"
    slack.clock.advance(timedelta(minutes=1))
    slack.click(NOT_A_TICKET, taken_id, AISHA)
    assert answers(slack, 5)[4] == "Closed as not a ticket: nobody is paged and it stays out of the report."
    page = slack.page_of(taken)
    assert (page.state, page.on_it_by) == ("dismissed", "aisha")  # the On It! stays in the record

    # Closed pages stay closed: a later On It! or Done, or a second click, changes nothing.
    slack.click(NOT_A_TICKET, taken_id, AISHA)
    slack.click("page.on_it", taken_id, TOM)
    assert answers(slack, 7)[5:] == ["Already closed as not a ticket by Aisha Khan at 22:06; nothing changed."] * 2
    slack.say("done", user=AISHA, thread_ts=taken["ts"])
    assert slack.page_of(taken).state == "dismissed"
    assert slack.thread_texts(taken["ts"]) == ["On It! Aisha Khan at 22:05 (via Slack)",
                                               "Closed as not a ticket by Aisha Khan"]


def test_the_weekly_test_page_cannot_be_closed_as_not_a_ticket(slack):
    procedure = slack.container.procedure
    test_page = paging.open_test_page(slack.store, procedure, timedelta(minutes=15), slack.clock.now())
    slack.container.deliver_now(test_page.id)
    assert NOT_A_TICKET not in button_ids(slack.card(test_page.id)["blocks"])
    slack.click(NOT_A_TICKET, test_page.id, AISHA)
    assert answers(slack, 1) == ["The weekly test page is not a ticket: confirm it by pressing 1 on the call or "
                                 "replying 1 to the text."]
    assert paging.get_page(slack.store, test_page.id).state == "open"


def test_a_page_closed_as_not_a_ticket_is_left_out_of_the_weekly_report(slack_db):
    ticket = slack_db.say("Voicemail from ACME: server down")
    chatter = slack_db.say("who took the last coffee?", user=TOM)
    slack_db.clock.advance(timedelta(minutes=4))
    slack_db.click("page.on_it", slack_db.page_of(ticket).id, AISHA)
    slack_db.click(NOT_A_TICKET, slack_db.page_of(chatter).id, AISHA)

    report = week_report(slack_db.store, slack_db.container.procedure, date(2026, 11, 23))
    assert [r.page_id for r in report.pages] == [slack_db.page_of(ticket).id]
    (aisha,) = report.people
    assert (aisha.responsible, aisha.pages, aisha.missed, aisha.share_within_window) == ("aisha", 1, 0, 1.0)


def test_the_manifest_routes_the_not_a_ticket_button_to_a_listener(slack):
    payload = {"type": "block_actions", "user": {"id": TOM}, "actions": [{"action_id": NOT_A_TICKET, "value": "1"}]}
    request = BoltRequest(body=urlencode({"payload": json.dumps(payload)}),
                          headers={"content-type": ["application/x-www-form-urlencoded"]})
    assert any(listener.matches(req=request, resp=BoltResponse(status=200)) for listener in slack.bolt._listeners)


# --- slack.intake -------------------------------------------------------------------------------

def intake_harness(tmp_path, fake, intake):
    settings = example_settings(slack={**example_data()["slack"], "intake": intake})
    return SlackHarness(f"sqlite:///{tmp_path}/intake.sqlite3", fake, settings)


@pytest.mark.parametrize("intake,pages_from", [("all", {"person", "bot", "app"}),
                                                ("people", {"person"}),
                                                ("apps_and_bots", {"bot", "app"})])
def test_slack_intake_chooses_whose_messages_become_pages(tmp_path, fake, intake, pages_from):
    harness = intake_harness(tmp_path, fake, intake)
    try:
        messages = {
            "person": harness.say("Voicemail from ACME: server down", user=FRONT_DESK),
            "bot": harness.say("", user=None, subtype="bot_message", bot_id="B0ZENDESK",
                               attachments=[{"fallback": "Ticket #4521: refund not received"}]),
            "app": harness.say("Ticket #4522: login broken", user="U0ZENDESKB", bot_id="B0ZENDESK"),
        }
        paged = {who for who, message in messages.items()
                 if paging.page_for_slack_thread(harness.store, SUPPORT, message["ts"]) is not None}
        assert paged == pages_from
        assert len([m for m in harness.fake.messages(SUPPORT) if m["blocks"]]) == len(pages_from)
    finally:
        harness.close()


def test_the_default_intake_is_all():
    assert example_settings().slack.intake == "all"


def test_a_bad_intake_value_is_refused_with_its_key_path_and_exit_2(tmp_path, capsys):
    data = example_data()
    data["slack"] = {**data["slack"], "intake": "robots"}
    code = main(["who", "--config", str(write_config(tmp_path, data))])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == ["slack.intake: \"robots\" input should be 'all', 'apps_and_bots' or 'people'"]
