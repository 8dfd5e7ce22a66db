"""POST /api/v1/pages and GET /api/v1/pages/{id}: the intake API, its page contract, and the page's clock
driving real SMS and calls through the twilio client against the loopback FakeTwilio."""

import json
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from oncallbot.entrypoints.http import MAX_BODY_BYTES
from tests.harness.api import (
    AISHA,
    API_TOKEN,
    AUTH,
    DANA,
    MLK_MORNING,
    OFFICE_HOURS,
    OMAR,
    OUR_NUMBER,
    PUBLIC_URL,
    VOICEMAIL,
)
from tests.harness.config import LITERAL_HOLIDAYS

LA = ZoneInfo("America/Los_Angeles")
CONTRACT = {"id", "summary", "source", "external_id", "state", "responsible", "created_at", "deadline", "on_it_by",
            "on_it_at", "done_at", "escalation_steps", "timeline", "channels"}


def kinds(page_body):
    return [(e["event"], e["who"], e["channel"]) for e in page_body["timeline"]]


# -- creating pages: who is responsible ---------------------------------------------------------


def test_night_page_is_created_with_the_full_contract_and_belongs_to_the_on_call_person(make_api, database_url):
    api = make_api(database_url)
    response = api.post({**VOICEMAIL, "external_id": "vm-1001", "details": "Caller: ACME, callback requested"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == CONTRACT
    assert isinstance(body["id"], int)
    assert body["summary"] == "Voicemail from ACME: server down"
    assert body["source"] == "api" and body["external_id"] == "vm-1001"
    assert body["state"] == "open" and body["responsible"] == "aisha"
    assert body["created_at"] == "2026-11-23T22:00:00-08:00"
    assert body["deadline"] == "2026-11-23T22:15:00-08:00"
    assert body["on_it_by"] is None and body["on_it_at"] is None and body["done_at"] is None
    first, second, third = body["escalation_steps"][:3]
    assert first == {"step": 1, "at": "2026-11-23T22:15:00-08:00", "notify": "oncall", "people": ["aisha"],
                     "channels": ["sms", "voice"], "status": "due"}
    assert (second["at"], second["people"], second["channels"]) == (
        "2026-11-23T22:30:00-08:00", ["omar"], ["sms", "voice", "slack"])
    assert (third["notify"], third["people"]) == ("senior_managers", ["rachel"])
    assert all({"at", "people", "channels"} <= set(step) for step in body["escalation_steps"])
    assert kinds(body) == [("opened", "aisha", "api")]
    assert body["timeline"][0]["at"] == "2026-11-23T22:00:00-08:00"
    assert api.twilio_sends() == []  # inside the 15-minute window nobody is phoned

    shown = api.get(body["id"])
    assert shown.status_code == 200 and shown.json() == body


def test_page_in_business_hours_is_the_offices(make_api, sqlite_url):
    api = make_api(sqlite_url, OFFICE_HOURS)
    body = api.post(VOICEMAIL).json()
    assert body["responsible"] == "office" and body["state"] == "open"
    assert body["escalation_steps"][0]["notify"] == "office"
    assert body["escalation_steps"][0]["channels"] == ["slack"]
    assert api.twilio_sends() == []


def test_page_in_the_mlk_day_gap_texts_the_approvers_at_once(make_api, database_url):
    api = make_api(database_url, MLK_MORNING, **LITERAL_HOLIDAYS)
    response = api.post({**VOICEMAIL, "external_id": "vm-mlk"})

    assert response.status_code == 201
    body = response.json()
    assert body["responsible"] == "nobody"
    assert body["escalation_steps"][0]["people"] == ["dana", "omar"]
    assert body["escalation_steps"][0]["status"] == "ran"
    for number in (DANA, OMAR):
        [sms] = api.twilio.sms_to(number)
        assert sms["from"] == OUR_NUMBER
        assert sms["body"].startswith(f"[oncallbot] Page #{body['id']}: Voicemail from ACME: server down")
        assert sms["status_callback"] == f"{PUBLIC_URL}/twilio/status"
    assert ("notified", "dana", "sms") in kinds(body) and ("notified", "omar", "sms") in kinds(body)
    sent = len(api.twilio_sends())

    again = api.post({**VOICEMAIL, "external_id": "vm-mlk"})
    assert again.status_code == 200
    assert again.json() == body
    assert len(api.twilio_sends()) == sent  # nobody is texted twice for one voicemail
    assert api.page_count() == 1


def test_same_external_id_at_night_returns_the_same_page(make_api, database_url):
    api = make_api(database_url)
    first = api.post({**VOICEMAIL, "external_id": "ticket-77"})
    second = api.post({"summary": "a retry with other words", "source": "api", "external_id": "ticket-77"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["summary"] == "Voicemail from ACME: server down"
    assert api.page_count() == 1
    other = api.post({**VOICEMAIL, "external_id": "ticket-78"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


# -- reading pages --------------------------------------------------------------------------------


def test_get_unknown_page_is_a_404_with_a_message(make_api, sqlite_url):
    api = make_api(sqlite_url)
    for unknown in ("4242", "abc", "-1", "99999999999999999999999"):
        response = api.get(unknown)
        assert response.status_code == 404, unknown
        assert response.json() == {"error": f"no page {unknown}"}


# -- authorization ----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"},
                                     {"Authorization": f"Basic {API_TOKEN}"},
                                     {"Authorization": f"Bearer {API_TOKEN}x"}],
                         ids=["none", "wrong", "not-bearer", "longer"])
def test_without_the_right_token_nothing_is_created(make_api, sqlite_url, headers):
    api = make_api(sqlite_url, MLK_MORNING)
    response = api.post(VOICEMAIL, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong bearer token"}
    assert api.page_count() == 0 and api.twilio_sends() == []

    page_id = api.post(VOICEMAIL).json()["id"]
    refused = api.get(page_id, headers=headers)
    assert refused.status_code == 401 and "bearer token" in refused.json()["error"]


def test_api_without_a_token_configured_is_disabled(make_api, sqlite_url):
    api = make_api(sqlite_url, MLK_MORNING, api_token=None)
    for response in (api.post(VOICEMAIL), api.post(VOICEMAIL, headers={"Authorization": "Bearer "}), api.get(1)):
        assert response.status_code == 503
        assert "ONCALLBOT_API_TOKEN" in response.json()["error"]
    assert api.page_count() == 0 and api.twilio_sends() == []


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content, status, problem", [
    (b'{"summary": "Voicemail", "source": "api"', 400, "body is not JSON"),
    (b"", 400, "body"),
    (b'{"summary": "caf\xe9", "source": "api"}', 400, "body is not JSON"),  # Latin-1, not UTF-8
    (b'["Voicemail"]', 400, "body"),
    (json.dumps({"source": "api"}).encode(), 400, "summary: Field required"),
    (json.dumps({"summary": "", "source": "api"}).encode(), 400, "summary"),
    (json.dumps({"summary": "   ", "source": "api"}).encode(), 400, "summary is empty"),
    (json.dumps({"summary": "x" * 501, "source": "api"}).encode(), 400, "summary"),
    (json.dumps({"summary": "Voicemail"}).encode(), 400, "source: Field required"),
    (json.dumps({**VOICEMAIL, "priority": "high"}).encode(), 400, "priority: Extra inputs are not permitted"),
    (json.dumps({**VOICEMAIL, "details": "x" * (MAX_BODY_BYTES + 1)}).encode(), 413, f"{MAX_BODY_BYTES} bytes"),
], ids=["truncated", "empty", "not-utf8", "not-an-object", "no-summary", "empty-summary", "blank-summary",
        "long-summary", "no-source", "unknown-field", "oversized"])
def test_bad_requests_name_the_problem_and_create_nothing(make_api, sqlite_url, content, status, problem):
    api = make_api(sqlite_url, MLK_MORNING)  # a page now would text the approvers at once
    response = api.post(content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == status
    assert problem in response.json()["error"]
    assert api.page_count() == 0 and api.twilio_sends() == []


# -- the clock runs out ---------------------------------------------------------------------------------


def test_unanswered_page_texts_and_calls_the_on_call_person_with_a_keypress_prompt(make_api, database_url):
    api = make_api(database_url)
    page_id = api.post(VOICEMAIL).json()["id"]

    assert api.tick(14.9) == 0
    assert api.twilio_sends() == []
    assert api.tick(1.1) == 1  # 22:16, the window closed at 22:15

    [sms] = api.twilio.sms_to(AISHA)
    assert sms["from"] == OUR_NUMBER
    assert sms["body"] == (f"[oncallbot] Page #{page_id}: Voicemail from ACME: server down -- "
                           "reply 1 for On It!, DONE when resolved.")
    assert sms["status_callback"] == f"{PUBLIC_URL}/twilio/status"
    [call] = api.twilio.calls_to(AISHA)
    assert call["from"] == OUR_NUMBER and call["status_callback"] == f"{PUBLIC_URL}/twilio/status"
    twiml = ET.fromstring(call["twiml"])
    assert twiml.tag == "Response"
    [gather] = twiml.findall("Gather")
    assert gather.get("numDigits") == "1" and gather.get("input") == "dtmf" and gather.get("method") == "POST"
    assert gather.get("action") == f"{PUBLIC_URL}/twilio/voice?page={page_id}"
    assert f"On-call page number {page_id}. Voicemail from ACME: server down" in [s.text for s in gather.iter("Say")]
    assert api.twilio.sms_to(OMAR) == [] and api.twilio.calls_to(OMAR) == []

    body = api.get(page_id).json()
    assert body["state"] == "open"
    assert body["escalation_steps"][0]["status"] == "ran" and body["escalation_steps"][1]["status"] == "due"
    assert ("notified", "aisha", "sms") in kinds(body) and ("notified", "aisha", "voice") in kinds(body)
    assert ("step", None, None) in kinds(body)

    api.tick(15)  # 22:31: nobody said On It!, the direct manager is next
    assert len(api.twilio.sms_to(OMAR)) == 1 and len(api.twilio.calls_to(OMAR)) == 1
    assert len(api.twilio.sms_to(AISHA)) == 1  # the on-call step ran once
