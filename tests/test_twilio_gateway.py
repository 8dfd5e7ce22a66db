"""The Twilio adapter, driving the real twilio Client against the loopback FakeTwilio."""

from __future__ import annotations

import base64
import socket
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from oncallbot.adapters.twilio import (
    LoopbackAwareHttpClient,
    TwilioGateway,
    TwilioSignatureVerifier,
    gather_reply_twiml,
    page_call_twiml,
    sms_reply_twiml,
)
from oncallbot.errors import ChannelOptedOut, DeliveryFailed, InvalidAddress
from tests.fakes import FakeTwilio

ALICE = "+15551230001"
OUR_NUMBER = "+15550000000"
STATUS_URL = "https://bot.example.com/twilio/status"
GATHER_URL = "https://bot.example.com/twilio/voice?incident=42&attempt=1"


def gateway_for(fake: FakeTwilio, auth_token: str | None = None, **kwargs) -> TwilioGateway:
    return TwilioGateway(fake.account_sid, auth_token or fake.auth_token, OUR_NUMBER, api_url=fake.url, **kwargs)


def failure(call) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as raised:
        call()
    return raised.value


# -- sending -----------------------------------------------------------------------------------


def test_sms_is_sent_from_our_number_with_status_callback_and_validity(twilio):
    sid = gateway_for(twilio).send_sms(ALICE, "Voicemail waiting", status_callback=STATUS_URL)

    (request,) = twilio.requests_to("/Messages.json", "POST")
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.form == {
        "To": ALICE, "From": OUR_NUMBER, "Body": "Voicemail waiting", "StatusCallback": STATUS_URL,
        "ValidityPeriod": "600",
    }
    credentials = base64.b64encode(f"{twilio.account_sid}:{twilio.auth_token}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert [m["sid"] for m in twilio.sms_to(ALICE)] == [sid]


def test_sms_without_status_callback_sends_none(twilio):
    gateway_for(twilio).send_sms(ALICE, "Test page")

    (request,) = twilio.requests_to("/Messages.json")
    assert "StatusCallback" not in request.form


def test_call_is_placed_with_the_gather_inline(twilio):
    twiml = page_call_twiml("Voicemail from a customer", GATHER_URL)

    sid = gateway_for(twilio).place_call(ALICE, twiml, status_callback=STATUS_URL)

    (call,) = twilio.calls_to(ALICE)
    assert call["sid"] == sid and call["from"] == OUR_NUMBER
    assert (call["twiml"], call["url"]) == (twiml, None)
    assert 'numDigits="1"' in call["twiml"]
    gather = ET.fromstring(call["twiml"]).find("Gather")
    assert gather.get("action") == GATHER_URL
    assert call["status_callback"] == STATUS_URL
    assert call["status_callback_event"] == ["initiated", "ringing", "answered", "completed"]
    assert call["timeout"] == "25"


def test_requests_reach_the_local_server_with_region_and_edge_set(twilio, monkeypatch):
    # With these set the SDK rewrites api.twilio.com to api.dublin.ie1.twilio.com: still ours to redirect.
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")

    gateway_for(twilio).send_sms(ALICE, "Test page")

    assert len(twilio.sms_to(ALICE)) == 1


def test_http_client_keeps_path_and_query_when_redirecting(twilio):
    client = LoopbackAwareHttpClient(api_url=twilio.url + "/")

    client.request("GET", "https://api.twilio.com/2010-04-01/Accounts/ACx/Calls.json?PageSize=5")

    (request,) = twilio.requests
    assert (request.path, request.query) == ("/2010-04-01/Accounts/ACx/Calls.json", {"PageSize": ["5"]})


# -- failures ------------------------------------------------------------------------------------


def test_sms_to_an_opted_out_number_raises_channel_opted_out(twilio):
    twilio.opt_out(ALICE)

    error = failure(lambda: gateway_for(twilio).send_sms(ALICE, "Voicemail waiting"))

    assert type(error) is ChannelOptedOut and error.permanent
    assert "21610" in str(error) and ALICE not in str(error)
    assert "+***01" in str(error)  # enough to tell people apart


@pytest.mark.parametrize("number", ["555-1234", "07700 900123"])
def test_invalid_number_raises_invalid_address_without_showing_it(twilio, number):
    error = failure(lambda: gateway_for(twilio).send_sms(number, "Voicemail waiting"))

    assert type(error) is InvalidAddress and error.permanent
    assert number not in str(error) and number.replace(" ", "") not in str(error)


def test_invalid_number_for_a_call_raises_invalid_address(twilio):
    error = failure(lambda: gateway_for(twilio).place_call("12", "<Response/>"))

    assert type(error) is InvalidAddress


@pytest.mark.parametrize(
    ("code", "kind", "configuration"),
    [
        (21614, InvalidAddress, False),
        (21217, InvalidAddress, False),
        (21408, DeliveryFailed, True),
        (21612, DeliveryFailed, True),
        (30034, DeliveryFailed, True),
        (21999, DeliveryFailed, False),  # a code we don't know: give up on this channel
    ],
)
def test_twilio_error_codes_map_to_our_exceptions(twilio, code, kind, configuration):
    # Real Twilio messages quote the number; the fake's don't, so inject one that does.
    twilio.inject("/Messages.json", 400, body={"code": code, "message": f"'To' number {ALICE} refused", "status": 400})

    error = failure(lambda: gateway_for(twilio).send_sms(ALICE, "Voicemail waiting"))

    assert type(error) is kind and error.permanent
    assert ("configuration problem" in str(error)) is configuration
    assert str(code) in str(error) and ALICE not in str(error)


def test_rfc9457_errors_are_mapped_too(twilio):
    problem = {"type": "https://www.twilio.com/docs/errors/21610", "title": "Unsubscribed", "status": 400,
               "code": 21610, "detail": f"{ALICE} replied STOP"}
    twilio.inject("/Messages.json", 400, body=problem)

    error = failure(lambda: gateway_for(twilio).send_sms(ALICE, "Voicemail waiting"))

    assert type(error) is ChannelOptedOut and ALICE not in str(error)


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, None), (429, 7)])
def test_server_errors_and_rate_limits_are_worth_retrying(twilio, status, retry_after):
    twilio.inject("/Messages.json", status, retry_after=retry_after)

    error = failure(lambda: gateway_for(twilio).send_sms(ALICE, "Voicemail waiting"))

    assert type(error) is DeliveryFailed and not error.permanent
    assert error.retry_after == retry_after
    assert twilio.sms_to(ALICE) == []
    assert len(twilio.requests_to("/Messages.json")) == 1  # statuses are never retried here: the caller decides


def test_slow_answer_is_a_temporary_failure_that_may_have_been_sent(twilio):
    twilio.inject("/Calls.json", delay=1)  # the fake wakes at teardown, so this costs the 0.3 s timeout only

    error = failure(lambda: gateway_for(twilio, timeout=0.3).place_call(ALICE, "<Response/>"))

    assert type(error) is DeliveryFailed and not error.permanent
    assert "may have been sent" in str(error)


def test_unreachable_twilio_is_retried_twice_then_a_temporary_failure(monkeypatch):
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens on it
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    attempts = []
    guarded_connect = socket.socket.connect  # conftest's loopback guard

    def counting_connect(sock, address):
        attempts.append(address)
        return guarded_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", counting_connect)
    gateway = TwilioGateway("AC" + "0" * 32, "token", OUR_NUMBER, api_url=closed_url)

    error = failure(lambda: gateway.send_sms(ALICE, "Voicemail waiting"))

    assert type(error) is DeliveryFailed and not error.permanent
    assert "could not reach Twilio" in str(error)
    assert len(attempts) == 3


def test_wrong_auth_token_is_a_permanent_configuration_problem(twilio):
    error = failure(lambda: gateway_for(twilio, auth_token="wrong").send_sms(ALICE, "Voicemail waiting"))

    assert type(error) is DeliveryFailed and error.permanent
    assert "20003" in str(error) and "configuration problem" in str(error)
    assert "TWILIO_AUTH_TOKEN" in str(error) and ALICE not in str(error)


# -- TwiML ---------------------------------------------------------------------------------------


def test_page_call_reads_the_page_twice_inside_one_gather():
    root = ET.fromstring(page_call_twiml("Ticket 7 <urgent> & unanswered", GATHER_URL))

    (gather,) = root
    assert gather.tag == "Gather"
    assert gather.attrib == {
        "input": "dtmf", "numDigits": "1", "timeout": "10", "action": GATHER_URL, "method": "POST",
        "actionOnEmptyResult": "true",
    }
    said = [verb.text for verb in gather if verb.tag == "Say"]
    assert said == ["Ticket 7 <urgent> & unanswered", "Press 1 to acknowledge."] * 2


def test_gather_reply_says_then_hangs_up():
    root = ET.fromstring(gather_reply_twiml("Acknowledged. Thank you."))

    assert [(verb.tag, verb.text) for verb in root] == [("Say", "Acknowledged. Thank you."), ("Hangup", None)]


def test_sms_reply_is_a_message_or_nothing():
    reply = ET.fromstring(sms_reply_twiml("On it, thanks"))
    silent = ET.fromstring(sms_reply_twiml(None))

    assert [(m.tag, m.text) for m in reply] == [("Message", "On it, thanks")]
    assert (silent.tag, list(silent)) == ("Response", [])


# -- webhook signatures --------------------------------------------------------------------------

TOKEN = "test-twilio-token"
FORM = {"MessageSid": "SM" + "1" * 32, "From": ALICE, "Body": "ack"}


def signed(url: str, form: dict[str, str]) -> str:
    return RequestValidator(TOKEN).compute_signature(url, form)  # exactly what Twilio computes


def test_signature_of_the_public_url_is_accepted():
    verifier = TwilioSignatureVerifier(TOKEN, "https://bot.example.com/")

    signature = signed("https://bot.example.com/twilio/sms?team=support", FORM)

    assert verifier.is_valid("/twilio/sms?team=support", FORM, signature)


def test_tampered_or_misaddressed_or_unsigned_requests_are_rejected():
    verifier = TwilioSignatureVerifier(TOKEN, "https://bot.example.com")
    signature = signed("https://bot.example.com/twilio/sms", FORM)

    assert verifier.is_valid("/twilio/sms", FORM, signature)
    assert not verifier.is_valid("/twilio/sms", FORM | {"Body": "ack all"}, signature)
    assert not verifier.is_valid("/twilio/sms?team=support", FORM, signature)
    assert not TwilioSignatureVerifier(TOKEN, "http://bot.example.com").is_valid("/twilio/sms", FORM, signature)
    assert not TwilioSignatureVerifier("other", "https://bot.example.com").is_valid("/twilio/sms", FORM, signature)
    assert not verifier.is_valid("/twilio/sms", FORM, None)
    assert not verifier.is_valid("/twilio/sms", FORM, "")
