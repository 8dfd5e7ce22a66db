"""Issue 7, item 17: the manager paged through Escalate is told why, by SMS, on the call and in the Slack DM.

The Slack app `serve` builds, with Twilio on: signed Slack requests in, the real slack_sdk and twilio clients out
to the loopback fakes."""

import traceback
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from oncallbot import bootstrap
from oncallbot.entrypoints.http import create_app
from oncallbot.entrypoints.serve import build_slack_app
from oncallbot.services import paging
from oncallbot.services.rotation import sync_rotation
from tests.fakes import FakeTwilio
from tests.harness.clock import FakeClock
from tests.harness.config import example_data, example_settings
from tests.harness.slack import AISHA, API_TOKEN, NOW, OMAR, SECRET, SlackHarness, TrackedExecutor

OMAR_PHONE = "+14155550111"
AISHA_PHONE = "+14155550105"
REASON = "Refund above my approval limit"


class SlackAndTwilio(SlackHarness):
    """SlackHarness, with SMS and calls going out through the real twilio client to FakeTwilio."""

    def __init__(self, database_url: str, slack_fake, twilio: FakeTwilio):
        self.fake, self.twilio = slack_fake, twilio
        self.clock = FakeClock(NOW)
        env = bootstrap.Environment(database_url=database_url, slack_bot_token="xoxb-test",
                                    slack_signing_secret=SECRET, slack_api_url=slack_fake.url, api_token=API_TOKEN,
                                    twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
                                    twilio_from_number="+14155550199", twilio_api_url=twilio.url)
        settings = example_settings(server={**example_data()["server"], "public_url": "https://oncall.example.com"})
        self.container = bootstrap.build(settings, env, clock=self.clock)
        self.store = self.container.store
        self.store.upgrade()
        sync_rotation(self.store, self.container.rotation_source, self.container.procedure, self.clock.now())
        self.bolt = build_slack_app(self.container)
        self.listeners = TrackedExecutor()
        self.bolt.listener_runner.listener_executor = self.listeners
        self.errors = []
        self.bolt.error(lambda error: self.errors.append("".join(traceback.format_exception(error))))
        self.http = TestClient(create_app(self.container, slack_app=self.bolt))
        self._counter = 0
        self.trigger_id = None


@pytest.fixture
def bot(database_url, fake):
    with FakeTwilio() as twilio:
        harness = SlackAndTwilio(database_url, fake, twilio)
        yield harness
        harness.close()


def said(twiml_text: str) -> list[str]:
    return [element.text for element in ET.fromstring(twiml_text).iter("Say")]


def test_the_manager_paged_through_escalate_is_told_why_by_sms_call_and_dm(bot):
    ticket = bot.say("Customer disputes a refund")
    page_id = bot.page_of(ticket).id
    bot.clock.advance(timedelta(minutes=3))

    bot.click("page.escalate", page_id, AISHA)
    assert bot.submit_reason(page_id, REASON, AISHA).status_code == 200

    escalation = f"Escalated by Aisha Khan: {REASON}"
    [sms] = bot.twilio.sms_to(OMAR_PHONE)
    assert sms["body"] == (f"[oncallbot] Page #{page_id}: Customer disputes a refund -- {escalation} -- "
                           f"reply 1 for On It!, DONE when resolved.")
    [call] = bot.twilio.calls_to(OMAR_PHONE)
    assert f"On-call page number {page_id}. Customer disputes a refund. {escalation}." in said(call["twiml"])
    assert [m["text"] for m in bot.fake.dms_to(OMAR)] == [
        f"Page #{page_id} needs an On It!: Customer disputes a refund\n{escalation}"]
    assert bot.twilio.sms_to(AISHA_PHONE) == []  # she escalated it: she is not paged for it


def test_a_page_nobody_escalated_reads_as_before(bot):
    ticket = bot.say("Voicemail from ACME: server down")
    page_id = bot.page_of(ticket).id
    bot.clock.advance(timedelta(minutes=16))
    paging.fire_due_escalations(bot.store, bot.container.procedure, bot.clock.now())
    bot.container.deliver_now()
    [sms] = bot.twilio.sms_to(AISHA_PHONE)
    assert "Escalated" not in sms["body"]
    [call] = bot.twilio.calls_to(AISHA_PHONE)
    assert f"On-call page number {page_id}. Voicemail from ACME: server down" in said(call["twiml"])
