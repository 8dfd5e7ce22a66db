"""Issue 10, item 10: the scan every test using the fakes gets (tests/conftest.py `no_contact_leaks`) finds the
team's numbers and emails in any common form, and leaves alone a person's own details sent to them."""

import pytest
from slack_sdk import WebClient
from twilio.rest import Client

from oncallbot.adapters.twilio import LoopbackAwareHttpClient
from tests.fakes import FakeSlack, FakeTwilio
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.harness.privacy import leaks, log_leaks

pytestmark = pytest.mark.contact_leak_ok  # these tests leak on purpose, to see the scan find it

KELLY_SLACK, AISHA_SLACK = "U01KELLY00", "U01AISHA00"


@pytest.mark.parametrize("written", ["+14155550101", "14155550101", "4155550101", "(415) 555-0101", "415-555-0101",
                                     "415.555.0101", "+1 415 555 0101", "call 1-415-555-0101 now",
                                     "Kelly.Nguyen@Example.COM"])
def test_a_number_or_email_in_a_channel_message_is_found_in_any_form(written):
    with FakeSlack() as fake:
        WebClient(token="xoxb-test", base_url=fake.url + "/api/").chat_postMessage(
            channel="C01SUPPORT", text=f"reach Kelly at {written}")
        fake.clear()  # forgotten by the test, not by the scan
    found = leaks(fake)
    assert len(found) == 1 and "kelly's" in found[0]


def test_own_details_in_a_dm_are_fine_anyone_elses_are_not():
    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.url + "/api/")
        client.chat_postMessage(channel=KELLY_SLACK, text="your number on file: +14155550101")
        assert leaks(fake) == []
        client.chat_postMessage(channel=AISHA_SLACK, text="Kelly is at kelly.nguyen@example.com")
    assert len(leaks(fake)) == 1


def test_other_numbers_and_near_misses_are_not_leaks():
    with FakeSlack() as fake:
        WebClient(token="xoxb-test", base_url=fake.url + "/api/").chat_postMessage(
            channel="C01SUPPORT", text="page 14155550101999 and +14155550199, ticket 41555501012, ***0101")
    assert leaks(fake) == []


def test_sms_bodies_and_call_twiml_are_scanned_but_not_their_recipient():
    with FakeTwilio() as twilio:
        client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN,
                        http_client=LoopbackAwareHttpClient(api_url=twilio.url + "/"))
        client.messages.create(to="+14155550101", from_="+14155550000", body="Page #1: site down. Reply 1.")
        client.calls.create(to="+14155550102", from_="+14155550000", twiml="<Response><Say>Hi</Say></Response>")
        assert leaks(twilio) == []
        client.messages.create(to="+14155550101", from_="+14155550000", body="Marcus: 415 555 0102")
        client.calls.create(to="+14155550102", from_="+14155550000",
                            twiml="<Response><Say>Kelly: kelly.nguyen@example.com</Say></Response>")
    found = leaks(twilio)
    assert len(found) == 2 and "marcus's phone" in found[0] and "kelly's email" in found[1]


def test_log_lines_are_scanned_for_everyone():
    assert log_leaks('{"event": "sms sent", "to": "+***01"}') == []
    assert len(log_leaks('{"event": "sms sent", "to": "4155550105"}')) == 1


def test_a_page_escalated_by_sms_and_call_then_stop_is_scanned_and_clean(make_bot, database_url):
    """The flow the conftest scan runs after every test, checked here to see what it covers: the thread, the
    approvers' opt-out news, the SMS body and the call TwiML, none naming a number or an email."""
    bot = make_bot(database_url)
    page_id = bot.escalated_page()
    bot.text_in("STOP")
    assert bot.opted_out("aisha")
    slack_posts = [r for r in bot.slack.all_requests if r.path == "/api/chat.postMessage"]
    sms = [r for r in bot.twilio.all_requests if r.form.get("Body")]
    calls = [r for r in bot.twilio.all_requests if r.form.get("Twiml")]
    assert slack_posts and sms and calls and bot.thread(page_id)
    assert leaks(bot.slack) == [] and leaks(bot.twilio) == []
