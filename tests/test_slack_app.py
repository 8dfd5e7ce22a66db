"""The Slack app end to end: requests signed exactly as Slack signs them, POSTed to /slack/events of our real
Starlette app; the bolt app built by `serve` answers through the real slack_sdk WebClient and the loopback
FakeSlack.

Bolt answers Slack when the listener has committed (process_before_response=True, as in production) and what the
listener says back through the Web API runs afterwards on bolt's listener pool. Each request waits for that to
finish (a bounded wait on their futures, never a sleep), so what a user would see next is in the fake and the
database when the test looks.
"""

import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import yaml
from slack_bolt import BoltRequest, BoltResponse

from oncallbot import bootstrap
from oncallbot.entrypoints.serve import build_slack_app
from oncallbot.services import inbound, paging
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import ROOT, example_settings
from tests.harness.slack import (
    AISHA,
    API_TOKEN,
    FRONT_DESK,
    NOW,
    OMAR,
    OTHER_CHANNEL,
    REFUSAL,
    STRANGER,
    SUPPORT,
    TOM,
    block_texts,
    button_ids,
)

MANIFEST = ROOT / "config" / "slack-app-manifest.yaml"
PROCEDURE = ROOT / "config" / "procedure.md"


# --- /oncall ---------------------------------------------------------------------------------------

def test_oncall_names_who_is_on_call_now_before_and_next(slack):
    response = slack.command("", user=TOM)
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert response.json()["text"].splitlines() == [
        "At Mon 2026-11-23 22:00 PST: on call: Aisha Khan",
        "  this week: Aisha Khan       Mon 2026-11-23 18:01 PST -> Mon 2026-11-30 06:59 PST",
        "  before:    Diego Ramirez    Mon 2026-11-16 18:01 PST -> Mon 2026-11-23 06:59 PST",
        "  next:      Tom Becker       Mon 2026-11-30 18:01 PST -> Mon 2026-12-07 06:59 PST",
    ]


def test_oncall_me_lists_the_callers_weeks(slack):
    lines = slack.command("me", user=AISHA).json()["text"].splitlines()
    assert lines[0] == "Your on-call weeks:"
    assert lines[1] == "• Aisha Khan       Mon 2026-11-23 18:01 PST -> Mon 2026-11-30 06:59 PST"  # the current one
    assert lines[2] == "• Aisha Khan       Mon 2026-12-28 18:01 PST -> Mon 2027-01-04 06:59 PST"  # holiday cover
    assert lines[3] == "• Aisha Khan       Mon 2027-01-04 18:01 PST -> Mon 2027-01-11 06:59 PST"  # six weeks on
    assert len(lines) > 4 and all(line.startswith("• Aisha Khan ") for line in lines[1:])

    tom = slack.command("ME ", user=TOM).json()["text"].splitlines()
    assert tom[1] == "• Tom Becker       Mon 2026-11-30 18:01 PST -> Mon 2026-12-07 06:59 PST"


def test_oncall_help_shows_the_teams_procedure(slack):
    text = slack.command("help", user=TOM).json()["text"]
    assert text == PROCEDURE.read_text(encoding="utf-8")
    for rule in ("Monday 18:01 to the following Monday 06:59", "`/oncall`", "`/oncall me`", "15 minutes",
                 "On It!", "`1` or `ON IT`", "press `1`", "Done", "Escalate", "direct manager", "senior managers",
                 "Whole weeks only", "5 days", "approve", "test page", "personal data"):
        assert rule in text


def test_oncall_with_an_unknown_word_explains_the_usage(slack):
    text = slack.command("frobnicate", user=TOM).json()["text"]
    assert text.startswith("Usage: `/oncall`") and "`/oncall me`" in text and "`/oncall help`" in text


@pytest.mark.parametrize("argument", ["", "me", "help"])
def test_someone_not_on_the_team_gets_a_polite_refusal(slack, argument):
    response = slack.command(argument, user=STRANGER)
    assert response.status_code == 200
    assert response.json() == {"text": REFUSAL + " Ask a manager to add you if you should be.",
                               "response_type": "ephemeral"}
    assert slack.fake.requests_to("/api/chat.postMessage") == []


# --- requests that Slack did not sign ------------------------------------------------------------

@pytest.mark.parametrize("forgery", ["wrong secret", "body changed after signing", "6 minutes old",
                                     "6 minutes ahead", "no signature"])
def test_a_request_slack_did_not_sign_is_refused_and_changes_nothing(slack, forgery):
    ticket = slack.message("Voicemail from ACME: server down")
    body = slack.event_body(ticket, event_id="EvFORGED01")
    now = int(time.time())
    if forgery == "wrong secret":
        response = slack.post(body, "application/json", secret="not-the-secret")
    elif forgery == "body changed after signing":
        response = slack.post(body, "application/json", signed_body=body.replace("ACME", "ACNE"))
    elif forgery == "6 minutes old":
        response = slack.post(body, "application/json", timestamp=now - 360)
    elif forgery == "6 minutes ahead":
        response = slack.post(body, "application/json", timestamp=now + 360)
    else:
        response = slack.http.post("/slack/events", content=body.encode(), headers={
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": str(now)})
        slack.listeners.drain()
    assert response.status_code == 401
    assert slack.page_count() == 0
    assert not inbound.already_handled(slack.store, "slack:EvFORGED01")
    assert slack.fake.requests_to("/api/chat.postMessage") == []

    # The same request, signed by Slack, is a ticket: the refusal above was the signature's doing.
    assert slack.post(body, "application/json").status_code == 200
    assert slack.page_count() == 1


# --- tickets in the support channel --------------------------------------------------------------

def test_new_messages_in_the_support_channel_become_pages_with_a_card_in_their_thread(slack_db):
    person = slack_db.say("Voicemail from ACME: server down, call back +1 415 555 0199", user=FRONT_DESK)
    bot = slack_db.say("", user=None, subtype="bot_message", bot_id="B0ZENDESK", username="Zendesk",
                       attachments=[{"fallback": "Ticket #4521: refund not received", "title": "Ticket #4521"}])
    slack_db.fake.wait_for("/api/chat.postMessage", count=2)

    for ticket, summary in ((person, "Voicemail from ACME: server down, call back +1 415 555 0199"),
                            (bot, "Ticket #4521: refund not received")):
        page = slack_db.page_of(ticket)
        assert (page.state, page.responsible, page.source, page.summary) == ("open", "aisha", "slack", summary)
        (card,) = slack_db.thread(ticket["ts"])  # posted in the ticket's own thread, nowhere else
        assert card["text"] == f"Page #{page.id}: {summary}"
        assert button_ids(card["blocks"]) == ["page.on_it", "page.done", "page.not_a_ticket", "page.escalate"]
        assert {e["value"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]} == {str(page.id)}
        shown = block_texts(card["blocks"])
        assert f"*Page #{page.id}*: {summary}" in shown
        assert f"Responsible: <@{AISHA}> (on call)" in shown
        assert "Waiting for On It! by *22:15 PST*" in shown
    assert slack_db.page_count() == 2
    assert [m["thread_ts"] for m in slack_db.fake.messages()] == [person["ts"], bot["ts"]]


def test_a_retried_event_is_handled_once(slack_db):
    ticket = slack_db.message("Voicemail from ACME: server down")
    assert slack_db.event(ticket, event_id="EvTICKET01").status_code == 200
    retry = slack_db.event(ticket, event_id="EvTICKET01", retry=1)
    assert (retry.status_code, retry.text) == (200, "")
    assert slack_db.page_count() == 1
    assert len(slack_db.calls("chat.postMessage")) == 1

    # A retried "on it" is not a second On It! (which would tell Aisha her own page is already taken).
    slack_db.clock.advance(timedelta(minutes=4))
    reply = slack_db.message("on it", user=AISHA, thread_ts=ticket["ts"])
    assert slack_db.event(reply, event_id="EvREPLY001").status_code == 200
    assert slack_db.event(reply, event_id="EvREPLY001", retry=1).status_code == 200
    assert slack_db.event(reply, event_id="EvREPLY001", retry=2).status_code == 200
    assert slack_db.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:04 (via Slack)"]
    assert slack_db.calls("chat.postEphemeral") == []
    assert len(slack_db.calls("chat.update")) == 1
    assert [e.kind for e in slack_db.page_of(ticket).timeline].count("on_it") == 1


def test_other_channels_edits_our_own_messages_and_chatter_in_threads_are_ignored(slack):
    ticket = slack.say("Voicemail from ACME: server down")
    page = slack.page_of(ticket)
    requests_after_ticket = len(slack.fake.requests)

    slack.say("Lunch anyone?", channel=OTHER_CHANNEL)
    slack.say("on it", user=AISHA, channel=OTHER_CHANNEL, thread_ts=ticket["ts"])  # another channel's thread
    slack.say("thanks, looking into it now", user=AISHA, thread_ts=ticket["ts"])
    slack.say("on it", user=AISHA, thread_ts="1764000000.000001")  # a thread that is not a page
    slack.say("Page #1: edited", user=None, subtype="message_changed",
              message={"text": "edited", "ts": ticket["ts"]})
    slack.say("joined", user=TOM, subtype="channel_join")
    slack.say(f"Page #{page.id}: Voicemail from ACME", user="UBOT", bot_id="BBOT")  # our own card, as Slack echoes it
    slack.say("Ticket #1: echo", user=None, subtype="bot_message", bot_id="BBOT")

    assert slack.page_count() == 1
    assert slack.page_of(ticket).state == "open"
    assert [r.path for r in slack.fake.requests[requests_after_ticket:]] == []


# --- acknowledgments in the thread ---------------------------------------------------------------

def test_on_it_then_done_in_the_thread_acknowledge_the_page(slack_db):
    ticket = slack_db.say("Voicemail from ACME: server down")
    page_id = slack_db.page_of(ticket).id
    card_ts = slack_db.card(page_id)["ts"]

    slack_db.clock.advance(timedelta(minutes=4))
    slack_db.say("on it 👍", user=AISHA, thread_ts=ticket["ts"])
    slack_db.fake.wait_for("/api/chat.update")
    page = slack_db.page_of(ticket)
    assert (page.state, page.on_it_by, page.on_it_at) == ("on_it", "aisha", NOW + timedelta(minutes=4))
    assert {s.status for s in page.steps} == {"cancelled"}  # nobody gets called
    assert slack_db.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:04 (via Slack)"]
    (update,) = slack_db.calls("chat.update")
    assert (update["channel"], update["ts"]) == (SUPPORT, card_ts)
    card = slack_db.card(page_id)  # the card as it now shows in Slack
    assert ":raising_hand: *On It!*: Aisha Khan at 22:04" in block_texts(card["blocks"])
    assert button_ids(card["blocks"]) == ["page.done", "page.not_a_ticket", "page.escalate"]

    slack_db.clock.advance(timedelta(minutes=6))
    slack_db.say("DONE.", user=AISHA, thread_ts=ticket["ts"])
    page = slack_db.page_of(ticket)
    assert (page.state, page.done_by, page.done_at) == ("done", "aisha", NOW + timedelta(minutes=10))
    assert slack_db.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:04 (via Slack)",
                                                  "Done Aisha Khan at 22:10 (via Slack)"]
    card = slack_db.card(page_id)
    assert ":white_check_mark: *Done*: Aisha Khan at 22:10" in block_texts(card["blocks"])
    assert button_ids(card["blocks"]) == []
    assert len(slack_db.calls("chat.update")) == 2


def test_on_it_in_the_thread_of_a_voicemail_card_acknowledges_it(slack):
    """Voicemails come in through the API: the card is posted in the channel and its thread is the page's."""
    created = slack.http.post("/api/v1/pages", json={"summary": "Voicemail from +1 415 555 0199", "source": "phone"},
                              headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert created.status_code == 201
    page_id = created.json()["id"]
    card = slack.card(page_id)
    assert card["thread_ts"] is None  # top level in the support channel
    assert f"Responsible: <@{AISHA}> (on call)" in block_texts(card["blocks"])

    slack.clock.advance(timedelta(minutes=1))
    slack.say("On it!", user=AISHA, thread_ts=card["ts"])
    assert paging.get_page(slack.store, page_id).state == "on_it"
    assert slack.thread_texts(card["ts"]) == ["On It! Aisha Khan at 22:01 (via Slack)"]
    assert button_ids(slack.card(page_id)["blocks"]) == ["page.done", "page.not_a_ticket", "page.escalate"]


def test_on_it_also_sent_to_the_channel_acknowledges(slack):
    ticket = slack.say("Voicemail from ACME: server down")
    slack.clock.advance(timedelta(minutes=2))
    slack.say("on it", user=AISHA, thread_ts=ticket["ts"], subtype="thread_broadcast")
    assert (slack.page_of(ticket).state, slack.page_of(ticket).on_it_by) == ("on_it", "aisha")
    assert slack.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:02 (via Slack)"]


@pytest.mark.parametrize("app_reply", [{"user": None, "subtype": "bot_message", "bot_id": "B0ZENDESK"},
                                       {"user": "U0ZENDESKB", "bot_id": "B0ZENDESK"}],  # classic bot, app bot user
                         ids=["bot_message", "app_bot_user"])
def test_an_integration_posting_done_in_the_thread_is_not_an_acknowledgment(slack, app_reply):
    ticket = slack.say("Ticket #4521: refund not received", user=None, subtype="bot_message", bot_id="B0ZENDESK")
    calls = len(slack.fake.requests)
    slack.say("Done", thread_ts=ticket["ts"], **app_reply)
    assert slack.page_of(ticket).state == "open"
    assert slack.fake.requests[calls:] == []


def test_a_second_on_it_is_told_already_taken_and_changes_nothing(slack):
    ticket = slack.say("Voicemail from ACME: server down")
    slack.clock.advance(timedelta(minutes=4))
    slack.say("On It!", user=AISHA, thread_ts=ticket["ts"])
    slack.clock.advance(timedelta(minutes=1))
    before = slack.page_of(ticket)
    updates = len(slack.calls("chat.update"))

    slack.say("on it", user=TOM, thread_ts=ticket["ts"])
    (ephemeral,) = slack.calls("chat.postEphemeral")
    assert (ephemeral["channel"], ephemeral["user"], ephemeral["thread_ts"]) == (SUPPORT, TOM, ticket["ts"])
    assert ephemeral["text"] == "Already taken: Aisha Khan said On It! at 22:04; nothing changed."

    slack.say("on it", user=STRANGER, thread_ts=ticket["ts"])
    refusal = slack.calls("chat.postEphemeral")[1]
    assert refusal["user"] == STRANGER and refusal["text"].startswith(REFUSAL)

    after = slack.page_of(ticket)
    assert (after.state, after.on_it_by, after.on_it_at) == ("on_it", "aisha", NOW + timedelta(minutes=4))
    assert after.timeline == before.timeline
    assert slack.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:04 (via Slack)"]
    assert len(slack.calls("chat.update")) == updates


# --- buttons and the escalation modal ------------------------------------------------------------

def test_the_on_it_and_done_buttons_acknowledge_the_page(slack_db):
    ticket = slack_db.say("Voicemail from ACME: server down")
    page_id = slack_db.page_of(ticket).id
    slack_db.clock.advance(timedelta(minutes=2))

    assert slack_db.click("page.on_it", page_id, AISHA).status_code == 200
    (answer,) = slack_db.fake.wait_for("/response/x")
    assert answer.json["text"] == "On It!: Aisha Khan has this page. Escalation stopped."
    assert answer.json["response_type"] == "ephemeral" and answer.json["replace_original"] is False
    page = slack_db.page_of(ticket)
    assert (page.state, page.on_it_by) == ("on_it", "aisha")
    assert ("on_it", "aisha", "slack") in [(e.kind, e.person_id, e.channel) for e in page.timeline]
    assert slack_db.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:02 (via Slack)"]
    assert button_ids(slack_db.card(page_id)["blocks"]) == ["page.done", "page.not_a_ticket", "page.escalate"]

    slack_db.clock.advance(timedelta(minutes=20))
    slack_db.click("page.done", page_id, AISHA)
    assert slack_db.fake.wait_for("/response/x", count=2)[1].json["text"] == "Done: Aisha Khan resolved this page."
    assert slack_db.page_of(ticket).state == "done"
    assert button_ids(slack_db.card(page_id)["blocks"]) == []
    assert slack_db.thread_texts(ticket["ts"])[-1] == "Done Aisha Khan at 22:22 (via Slack)"


def test_a_stranger_clicking_is_refused_and_nothing_changes(slack):
    ticket = slack.say("Voicemail from ACME: server down")
    page_id = slack.page_of(ticket).id
    before = slack.page_of(ticket)

    for action in ("page.on_it", "page.done", "page.escalate"):
        assert slack.click(action, page_id, STRANGER).status_code == 200
    answers = slack.fake.wait_for("/response/x", count=3)
    assert {a.json["text"] for a in answers} == {REFUSAL + " Ask a manager to add you if you should be."}
    assert slack.page_of(ticket) == before
    assert slack.calls("chat.update") == [] and slack.calls("views.open") == []
    assert slack.thread_texts(ticket["ts"]) == []


def test_escalate_asks_why_and_pages_the_direct_manager(slack_db):
    ticket = slack_db.say("Customer disputes a refund")
    page_id = slack_db.page_of(ticket).id
    slack_db.clock.advance(timedelta(minutes=3))

    click = slack_db.click("page.escalate", page_id, AISHA)
    assert click.status_code == 200
    (opened,) = slack_db.calls("views.open")
    assert opened["trigger_id"] == slack_db.trigger_id
    assert (opened["view"]["callback_id"], opened["view"]["private_metadata"]) == ("page.escalate_reason", str(page_id))
    assert opened["view"]["title"]["text"] == f"Escalate page #{page_id}"

    empty = slack_db.submit_reason(page_id, "   ", AISHA)  # the modal stays open and says what is missing
    assert empty.json() == {"response_action": "errors", "errors": {"reason": "Say why it is beyond your scope."}}
    assert slack_db.page_of(ticket).steps[0].notify == "oncall"

    reason = "Refund above my approval limit"
    done = slack_db.submit_reason(page_id, reason, AISHA)
    assert done.status_code == 200 and done.text == ""
    page = slack_db.page_of(ticket)
    assert page.state == "open"  # waiting for the manager's On It!
    assert (page.steps[0].notify, page.steps[0].person_ids, page.steps[0].status) == ("manager", ("omar",), "ran")
    timeline = [(e.kind, e.person_id, e.channel, e.detail) for e in page.timeline]
    assert ("escalated", "aisha", "slack", reason) in timeline
    assert ("step", None, None, "Step 1: paging Omar Haddad (direct manager) by SMS, call, Slack") in timeline
    assert ("notified", "omar", "slack") in [t[:3] for t in timeline]
    assert [m["text"] for m in slack_db.fake.dms_to(OMAR)] == [
        f"Page #{page_id} needs an On It!: {ticket['text']}\nEscalated by Aisha Khan: {reason}"]
    assert slack_db.thread_texts(ticket["ts"]) == [
        f"Escalated by Aisha Khan: {reason}", "Step 1: paging Omar Haddad (direct manager) by SMS, call, Slack"]
    assert [m["text"] for m in slack_db.fake.dms_to(AISHA)] == ["Escalated to your direct manager."]


# --- App Home ------------------------------------------------------------------------------------

def test_app_home_shows_who_is_on_call_and_your_weeks(slack):
    slack.event({"type": "app_home_opened", "user": TOM, "channel": "D01TOM0000", "tab": "home",
                 "event_ts": f"{int(NOW.timestamp())}.000001"})
    (published,) = slack.calls("views.publish")
    assert published["user_id"] == TOM and published["view"]["type"] == "home"
    shown = block_texts(published["view"]["blocks"])
    assert "At Mon 2026-11-23 22:00 PST: on call: Aisha Khan" in shown
    assert "next:      Tom Becker" in shown
    assert "Your on-call weeks:\n• Tom Becker       Mon 2026-11-30 18:01 PST -> Mon 2026-12-07 06:59 PST" in shown

    slack.event({"type": "app_home_opened", "user": STRANGER, "channel": "D0STRANGER", "tab": "home",
                 "event_ts": f"{int(NOW.timestamp())}.000002"})
    stranger = slack.calls("views.publish")[1]
    assert stranger["user_id"] == STRANGER
    assert REFUSAL in block_texts(stranger["view"]["blocks"]) and "Aisha" not in block_texts(stranger["view"]["blocks"])


# --- the manifest --------------------------------------------------------------------------------

EVENT_SCOPES = {"app_home_opened": None, "message.channels": "channels:history", "message.groups": "groups:history",
                "message.im": "im:history", "message.mpim": "mpim:history", "app_mention": "app_mentions:read"}


def test_the_manifest_declares_what_the_app_listens_to_and_nothing_is_unheard(slack):
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["_metadata"]["major_version"] == 1
    features, settings = manifest["features"], manifest["settings"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    listeners = slack.bolt._listeners

    def heard(body: str, content_type: str) -> bool:
        request = BoltRequest(body=body, headers={"content-type": [content_type]})
        return any(listener.matches(req=request, resp=BoltResponse(status=200)) for listener in listeners)

    commands = features["slash_commands"]
    assert [c["command"] for c in commands] == ["/oncall"]
    assert commands[0]["usage_hint"].startswith("[me|pages|help|swap")
    assert commands[0]["should_escape"] is True  # a mention arrives as <@U…|name>
    for command in commands:
        form = urlencode({"command": command["command"], "text": "", "user_id": TOM, "team_id": "T1"})
        assert heard(form, "application/x-www-form-urlencoded"), f"no listener for {command['command']}"
    assert "commands" in scopes

    bot_events = settings["event_subscriptions"]["bot_events"]
    assert set(bot_events) == {"app_home_opened", "message.channels", "message.groups"}
    for name in bot_events:
        event_type, _, channel_type = name.partition(".")
        event = {"type": event_type, "user": TOM, "channel": SUPPORT, "ts": "1.000001", "text": "x"}
        if channel_type:
            event["channel_type"] = {"channels": "channel", "groups": "group"}[channel_type]
        assert heard(slack.event_body(event), "application/json"), f"no listener for the {name} event"
        assert EVENT_SCOPES[name] is None or EVENT_SCOPES[name] in scopes, f"{name} needs {EVENT_SCOPES[name]}"
    assert features["app_home"]["home_tab_enabled"] is True

    # Buttons and the modal come back through interactivity; every message the bot sends needs chat:write.
    assert settings["interactivity"]["is_enabled"] is True
    for payload in ({"type": "block_actions", "user": {"id": TOM}, "actions": [{"action_id": a, "value": "1"}]}
                    for a in ("page.on_it", "page.done", "page.escalate")):
        assert heard(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert "chat:write" in scopes
    assert {"usergroups:read", "usergroups:write"} <= set(scopes)  # the on-call user group (slack.oncall_usergroup)

    urls = [c["url"] for c in commands] + [settings["event_subscriptions"]["request_url"],
                                           settings["interactivity"]["request_url"]]
    assert set(urls) == {"https://oncall.example.com/slack/events"}
    assert settings["socket_mode_enabled"] is False
    assert "connections:write" in MANIFEST.read_text() and "SLACK_APP_TOKEN" in MANIFEST.read_text()


def test_socket_mode_answers_the_same_slash_command(tmp_path, fake):
    """With SLACK_APP_TOKEN the app runs over Socket Mode: no signing secret, the same listeners."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.request import SocketModeRequest

    env = bootstrap.Environment(database_url=f"sqlite:///{tmp_path}/socket.sqlite3", slack_bot_token="xoxb-test",
                                slack_app_token="xapp-test", slack_api_url=fake.url)
    container = bootstrap.build(example_settings(), env, clock=FakeClock(NOW))
    container.store.upgrade()
    sync_rotation(container.store, container.rotation_source, container.procedure, container.clock.now())
    handler = SocketModeHandler(build_slack_app(container), app_token="xapp-test")
    sent = []
    handler.client.send_socket_mode_response = sent.append
    handler.handle(handler.client, SocketModeRequest(
        type="slash_commands", envelope_id="env-1", accepts_response_payload=True,
        payload={"command": "/oncall", "text": "", "user_id": TOM, "team_id": "T1", "channel_id": SUPPORT,
                 "response_url": f"{fake.url}/response/socket", "trigger_id": "1.1.trigger"}))
    [response] = sent
    assert response.envelope_id == "env-1" and "on call: Aisha Khan" in response.payload["text"]
    container.store.dispose()
