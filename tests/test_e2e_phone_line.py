"""Issue 12, done when: `oncallbot serve` as a real process, the fake Twilio driving its real webhooks over
HTTP. A customer's call rings the current on-call person with the "press 1" screen; an unanswered call
becomes a voicemail page in Slack with its transcription, and its Listen link plays the recording."""

import json
import re

import httpx
import pytest

from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness.config import example_settings
from tests.harness.e2e import api, current_week, e2e_config, e2e_env, seed_quarter, utc_now, wait_until
from tests.harness.gcal import service_account_file
from tests.harness.phone_line import CUSTOMER, LINE, LINK_SECRET
from tests.harness.serve import ServeProcess, free_port

pytestmark = pytest.mark.e2e
PEOPLE = {p.id: p for p in example_settings().team_model().people}


@pytest.fixture
def served_line(tmp_path):
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        seeded = seed_quarter(gcal, utc_now())
        key_file = service_account_file(tmp_path, f"{gcal.url}/token")
        port = free_port()
        config = e2e_config(tmp_path, port, phone_line={"numbers": [LINE], "ring_seconds": 15})
        env = {**e2e_env(slack, twilio, gcal, key_file, f"sqlite:///{tmp_path}/e2e.sqlite3"),
               "ONCALLBOT_LINK_SECRET": LINK_SECRET}
        server = ServeProcess(config, tmp_path, env=env, port=port)
        server.start()
        try:
            yield server, slack, twilio, seeded
        finally:
            server.stop()


def test_a_customer_call_rings_the_on_call_person_screened_then_becomes_a_voicemail_page_in_slack(served_line):
    server, slack, twilio, seeded = served_line
    _, person_id = current_week(seeded, utc_now())
    person = PEOPLE[person_id]

    def send(url: str, params: dict, signature: str):
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)

    call = twilio.incoming_call(LINE, CUSTOMER, send, server.url)
    assert call.ringing["number"] == person.phone and call.ringing["caller_id"] == LINE
    call.answer()
    assert call.screen_heard[0] == "Support call for Customer Support, press 1 to take it."
    call.no_keypress()
    call.leave_message(37, "Hello, the portal shows error 502 since 9 pm.", audio=b"ID3-e2e-voicemail")
    assert call.heard[-1] == "Thank you. Your message has been passed on. Goodbye."

    def card():
        for message in slack.messages():
            if (message["text"] or "").startswith("Page #") and "Voicemail from ••• ••• 0142, 0:37" in message["text"]:
                blocks = json.dumps(message["blocks"])
                if "error 502" in blocks and "Listen" in blocks:
                    return blocks
        return None

    blocks = wait_until(card, 10, "the voicemail's card in Slack")
    [pages] = [api(server, "GET", "/api/v1/pages").json()["pages"]]
    assert [p["source"] for p in pages] == ["voicemail"]
    link = re.search(r"<(http://127\.0\.0\.1:\d+/recordings/\d+\?[^|]+)\|", blocks).group(1)
    audio = httpx.get(link, timeout=10)
    assert audio.status_code == 200 and audio.content == b"ID3-e2e-voicemail"
    assert httpx.get(link.replace("sig=", "sig=f"), timeout=10).status_code == 403
    assert CUSTOMER not in server.output() and CUSTOMER not in json.dumps(slack.messages())
