"""`oncallbot serve` as a real process against the fakes: the calendar synced in pages then through its sync
token, /oncall answered in Slack, an SMS sent and a call placed, forged webhooks refused."""

import subprocess
import sys
import time
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness.config import example_settings
from tests.harness.e2e import CALENDAR, SLACK_SECRET, api, current_week, e2e_config, e2e_env, seed_quarter, utc_now
from tests.harness.gcal import service_account_file
from tests.harness.serve import ServeProcess, free_port

pytestmark = pytest.mark.e2e
PEOPLE = {p.id: p for p in example_settings().team_model().people}


@pytest.fixture
def stack(tmp_path):
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar(page_limit=5) as gcal:
        seeded = seed_quarter(gcal, utc_now())
        key_file = service_account_file(tmp_path, f"{gcal.url}/token")
        port = free_port()
        config = e2e_config(tmp_path, port, acknowledgment={"window": "1s"})
        env = e2e_env(slack, twilio, gcal, key_file, f"sqlite:///{tmp_path}/e2e.sqlite3")
        server = ServeProcess(config, tmp_path, env=env, port=port)
        server.start()
        try:
            yield server, slack, twilio, gcal, seeded, config
        finally:
            server.stop()


def current(seeded):
    return current_week(seeded, utc_now())


def slack_post(server, body: str, secret: str = SLACK_SECRET, timestamp: int | None = None):
    timestamp = str(timestamp or int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return httpx.post(f"{server.url}/slack/events", content=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature})


def test_calendar_quarter_is_synced_in_pages_then_through_the_sync_token(stack):
    server, slack, twilio, gcal, seeded, config = stack
    listings = gcal.requests_to(f"/calendars/{CALENDAR.replace('@', '%40')}/events", method="GET")
    assert len(listings) >= 3 and all("pageToken" in r.query for r in listings[1:])  # 14 weeks, 5 a page
    event_id, person_id = current(seeded)
    body = httpx.get(f"{server.url}/api/v1/oncall", timeout=5).json()
    assert body["current"]["person"]["id"] == person_id

    replacement = next(p for p in ("kelly", "tom") if p != person_id)
    gcal.put_event(CALENDAR, {**next(e for e in gcal.events(CALENDAR) if e["id"] == event_id),
                              "summary": f"On call: {PEOPLE[replacement].name}"})
    sync = subprocess.run([sys.executable, "-m", "oncallbot", "sync", "--config", str(config)], cwd=server.cwd,
                          env=server.env, capture_output=True, text=True, timeout=60)
    assert sync.returncode == 0, sync.stderr
    assert "syncToken" in gcal.requests_to("/events", method="GET")[-1].query
    assert httpx.get(f"{server.url}/api/v1/oncall", timeout=5).json()["current"]["person"]["id"] == replacement
    # Both people whose week changed hear about it in Slack.
    for person in (person_id, replacement):
        slack.wait_for(lambda r, uid=PEOPLE[person].slack_id: r.path.endswith("chat.postMessage")
                       and (r.json or {}).get("channel") == uid and "weeks changed" in (r.json or {}).get("text", ""),
                       timeout=10)


def test_slash_command_names_who_is_on_call(stack):
    server, slack, *_rest, seeded, _ = stack
    _, person_id = current(seeded)
    form = urlencode({"command": "/oncall", "text": "", "user_id": PEOPLE["dana"].slack_id, "team_id": "T1",
                      "channel_id": "C01SUPPORT", "response_url": f"{slack.url}/response/1",
                      "trigger_id": "1.2.3"})
    response = slack_post(server, form)
    assert response.status_code == 200
    assert f"on call: {PEOPLE[person_id].name}" in response.json()["text"]


def test_forged_slack_and_twilio_requests_are_refused(stack):
    server, slack, twilio, *_ = stack
    form = urlencode({"command": "/oncall", "text": "", "user_id": PEOPLE["dana"].slack_id})
    assert slack_post(server, form, secret="not-the-secret").status_code == 401
    assert slack_post(server, form, timestamp=int(time.time()) - 360).status_code == 401
    params = {"From": PEOPLE["aisha"].phone, "Body": "1", "MessageSid": "SM" + "1" * 32}
    forged = RequestValidator("wrong-token").compute_signature(f"{server.url}/twilio/sms", params)
    response = httpx.post(f"{server.url}/twilio/sms", data=params, headers={"X-Twilio-Signature": forged}, timeout=5)
    assert response.status_code == 403


def test_a_page_reaches_slack_then_sms_and_a_call_when_nobody_answers(stack):
    server, slack, twilio, gcal, seeded, _ = stack
    _, person_id = current(seeded)
    person = PEOPLE[person_id]
    response = api(server, "POST", "/api/v1/pages", json={"summary": "Voicemail: checkout broken", "source": "phone"})
    assert response.status_code == 201 and response.json()["responsible"] == person_id
    page_id = response.json()["id"]
    card = slack.wait_for(lambda r: r.path.endswith("chat.postMessage") and
                          f"Page #{page_id}" in (r.json or {}).get("text", ""), timeout=10)[0]
    assert f"<@{person.slack_id}>" in str(card.json["blocks"])
    twilio.wait_for(lambda r: r.path.endswith("/Messages.json") and r.form.get("To") == person.phone, timeout=20)
    call = twilio.wait_for(lambda r: r.path.endswith("/Calls.json") and r.form.get("To") == person.phone,
                           timeout=20)[0]
    assert f"/twilio/voice?page={page_id}" in call.form["Twiml"]
    # Pressing 1 on that call takes the page, and the Slack thread shows it.
    params = {"CallSid": "CA" + "2" * 32, "Digits": "1", "To": person.phone, "From": "+14155550199"}
    url = f"{server.url}/twilio/voice?page={page_id}"
    signature = RequestValidator(twilio.auth_token).compute_signature(url, params)
    answer = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert answer.status_code == 200 and "On It!" in answer.text
    assert api(server, "GET", f"/api/v1/pages/{page_id}").json()["state"] == "on_it"
    slack.wait_for(lambda r: r.path.endswith("chat.postMessage") and
                   "(via call)" in (r.json or {}).get("text", ""), timeout=10)
