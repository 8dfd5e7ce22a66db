"""The Twilio webhooks (/twilio/sms, /twilio/voice, /twilio/status), called exactly as Twilio calls them:
form-encoded POSTs signed with X-Twilio-Signature over the configured public URL. Pages go out through the
real twilio and slack_sdk clients to the loopback FakeTwilio and FakeSlack."""

import logging
from datetime import timedelta

import pytest
from twilio.request_validator import RequestValidator

from oncallbot.logs import mask
from tests.harness.twilio import (
    AISHA,
    AISHA_SLACK,
    DANA_SLACK,
    OMAR_SLACK,
    OUR_NUMBER,
    PUBLIC_URL,
    STRANGER,
    events,
    sms_reply,
    twiml,
)

# -- SMS replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["1", "On it", "DONE {id}"])
def test_sms_reply_from_the_on_call_person_takes_the_page_and_says_so_in_slack(make_bot, database_url, reply):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()
    done = reply.startswith("DONE")

    response = bot.text_in(reply.format(id=page_id))

    label = "Done" if done else "On It!"
    assert sms_reply(response) == [f"{label} recorded for page #{page_id}."]
    body = bot.page(page_id)
    assert body["state"] == ("done" if done else "on_it")
    assert body["on_it_by"] == "aisha" and body["on_it_at"] == "2026-11-23T22:16:00-08:00"
    assert events(body, body["state"]) == [(body["state"], "aisha", "sms")]
    assert f"{label} Aisha Khan at 22:16 (via SMS)" in bot.thread(page_id)

    assert bot.tick(30) == 0  # the escalation stopped: the manager is never phoned
    assert bot.twilio.sms_to("+14155550111") == [] and bot.twilio.calls_to("+14155550111") == []


def test_sms_reply_of_a_page_number_takes_only_that_page(make_bot, sqlite_url):
    bot = make_bot(sqlite_url)
    first = bot.escalated_page()
    second = bot.open_page("Ticket 5521: refund stuck")
    response = bot.text_in(f"on it #{second}")
    assert sms_reply(response) == [f"On It! recorded for page #{second}."]
    assert bot.page(second)["state"] == "on_it"
    assert bot.page(first)["state"] == "open"


def test_a_duplicate_delivery_of_an_sms_does_nothing_twice(make_bot, database_url):
    bot = make_bot(database_url)
    first = bot.escalated_page()
    params = bot.sms_params("1")
    assert sms_reply(bot.twilio_post("/twilio/sms", params)) == [f"On It! recorded for page #{first}."]
    thread = bot.thread(first)

    # A new page comes in and reaches Aisha; then Twilio delivers the old "1" again.
    second = bot.open_page("Voicemail from Globex: invoices")
    bot.tick(16)
    assert len(bot.twilio.sms_to(AISHA)) == 2
    again = bot.twilio_post("/twilio/sms", params)

    assert sms_reply(again) == []  # an empty <Response/>: no second answer
    assert bot.page(second)["state"] == "open"  # the stale "1" did not take the new page
    assert events(bot.page(first), "on_it") == [("on_it", "aisha", "sms")]
    assert bot.thread(first) == thread


def test_sms_from_a_number_not_on_the_team_is_ignored_and_the_number_masked(make_bot, sqlite_url, caplog):
    bot = make_bot(sqlite_url)
    page_id = bot.escalated_page()
    before = bot.page(page_id)
    slack_before = len(bot.slack.messages())

    with caplog.at_level(logging.DEBUG):
        response = bot.text_in(f"DONE {page_id}", sender=STRANGER)

    assert sms_reply(response) == []
    assert bot.page(page_id) == before
    assert len(bot.slack.messages()) == slack_before
    [warning] = [r for r in caplog.records if r.getMessage() == "ignored an SMS from a number not on the team"]
    assert warning.levelno == logging.WARNING
    assert warning.fields == {"sender": mask(STRANGER)} and mask(STRANGER) == "+***87"
    for record in caplog.records:
        assert STRANGER not in record.getMessage() and STRANGER not in repr(getattr(record, "fields", {}))
        assert STRANGER.lstrip("+") not in repr(record.args)
    assert STRANGER not in caplog.text


# -- signatures -------------------------------------------------------------------------------------


def test_a_forged_signature_is_refused_and_nothing_is_recorded(make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()
    params = bot.sms_params("1")
    wrong_token = RequestValidator("not-our-auth-token").compute_signature(PUBLIC_URL + "/twilio/sms", params)
    tampered = bot.sms_params("1", sid=params["MessageSid"])
    tampered_sig = RequestValidator(bot.twilio.auth_token).compute_signature(
        PUBLIC_URL + "/twilio/sms", {**tampered, "Body": "DONE"})  # signed for another body

    for signature in (wrong_token, tampered_sig, "forged", ""):
        response = bot.twilio_post("/twilio/sms", params, signature=signature)
        assert response.status_code == 403, signature
    unsigned = bot.client.post("/twilio/sms", data=params)
    assert unsigned.status_code == 403

    assert bot.page(page_id)["state"] == "open"
    assert not bot.inbound_seen(f"twilio-sms:{params['MessageSid']}")
    # The real delivery of the same message is still taken: the forgeries did not use up its id.
    assert sms_reply(bot.twilio_post("/twilio/sms", params)) == [f"On It! recorded for page #{page_id}."]


def test_a_signature_for_another_url_is_refused(make_bot, sqlite_url):
    bot = make_bot(sqlite_url)
    page_id = bot.escalated_page()
    params = bot.sms_params("1")
    for url in ("http://oncall.example.com/twilio/sms",  # http, not the https Twilio was given
                "http://testserver/twilio/sms",  # what this process sees behind the proxy
                "https://other.example.com/twilio/sms",
                "https://oncall.example.com/twilio/voice"):
        assert bot.twilio_post("/twilio/sms", params, signed_url=url).status_code == 403, url

    [call] = bot.twilio.calls_to(AISHA)
    keypress = {"CallSid": call["sid"], "AccountSid": bot.twilio.account_sid, "From": OUR_NUMBER, "To": AISHA,
                "Digits": "1"}
    signed_without_query = f"{PUBLIC_URL}/twilio/voice"
    response = bot.twilio_post(f"/twilio/voice?page={page_id}", keypress, signed_url=signed_without_query)
    assert response.status_code == 403
    signed_for_other_page = f"{PUBLIC_URL}/twilio/voice?page={page_id + 1}"
    response = bot.twilio_post(f"/twilio/voice?page={page_id}", keypress, signed_url=signed_for_other_page)
    assert response.status_code == 403
    assert bot.page(page_id)["state"] == "open"

    # :443 is the same URL to Twilio's validator
    response = bot.twilio_post("/twilio/sms", params, signed_url="https://oncall.example.com:443/twilio/sms")
    assert sms_reply(response) == [f"On It! recorded for page #{page_id}."]


# -- voice keypress ---------------------------------------------------------------------------------


def test_pressing_1_on_the_call_takes_the_page_by_voice(make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()

    root = twiml(bot.keypress(page_id, "1"))

    assert [s.text for s in root.findall("Say")] == ["On It!: Aisha Khan has this page. Escalation stopped."]
    assert root.find("Hangup") is not None
    body = bot.page(page_id)
    assert body["state"] == "on_it" and body["on_it_by"] == "aisha"
    assert events(body, "on_it") == [("on_it", "aisha", "voice")]
    assert "On It! Aisha Khan at 22:16 (via call)" in bot.thread(page_id)
    assert bot.tick(30) == 0


@pytest.mark.parametrize("digits", ["", None, "2"], ids=["empty", "absent", "other-key"])
def test_a_call_without_a_1_leaves_the_page_open(make_bot, sqlite_url, digits):
    bot = make_bot(sqlite_url)
    page_id = bot.escalated_page()
    root = twiml(bot.keypress(page_id, digits))
    assert [s.text for s in root.findall("Say")] == ["No acknowledgment recorded. The page is still open."]
    body = bot.page(page_id)
    assert body["state"] == "open" and body["on_it_by"] is None
    assert bot.tick(15) == 1  # and it escalates to the manager on time
    assert len(bot.twilio.calls_to("+14155550111")) == 1


# -- status callbacks and opt-outs --------------------------------------------------------------------


def test_undelivered_sms_with_21610_records_the_opt_out_falls_back_and_tells_the_approvers(make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()
    [sms] = bot.twilio.sms_to(AISHA)
    status = {"AccountSid": bot.twilio.account_sid, "MessageSid": sms["sid"], "SmsSid": sms["sid"],
              "MessageStatus": "undelivered", "SmsStatus": "undelivered", "ErrorCode": "21610",
              "To": AISHA, "From": OUR_NUMBER, "ApiVersion": "2010-04-01"}
    assert bot.dms(AISHA_SLACK) == []

    response = bot.twilio_post("/twilio/status", status)

    assert response.status_code == 204
    assert bot.opted_out("aisha", "sms")
    assert bot.dms(AISHA_SLACK) == [f"Page #{page_id} needs an On It!: Voicemail from ACME: server down"]
    assert len(bot.twilio.calls_to(AISHA)) == 1  # she was already called for this step: not twice
    for approver in (DANA_SLACK, OMAR_SLACK):
        [report] = bot.dms(approver)
        assert report.startswith("Aisha Khan has opted out of SMS")
        assert AISHA not in report
    body = bot.page(page_id)
    assert ("delivery_failed", "aisha", "sms") in events(body)
    assert ("notified", "aisha", "slack") in events(body)

    # Twilio repeats the callback: nothing is sent twice.
    sent = len(bot.slack.messages())
    assert bot.twilio_post("/twilio/status", status).status_code == 204
    assert len(bot.slack.messages()) == sent


def test_a_delivered_status_changes_nothing(make_bot, sqlite_url):
    bot = make_bot(sqlite_url)
    page_id = bot.escalated_page()
    [sms] = bot.twilio.sms_to(AISHA)
    sent = len(bot.slack.messages())
    for state in ("sent", "delivered"):
        response = bot.twilio_post("/twilio/status", {"AccountSid": bot.twilio.account_sid, "MessageSid": sms["sid"],
                                                      "MessageStatus": state, "To": AISHA, "From": OUR_NUMBER})
        assert response.status_code == 204
    assert not bot.opted_out("aisha", "sms")
    assert len(bot.slack.messages()) == sent
    assert bot.page(page_id)["state"] == "open"


def test_sms_stop_from_a_member_means_later_steps_skip_sms(make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.open_page()

    response = bot.text_in("STOP")
    assert sms_reply(response) == []  # Twilio itself confirms a STOP
    assert bot.opted_out("aisha", "sms")
    bot.container.deliver_now()  # the dispatcher's next tick sends the report
    for approver in (DANA_SLACK, OMAR_SLACK):
        assert any(text.startswith("Aisha Khan has opted out of SMS (replied STOP)") for text in bot.dms(approver))

    assert bot.tick(16) == 1
    assert bot.twilio.sms_to(AISHA) == []
    assert len(bot.twilio.calls_to(AISHA)) == 1
    assert "Step 1: paging Aisha Khan (on call) by call" in bot.thread(page_id)

    assert sms_reply(bot.text_in("START")) == []
    assert not bot.opted_out("aisha", "sms")


def test_after_stop_not_even_a_digest_is_texted(make_bot, sqlite_url):
    bot = make_bot(sqlite_url)
    assert sms_reply(bot.text_in("STOP")) == []
    bot.twilio.opt_out(AISHA)  # Twilio keeps its own opt-out list: it would refuse with 21610
    first = bot.open_page("Ticket 1")
    bot.clock.advance(timedelta(minutes=5))
    second = bot.open_page("Ticket 2")

    bot.tick(15)  # 22:20: both pages are due while each still waits on Aisha, so the second joins a digest

    attempts = [r for r in bot.twilio.requests_to("/Messages.json", "POST") if r.form.get("To") == AISHA]
    assert attempts == []  # no SMS was even attempted
    assert bot.twilio.calls_to(AISHA)  # she is still called
    assert any(f"Page #{second}" in text for text in bot.dms(AISHA_SLACK))  # and told in Slack
    assert bot.page(first)["state"] == bot.page(second)["state"] == "open"
