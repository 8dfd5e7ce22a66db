"""Unsigned or malformed requests to /slack/events get a 4xx (never a 500), change nothing, and leave `serve`
answering."""

import hashlib
import hmac
import json
import time

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness.config import example_settings
from tests.harness.e2e import SLACK_SECRET, api, e2e_config, e2e_env, seed_quarter, utc_now
from tests.harness.gcal import service_account_file
from tests.harness.serve import ServeProcess, free_port

pytestmark = pytest.mark.e2e
SETTINGS = example_settings()
FRONT_DESK = next(p for p in SETTINGS.team_model().people if p.id == "dana").slack_id


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("slack-bad-requests")
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        seed_quarter(gcal, utc_now())
        port = free_port()
        env = e2e_env(slack, twilio, gcal, service_account_file(tmp_path, f"{gcal.url}/token"),
                      f"sqlite:///{tmp_path}/e2e.sqlite3")
        server = ServeProcess(e2e_config(tmp_path, port), tmp_path, env=env, port=port).start()
        try:
            yield server, slack
        finally:
            code = server.stop()
            assert code == 0 and "Traceback" not in server.output(), server.output()


def ticket(text: str, **extra) -> dict:
    """A new message in the support channel, as Slack's Events API delivers it: a page if signed."""
    ts = f"{int(time.time())}.{time.perf_counter_ns() % 1_000_000:06d}"
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A0ONCALL", "type": "event_callback",
            "event_id": f"Ev{ts.replace('.', '')}", "event_time": int(time.time()),
            "event": {"type": "message", "channel": SETTINGS.slack.support_channel, "channel_type": "channel",
                      "user": FRONT_DESK, "text": text, "ts": ts, "event_ts": ts},
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}], **extra}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post(server, body: bytes, sign: bool, timestamp: str | None = None, content_type: str = "application/json"):
    timestamp = timestamp or str(int(time.time()))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp}
    if sign:
        headers["X-Slack-Signature"] = SignatureVerifier(SLACK_SECRET).generate_signature(
            timestamp=timestamp, body=body.decode())
    return httpx.post(f"{server.url}/slack/events", content=body, headers=headers, timeout=10)


def signed_raw(server, body: bytes, content_type: str = "application/json"):
    """Signed over the exact bytes, whatever they are (slack_sdk signs text only)."""
    timestamp = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return httpx.post(f"{server.url}/slack/events", content=body, timeout=10, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"})


def page_cards(slack) -> list:
    return [r for r in slack.requests_to("/api/chat.postMessage") if "Page #" in (r.json or {}).get("text", "")]


BAD_REQUESTS = {
    # name: (send(server) -> response, expected status)
    "unsigned, starts with { but is not JSON": (lambda s: post(s, b'{"type": "event_callback", oops', False), 401),
    "signed, starts with { but is not JSON": (lambda s: post(s, b'{"type": "event_callback", oops', True), 400),
    "unsigned, not UTF-8": (lambda s: post(s, b'{"text": "caf\xe9"}', False), 400),
    "signed, not UTF-8": (lambda s: signed_raw(s, b'{"text": "caf\xe9"}'), 400),
    "timestamp not a number": (lambda s: post(s, json.dumps(ticket("help")).encode(), True, timestamp="soon"), 401),
    "timestamp of 5000 digits": (lambda s: post(s, json.dumps(ticket("help")).encode(), True, timestamp="9" * 5000),
                                 401),
    "unsigned, deeply nested": (lambda s: post(s, json.dumps(ticket("help"))[:-1].encode()
                                               + b', "x": ' + nested(100_000).encode() + b"}", False), 401),
    "signed, deeply nested": (lambda s: post(s, json.dumps(ticket("help"))[:-1].encode()
                                             + b', "x": ' + nested(100_000).encode() + b"}", True), 400),
    "signed, JSON that is not an object": (lambda s: post(s, b'[{"type": "event_callback"}]', True), 400),
    "signed, a form whose payload is not JSON": (lambda s: post(s, b"payload=%7Bnot-json", True,
                                                                content_type="application/x-www-form-urlencoded"),
                                                 400),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_slack_request_gets_a_4xx_and_changes_nothing(stack, case):
    server, slack = stack
    send, status = BAD_REQUESTS[case]
    response = send(server)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert api(server, "GET", "/api/v1/pages/1").status_code == 404  # no page was opened
    assert page_cards(slack) == []


def test_the_same_ticket_signed_properly_opens_a_page(stack):
    """The control: the refusals above are the checks' doing, not a broken route."""
    server, slack = stack
    response = post(server, json.dumps(ticket("Customer on hold: refund stuck")).encode(), True)
    assert response.status_code == 200, response.text
    slack.wait_for(lambda r: r.path.endswith("chat.postMessage") and "Page #1" in (r.json or {}).get("text", ""),
                   timeout=10)
