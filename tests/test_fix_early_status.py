"""Issue 14, item 6 (b): Twilio can post a message's status callback before its API answer (the sid) reaches us
and is stored. Such a status is kept, not dropped: once the send records the sid, it is applied exactly once, as
if it had come after: an undelivered page text falls back to the person's other channels and the approvers are
told; a repeat of the callback changes nothing. On SQLite and PostgreSQL."""

from datetime import timedelta

from oncallbot.services.delivery import reap_stale_sends
from tests.harness import database
from tests.harness.twilio import AISHA, AISHA_SLACK, DANA_SLACK, OMAR_SLACK, OUR_NUMBER, events


def status_callback(bot, resource: dict, status: str, error_code: str | None = None) -> dict:
    params = {"AccountSid": bot.twilio.account_sid, "MessageSid": resource["sid"], "MessageStatus": status,
              "To": resource["to"], "From": OUR_NUMBER, "ApiVersion": "2010-04-01"}
    if error_code:
        params["ErrorCode"] = error_code
    return params


def test_an_undelivered_status_that_beats_the_sid_is_applied_once_the_sid_is_stored(make_bot, database_url):
    bot = make_bot(database_url)
    early = []

    def twilio_calls_back_first(resource):
        if resource["sid"].startswith("SM"):  # the page text: undelivered, before the API answers
            params = status_callback(bot, resource, "undelivered", "30003")
            early.append(params)
            response = bot.twilio_post("/twilio/status", params)
            assert response.status_code == 204
            assert bot.dms(AISHA_SLACK) == []  # nothing to apply yet: the sid is not ours until stored

    bot.twilio.before_answer = twilio_calls_back_first
    page_id = bot.open_page()
    bot.tick(16)  # texted (the status arrives first) and called
    bot.twilio.before_answer = None

    assert len(early) == 1
    body = bot.page(page_id)
    assert ("delivery_failed", "aisha", "sms") in events(body)
    [sms] = [c for c in body["channels"] if c["channel"] == "sms"]
    assert sms["delivery_status"] == "undelivered" and not sms["delivered"]
    assert bot.dms(AISHA_SLACK) == [f"Page #{page_id} needs an On It!: Voicemail from ACME: server down"]
    for approver in (DANA_SLACK, OMAR_SLACK):
        assert any("Aisha Khan" in text and "not delivered" in text for text in bot.dms(approver)), bot.dms(approver)
    assert len(bot.twilio.calls_to(AISHA)) == 1

    # Twilio repeats the callback (now after the sid is known): nothing happens twice.
    sent = len(bot.slack.messages())
    assert bot.twilio_post("/twilio/status", early[0]).status_code == 204
    bot.container.deliver_now()
    assert len(bot.slack.messages()) == sent
    assert database.contents(database_url)["early_statuses"] == []


def test_a_delivered_status_that_beats_the_sid_marks_the_text_delivered(make_bot, database_url):
    bot = make_bot(database_url)
    bot.twilio.before_answer = lambda resource: resource["sid"].startswith("SM") and bot.twilio_post(
        "/twilio/status", status_callback(bot, resource, "delivered"))
    page_id = bot.open_page()
    bot.tick(16)
    body = bot.page(page_id)
    assert {c["channel"]: c["delivered"] for c in body["channels"]} == {"sms": True, "voice": False}
    assert ("delivered", "aisha", "sms") in events(body)


def test_a_status_for_a_sid_never_ours_is_forgotten_after_an_hour(make_bot, database_url):
    bot = make_bot(database_url)
    stranger = {"sid": "SM" + "f" * 32, "to": AISHA}
    assert bot.twilio_post("/twilio/status", status_callback(bot, stranger, "failed", "30005")).status_code == 204
    assert len(database.contents(database_url)["early_statuses"]) == 1
    assert bot.dms(DANA_SLACK) == []

    reap_stale_sends(bot.store, bot.procedure, bot.clock.now() + timedelta(minutes=59))
    assert len(database.contents(database_url)["early_statuses"]) == 1
    reap_stale_sends(bot.store, bot.procedure, bot.clock.now() + timedelta(minutes=61))
    assert database.contents(database_url)["early_statuses"] == []
