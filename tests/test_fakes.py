"""The loopback fakes, driven by the real slack_sdk, twilio and googleapiclient clients."""

from __future__ import annotations

import re
import threading
import time
import types

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, builtin_handlers
from slack_sdk.webhook import WebhookClient
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.fakes import FakeGoogleCalendar, FakeTwilio
from tests.fakes.slack import SOCKET_MODE_URL

ALICE = "+15551230001"
OUR_NUMBER = "+15550000000"
CALENDAR = "team@group.calendar.google.com"  # has an "@", which the client percent-encodes


class LoopbackTwilioHttpClient(TwilioHttpClient):
    """Sends what the SDK addresses to https://*.twilio.com to the fake (keeps path and query)."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        return super().request(method, re.sub(r"^https://[^/]+\.twilio\.com", self.base_url, url), *args, **kwargs)


def twilio_client(fake: FakeTwilio, **http_kwargs) -> Client:
    return Client(fake.account_sid, fake.auth_token, http_client=LoopbackTwilioHttpClient(fake.url, **http_kwargs))


def calendar_service(fake: FakeGoogleCalendar, credentials=None):
    return build(
        "calendar",
        "v3",
        credentials=credentials or AnonymousCredentials(),
        client_options={"api_endpoint": f"{fake.url}/calendar/v3/"},
        cache_discovery=False,
        static_discovery=True,
    )


def week_event(event_id: str, person: str, start: str, end: str) -> dict:
    return {
        "id": event_id,
        "summary": f"On call: {person}",
        "start": {"dateTime": start, "timeZone": "Europe/Berlin"},
        "end": {"dateTime": end, "timeZone": "Europe/Berlin"},
        "attendees": [{"email": f"{person}@example.com"}],
    }


@pytest.fixture
def slack(fake):
    """Here `slack` is the fake itself, not the bot's Slack side."""
    return fake


@pytest.fixture
def rotation(gcal):
    """Three on-call weeks, seeded out of order."""
    gcal.put_event(CALENDAR, week_event("w2", "bob", "2024-03-11T18:01:00+01:00", "2024-03-18T07:00:00+01:00"))
    gcal.put_event(CALENDAR, week_event("w1", "alice", "2024-03-04T18:01:00+01:00", "2024-03-11T07:00:00+01:00"))
    gcal.put_event(CALENDAR, week_event("w3", "carol", "2024-03-18T18:01:00+01:00", "2024-03-25T07:00:00+01:00"))
    return gcal


def full_sync(events, **params) -> tuple[list[dict], str]:
    items, pages, request = [], [], events.list(calendarId=CALENDAR, singleEvents=True, **params)
    while request is not None:
        page = request.execute()
        pages.append(page)
        items += page["items"]
        request = events.list_next(request, page)
    assert all("nextSyncToken" not in p for p in pages[:-1]) and all("nextPageToken" in p for p in pages[:-1])
    return items, pages[-1]["nextSyncToken"]


# -- base ------------------------------------------------------------------------------------


def test_wait_for_wakes_on_a_request_from_another_thread(slack):
    client = WebClient(token="xoxb-test", base_url=f"{slack.url}/api/")
    threading.Thread(target=client.chat_postMessage, kwargs={"channel": "C1", "text": "hi"}).start()

    started = time.monotonic()
    (request,) = slack.wait_for("/api/chat.postMessage", timeout=10)

    assert time.monotonic() - started < 5  # woken by the request, not by the timeout
    assert request.json["text"] == "hi"  # slack_sdk posts chat.postMessage as JSON
    assert slack.messages("C1")[0]["text"] == "hi"  # state is applied before wait_for sees it


def test_wait_for_reports_what_was_received(slack):
    WebClient(token="xoxb-test", base_url=f"{slack.url}/api/").auth_test()

    with pytest.raises(AssertionError, match=r"(?s)0/1 matching requests.*POST /api/auth.test -> 200"):
        slack.wait_for("/api/chat.postMessage", timeout=0.05)


def test_delay_injection_makes_a_short_client_timeout_fail(twilio):
    client = twilio_client(twilio, timeout=0.1)
    twilio.inject("/Messages.json", delay=30)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.messages.create(to=ALICE, from_=OUR_NUMBER, body="slow")
    client.messages.create(to=ALICE, from_=OUR_NUMBER, body="fast")  # the fault was used up

    assert [m["body"] for m in twilio.sms_to(ALICE)] == ["fast"]


def test_injected_faults_match_method_and_run_out(rotation):
    events = calendar_service(rotation).events()
    rotation.inject("/events/w1", 503, method="PATCH", times=2)

    events.get(calendarId=CALENDAR, eventId="w1").execute()  # a GET does not match
    for _ in range(2):
        with pytest.raises(HttpError):
            events.patch(calendarId=CALENDAR, eventId="w1", body={"summary": "x"}).execute()
    events.patch(calendarId=CALENDAR, eventId="w1", body={"summary": "x"}).execute()

    answered = rotation.wait_for("/events/w1", count=4)
    assert [(r.method, r.status) for r in answered] == [("GET", 200), ("PATCH", 503), ("PATCH", 503), ("PATCH", 200)]
    rotation.clear()
    assert rotation.requests == []


# -- Slack -----------------------------------------------------------------------------------


def test_slack_post_update_and_dm(slack):
    client = WebClient(token="xoxb-test", base_url=f"{slack.url}/api/")

    assert client.auth_test()["user_id"] == "UBOT"
    first = client.chat_postMessage(channel="C1", text="Page 1", blocks=[{"type": "divider"}])
    second = client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    client.chat_update(channel="C1", ts=first["ts"], text="Page 1 (acked)")
    dm = client.conversations_open(users="U123")["channel"]["id"]
    client.chat_postMessage(channel=dm, text="You are on call")
    client.chat_postMessage(channel="U123", text="Swap approved")  # a user id posts to the DM too
    client.views_publish(user_id="U123", view={"type": "home", "blocks": []})

    assert float(second["ts"]) > float(first["ts"])
    assert [(m["text"], m["thread_ts"]) for m in slack.messages("C1")] == [
        ("Page 1 (acked)", None),
        ("reply", first["ts"]),
    ]
    assert slack.messages("C1")[0]["blocks"] == [{"type": "divider"}]
    assert dm.startswith("D")
    assert [m["text"] for m in slack.dms_to("U123")] == ["You are on call", "Swap approved"]
    (publish,) = slack.requests_to("/api/views.publish")
    assert publish.json["view"]["type"] == "home"
    assert publish.headers["authorization"] == "Bearer xoxb-test"


def test_slack_rejects_missing_and_wrong_tokens(slack):
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=f"{slack.url}/api/").chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxp-user", base_url=f"{slack.url}/api/").chat_postMessage(channel="C1", text="x")

    assert missing.value.response["error"] == "not_authed"
    assert wrong.value.response["error"] == "invalid_auth"
    assert slack.messages() == []


def test_slack_429_is_retried_by_the_rate_limit_handler(slack, monkeypatch):
    slept = []
    # The handler sleeps Retry-After + random(); record that instead of waiting.
    monkeypatch.setattr(builtin_handlers, "time", types.SimpleNamespace(sleep=slept.append))
    plain = WebClient(token="xoxb-test", base_url=f"{slack.url}/api/")
    retrying = WebClient(
        token="xoxb-test", base_url=f"{slack.url}/api/", retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    slack.inject("/api/chat.postMessage", 429, retry_after=0, times=2)

    with pytest.raises(SlackApiError) as limited:
        plain.chat_postMessage(channel="C1", text="dropped")
    retrying.chat_postMessage(channel="C1", text="delivered")

    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert [r.status for r in slack.requests_to("/api/chat.postMessage")] == [429, 429, 200]
    assert len(slept) == 1 and 0 <= slept[0] < 1  # Retry-After: 0 plus the handler's jitter
    assert [m["text"] for m in slack.messages()] == ["delivered"]


def test_slack_other_methods(slack):
    slack.put_user({"id": "U1", "name": "alice", "tz": "Europe/Berlin"})
    client = WebClient(token="xoxb-test", base_url=f"{slack.url}/api/")

    seeded, generated = client.users_info(user="U1")["user"], client.users_info(user="U2")["user"]
    ephemeral = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    modal = client.views_open(trigger_id="t1", view={"type": "modal", "title": {"type": "plain_text", "text": "Swap"}})
    socket = WebClient(base_url=f"{slack.url}/api/").apps_connections_open(app_token="xapp-1")

    assert seeded["tz"] == "Europe/Berlin" and generated["profile"]["email"] == "u2@example.com"
    assert ephemeral["message_ts"] and slack.messages() == []  # ephemeral messages stay out of channels
    assert modal["view"]["type"] == "modal"
    assert socket["url"] == SOCKET_MODE_URL
    assert client.api_call("reactions.add", json={"channel": "C1", "name": "eyes", "timestamp": "1.0"})["ok"]


def test_slack_response_url_is_recorded(slack):
    WebhookClient(f"{slack.url}/response/T1/123/abc").send(text="Paged Alice", response_type="in_channel")

    (request,) = slack.requests_to("/response/T1/123/abc")
    assert request.json == {"text": "Paged Alice", "response_type": "in_channel"}


# -- Twilio ----------------------------------------------------------------------------------


def test_twilio_sms_and_call(twilio):
    client = twilio_client(twilio)

    callback = "https://bot.example/twilio/status"
    message = client.messages.create(
        to=ALICE, from_=OUR_NUMBER, body="Page: voicemail", status_callback=callback, validity_period=600
    )
    call = client.calls.create(
        to=ALICE,
        from_=OUR_NUMBER,
        twiml="<Response><Say>Page</Say></Response>",
        status_callback=callback,
        status_callback_event=["initiated", "answered", "completed"],
        timeout=25,
    )
    client.calls(call.sid).update(status="completed")

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid) and message.status == "queued"
    assert message.date_created is not None and message.to == ALICE
    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert client.messages(message.sid).fetch().body == "Page: voicemail"
    (sms,) = twilio.sms_to(ALICE)
    assert (sms["body"], sms["status_callback"], sms["validity_period"]) == ("Page: voicemail", callback, "600")
    (sent_call,) = twilio.calls_to(ALICE)
    assert sent_call["status_callback_event"] == ["initiated", "answered", "completed"]
    assert (sent_call["timeout"], sent_call["status"]) == ("25", "completed")


def test_twilio_errors_carry_twilio_codes(twilio):
    client = twilio_client(twilio)
    twilio.opt_out(ALICE)

    with pytest.raises(TwilioRestException) as opted_out:
        client.messages.create(to=ALICE, from_=OUR_NUMBER, body="x")
    with pytest.raises(TwilioRestException) as invalid:
        client.messages.create(to="555-1234", from_=OUR_NUMBER, body="x")
    with pytest.raises(TwilioRestException) as unauthorized:
        Client(twilio.account_sid, "wrong", http_client=LoopbackTwilioHttpClient(twilio.url)).messages.create(
            to=ALICE, from_=OUR_NUMBER, body="x"
        )

    assert (opted_out.value.status, opted_out.value.code) == (400, 21610)
    assert "unsubscribed recipient" in opted_out.value.msg
    assert (invalid.value.status, invalid.value.code) == (400, 21211)
    assert (unauthorized.value.status, unauthorized.value.code) == (401, 20003)
    client.calls.create(to=ALICE, from_=OUR_NUMBER, twiml="<Response/>")  # STOP covers messaging only
    assert twilio.sms_to(ALICE) == [] and len(twilio.calls_to(ALICE)) == 1


# -- Google Calendar -------------------------------------------------------------------------


def test_gcal_full_sync_pages_then_incremental_sync_sees_edits_and_cancellations(rotation):
    events = calendar_service(rotation).events()

    items, token = full_sync(events, maxResults=2)
    rotation.put_event(CALENDAR, week_event("w2", "dave", "2024-03-11T18:01:00+01:00", "2024-03-18T07:00:00+01:00"))
    rotation.cancel_event(CALENDAR, "w3")
    changes = events.list(calendarId=CALENDAR, singleEvents=True, syncToken=token).execute()
    unchanged = events.list(calendarId=CALENDAR, singleEvents=True, syncToken=changes["nextSyncToken"]).execute()

    assert sorted(e["id"] for e in items) == ["w1", "w2", "w3"]
    assert len(rotation.requests_to("/events")) == 4  # 2 pages + 2 incremental
    assert [(e["id"], e.get("summary")) for e in changes["items"]] == [("w2", "On call: dave"), ("w3", None)]
    assert changes["items"][1] == {"id": "w3", "status": "cancelled"}
    assert unchanged["items"] == []
    assert rotation.requests_to("/events")[0].path == "/calendar/v3/calendars/team%40group.calendar.google.com/events"


def test_gcal_changes_while_paging_reach_the_next_incremental_sync(rotation):
    events = calendar_service(rotation).events()
    request = events.list(calendarId=CALENDAR, singleEvents=True, maxResults=2)
    first = request.execute()

    rotation.cancel_event(CALENDAR, "w2")  # already listed: must not shift what page 2 holds
    second = events.list_next(request, first).execute()
    changes = events.list(calendarId=CALENDAR, singleEvents=True, syncToken=second["nextSyncToken"]).execute()

    assert [e["id"] for e in first["items"] + second["items"]] == ["w2", "w1", "w3"]
    assert changes["items"] == [{"id": "w2", "status": "cancelled"}]


def test_gcal_window_query_filters_on_end_and_start_and_orders(rotation):
    events = calendar_service(rotation).events()

    window = events.list(
        calendarId=CALENDAR, singleEvents=True, orderBy="startTime",
        timeMin="2024-03-11T07:00:00+01:00", timeMax="2024-03-18T18:01:00+01:00",  # both bounds exclusive
    ).execute()
    everything, _ = full_sync(events, orderBy="startTime")
    with pytest.raises(HttpError) as mixed:
        events.list(calendarId=CALENDAR, syncToken="sync-0-1", timeMin="2024-03-01T00:00:00Z").execute()

    assert [e["id"] for e in window["items"]] == ["w2"]
    assert [e["id"] for e in everything] == ["w1", "w2", "w3"]
    assert mixed.value.status_code == 400


def test_gcal_expired_sync_token_answers_410_full_sync_required(rotation):
    events = calendar_service(rotation).events()
    _, token = full_sync(events)

    rotation.expire_sync_tokens()
    with pytest.raises(HttpError) as gone:
        events.list(calendarId=CALENDAR, singleEvents=True, syncToken=token).execute()
    _, fresh = full_sync(events)

    assert gone.value.status_code == 410
    assert gone.value.error_details[0]["reason"] == "fullSyncRequired"
    assert events.list(calendarId=CALENDAR, singleEvents=True, syncToken=fresh).execute()["items"] == []


def test_gcal_patch_merges_and_honours_if_match(rotation):
    events = calendar_service(rotation).events()
    before = events.get(calendarId=CALENDAR, eventId="w1").execute()

    patch = {"attendees": [{"email": "bob@example.com"}], "start": {"timeZone": "UTC"}}
    after = events.patch(calendarId=CALENDAR, eventId="w1", body=patch).execute()
    stale = events.patch(calendarId=CALENDAR, eventId="w1", body={"summary": "lost update"})
    stale.headers["If-Match"] = before["etag"]
    with pytest.raises(HttpError) as precondition:
        stale.execute()
    with pytest.raises(HttpError) as missing:
        events.patch(calendarId=CALENDAR, eventId="nope", body={}).execute()

    assert after["attendees"] == [{"email": "bob@example.com"}]
    assert after["start"] == {"dateTime": "2024-03-04T18:01:00+01:00", "timeZone": "UTC"}
    assert after["summary"] == before["summary"] and after["etag"] != before["etag"]
    assert precondition.value.status_code == 412
    assert missing.value.status_code == 404
    stored = {e["id"]: e for e in rotation.events(CALENDAR)}
    assert stored["w1"]["attendees"] == [{"email": "bob@example.com"}]


def test_gcal_403_rate_limit_is_retried_by_googleapiclient(rotation):
    rotation.inject("/events", 403)
    request = calendar_service(rotation).events().list(calendarId=CALENDAR, singleEvents=True)
    slept = []
    request._sleep = slept.append  # private, but the only hook to skip the real backoff sleep

    items = request.execute(num_retries=1)["items"]

    assert len(items) == 3 and len(slept) == 1
    assert [r.status for r in rotation.requests_to("/events")] == [403, 200]


def test_gcal_service_account_token_exchange(gcal):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    credentials = service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": "oncall-bot@p.iam.gserviceaccount.com",
            "private_key": pem.decode(),
            "private_key_id": "k1",
            "token_uri": f"{gcal.url}/token",
        },
        scopes=["https://www.googleapis.com/auth/calendar.events"],
    ).with_subject("oncall-admin@example.com")
    gcal.add_calendar(CALENDAR)

    calendar_service(gcal, credentials).events().list(calendarId=CALENDAR).execute()

    (claims,) = gcal.assertions()
    assert claims["sub"] == "oncall-admin@example.com"
    assert claims["iss"] == "oncall-bot@p.iam.gserviceaccount.com"
    assert gcal.requests_to("/events")[0].headers["Authorization"] == "Bearer ya29.fake"
