"""Slack and Twilio get their answer only once what the request changed is committed, and the event's id is
recorded as handled in that same transaction (issue 14: acknowledgments and Slack tickets lost to a kill).

A request that fails before its commit (here the database refuses a row for a moment: a real failure, a trigger,
not a mock of our code) is answered with an error, leaves nothing behind, and its retry is applied once; a retry
of a request that committed changes nothing. What the bot says back to the user through Slack's Web API comes
after the answer, never before it."""

import threading
from datetime import timedelta

from starlette.testclient import TestClient

from oncallbot import bootstrap
from oncallbot.entrypoints.serve import build_slack_app
from oncallbot.services import inbound, paging
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import example_settings
from tests.harness.database import refusing_inserts
from tests.harness.slack import AISHA, FRONT_DESK, NOW, SUPPORT, TrackedExecutor
from tests.harness.twilio import PUBLIC_URL, events, sms_reply

# --- Slack: a ticket in the support channel -----------------------------------------------------------


def test_a_ticket_whose_commit_fails_gets_no_200_and_slacks_retry_opens_one_page(slack_db, database_url):
    ticket = slack_db.message("Voicemail from ACME: server down")
    with refusing_inserts(database_url, "notifications"):  # the card's outbox row: the page's own transaction
        failed = slack_db.event(ticket, event_id="EvFAILED01", failing=True)
    assert failed.status_code == 500  # Slack retries an event that got no 200
    assert slack_db.page_count() == 0 and slack_db.fake.messages() == []
    assert not inbound.already_handled(slack_db.store, "slack:EvFAILED01")

    retry = slack_db.event(ticket, event_id="EvFAILED01", retry=1)
    assert retry.status_code == 200
    assert slack_db.page_count() == 1
    assert inbound.already_handled(slack_db.store, "slack:EvFAILED01")
    assert slack_db.card(slack_db.page_of(ticket).id)["thread_ts"] == ticket["ts"]

    # Slack's next retry (it gave up waiting on the first one, say) finds the event handled: no second page.
    assert (slack_db.event(ticket, event_id="EvFAILED01", retry=2).text, slack_db.page_count()) == ("", 1)
    assert len(slack_db.calls("chat.postMessage")) == 1


def test_an_on_it_reply_whose_commit_fails_is_taken_when_slack_retries_it(slack_db, database_url):
    ticket = slack_db.say("Voicemail from ACME: server down")
    slack_db.clock.advance(timedelta(minutes=3))
    reply = slack_db.message("On It!", user=AISHA, thread_ts=ticket["ts"])
    with refusing_inserts(database_url, "notifications"):  # the thread line the On It! queues
        assert slack_db.event(reply, event_id="EvONIT0001", failing=True).status_code == 500
    assert slack_db.page_of(ticket).state == "open"

    assert slack_db.event(reply, event_id="EvONIT0001", retry=1).status_code == 200
    page = slack_db.page_of(ticket)
    assert (page.state, page.on_it_by) == ("on_it", "aisha")
    assert slack_db.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:03 (via Slack)"]
    assert slack_db.event(reply, event_id="EvONIT0001", retry=2).status_code == 200
    assert [e.kind for e in slack_db.page_of(ticket).timeline].count("on_it") == 1
    assert slack_db.calls("chat.postEphemeral") == []


# --- Slack: a button ---------------------------------------------------------------------------------


def test_the_on_it_button_is_answered_after_the_commit_and_its_reply_comes_after_the_answer(slack_db):
    ticket = slack_db.say("Voicemail from ACME: server down")
    page_id = slack_db.page_of(ticket).id
    slack_db.clock.advance(timedelta(minutes=2))
    reply_held = threading.Event()
    slack_db.fake.inject("/response/x", hold=reply_held)  # Slack holds the ephemeral reply until we let it go

    answer = slack_db.click("page.on_it", page_id, AISHA, wait=False)

    assert answer.status_code == 200
    page = slack_db.page_of(ticket)  # at the moment the 200 arrives
    assert (page.state, page.on_it_by) == ("on_it", "aisha")
    assert slack_db.fake.requests_to("/response/x") == []  # the reply did not hold the answer up
    reply_held.set()
    slack_db.listeners.drain()
    (reply,) = slack_db.fake.wait_for("/response/x")
    assert reply.json["text"] == "On It!: Aisha Khan has this page. Escalation stopped."
    assert slack_db.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:02 (via Slack)"]


def test_a_click_whose_commit_fails_gets_an_error_and_the_next_click_takes_the_page(slack_db, database_url):
    ticket = slack_db.say("Voicemail from ACME: server down")
    page_id = slack_db.page_of(ticket).id
    with refusing_inserts(database_url, "notifications"):
        assert slack_db.click("page.on_it", page_id, AISHA, failing=True).status_code == 500
    assert slack_db.page_of(ticket).state == "open"
    assert slack_db.fake.requests_to("/response/x") == []  # no "On It!" told for what was not recorded

    assert slack_db.click("page.on_it", page_id, AISHA).status_code == 200  # she clicks again
    assert slack_db.page_of(ticket).state == "on_it"
    assert [r.json["text"] for r in slack_db.fake.wait_for("/response/x")] == [
        "On It!: Aisha Khan has this page. Escalation stopped."]


# --- Twilio: an SMS acknowledgment -------------------------------------------------------------------


def test_an_sms_ack_whose_commit_fails_is_taken_when_twilio_sends_it_again(make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()
    params = bot.sms_params(f"on it #{page_id}")
    server = TestClient(bot.client.app, raise_server_exceptions=False)  # a 500, as a real server answers
    with refusing_inserts(database_url, "notifications"):
        failed = server.post("/twilio/sms", data=params, headers=bot.signed_headers(PUBLIC_URL + "/twilio/sms", params))
    assert failed.status_code == 500
    assert bot.page(page_id)["state"] == "open"
    assert not bot.inbound_seen(f"twilio-sms:{params['MessageSid']}")

    again = bot.twilio_post("/twilio/sms", params)  # the same MessageSid
    assert sms_reply(again) == [f"On It! recorded for page #{page_id}."]
    body = bot.page(page_id)
    assert (body["state"], body["on_it_by"]) == ("on_it", "aisha")
    thread = bot.thread(page_id)

    third = bot.twilio_post("/twilio/sms", params)  # after the success: changes nothing, says nothing
    assert sms_reply(third) == []
    assert events(bot.page(page_id), "on_it") == [("on_it", "aisha", "sms")]
    assert bot.thread(page_id) == thread


# --- Socket Mode: the envelope is acknowledged after the commit ---------------------------------------


def test_over_socket_mode_a_ticket_whose_commit_fails_is_not_acknowledged_and_its_redelivery_opens_one_page(
        database_url, fake):
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.request import SocketModeRequest

    env = bootstrap.Environment(database_url=database_url, slack_bot_token="xoxb-test", slack_app_token="xapp-test",
                                slack_api_url=fake.url)
    container = bootstrap.build(example_settings(), env, clock=FakeClock(NOW))
    container.store.upgrade()
    sync_rotation(container.store, container.rotation_source, container.procedure, container.clock.now())
    app = build_slack_app(container)
    listeners = TrackedExecutor()
    app.listener_runner.listener_executor = listeners
    handler = SocketModeHandler(app, app_token="xapp-test")
    acknowledged = []
    handler.client.send_socket_mode_response = acknowledged.append
    ts = f"{int(NOW.timestamp())}.000001"
    payload = {"token": "legacy", "team_id": "T1", "api_app_id": "A0ONCALL", "type": "event_callback",
               "event_id": "EvSOCKET01", "event_time": int(NOW.timestamp()),
               "event": {"type": "message", "channel": SUPPORT, "channel_type": "channel", "user": FRONT_DESK,
                         "text": "Voicemail from ACME: server down", "ts": ts, "event_ts": ts}}

    def deliver(envelope_id: str, retry_attempt: int | None = None) -> None:
        handler.handle(handler.client, SocketModeRequest(type="events_api", envelope_id=envelope_id, payload=payload,
                                                         retry_attempt=retry_attempt, retry_reason="timeout"))
        listeners.drain()

    try:
        with refusing_inserts(database_url, "notifications"):
            deliver("env-1")
        assert acknowledged == []  # not acknowledged: Slack delivers the event again
        assert paging.page_for_slack_thread(container.store, SUPPORT, ts) is None

        deliver("env-2", retry_attempt=1)
        deliver("env-3", retry_attempt=2)  # a redelivery of one that committed: acknowledged, nothing done
        assert [a.envelope_id for a in acknowledged] == ["env-2", "env-3"]
        page_id = paging.page_for_slack_thread(container.store, SUPPORT, ts)
        assert page_id is not None
        assert [m["thread_ts"] for m in fake.messages(SUPPORT)] == [ts]  # one card, in the ticket's thread
    finally:
        listeners.shutdown(wait=True)
        container.store.dispose()


def test_a_code_whose_commit_fails_verifies_when_twilio_sends_it_again_and_repeats_count_no_attempt(
        make_bot, database_url):
    from oncallbot.domain import wording
    from oncallbot.domain.contacts import MAX_ATTEMPTS
    from oncallbot.entrypoints import scheduler
    from tests.test_contacts import codes_to, verified

    bot = make_bot(database_url)
    scheduler.verify_contacts_job(bot.container)
    [code] = codes_to(bot)
    wrong = bot.sms_params(f"{(int(code) + 1) % 10 ** 6:06d}")
    assert sms_reply(bot.twilio_post("/twilio/sms", wrong)) == [wording.WRONG_CODE_REPLY]
    for _ in range(MAX_ATTEMPTS):  # the same SMS again and again: one wrong attempt, not a locked number
        assert sms_reply(bot.twilio_post("/twilio/sms", wrong)) == []

    right = bot.sms_params(code)
    server = TestClient(bot.client.app, raise_server_exceptions=False)
    with refusing_inserts(database_url, "audit_entries"):  # the verification's audit entry
        failed = server.post("/twilio/sms", data=right, headers=bot.signed_headers(PUBLIC_URL + "/twilio/sms", right))
    assert failed.status_code == 500 and verified(bot.store, bot.procedure) is False
    assert sms_reply(bot.twilio_post("/twilio/sms", right)) == [wording.VERIFIED_REPLY]
    assert verified(bot.store, bot.procedure) is True
