"""The webhooks as a fuzzer sees them: each route with how its provider signs a request and what a well-formed
body looks like, and hypothesis strategies for everything else (unsigned, badly signed, stale, truncated, the
wrong content type, huge, deeply nested, unknown ids). A new webhook is one more `Webhook` in `WEBHOOKS`.

`WebhookBot` is the app `serve` builds with Slack and Twilio both on, against the loopback fakes."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from oncallbot.bootstrap import build_slack_app, build_twilio_verifier
from oncallbot.entrypoints.http import MAX_BODY_BYTES, SLACK_MAX_BODY_BYTES, create_app

from ..fakes.twilio import DEFAULT_AUTH_TOKEN
from .phone_line import CUSTOMER, LINE
from .slack import TrackedExecutor
from .twilio import AISHA, AISHA_SLACK, OUR_NUMBER, PUBLIC_URL, STRANGER, SUPPORT_CHANNEL, Bot

SLACK_SECRET = "test-signing-secret"  # what tests/harness/twilio.build_bot configures
FORM = "application/x-www-form-urlencoded"
WRONG_CONTENT_TYPES = ["application/json", "text/plain", "multipart/form-data; boundary=x", "application/xml", "",
                       "application/x-www-form-urlencoded; charset=latin-1", "text/html; charset=utf-7"]


class WebhookBot:
    """The bot with both webhooks' routers: Slack (bolt, its listeners waited for) and Twilio."""

    def __init__(self, bot: Bot):
        self.bot, self.container = bot, bot.container
        self.slack_app = build_slack_app(bot.container)
        self.listeners = TrackedExecutor()
        self.slack_app.listener_runner.listener_executor = self.listeners
        self.client = TestClient(create_app(bot.container, slack_app=self.slack_app,
                                            twilio_verifier=build_twilio_verifier(bot.container)),
                                 raise_server_exceptions=False)  # a server error is a 500 the fuzzer sees

    def post(self, path: str, body: bytes, headers: dict[str, str]):
        response = self.client.post(path, content=body, headers=headers)
        self.listeners.drain()
        return response

    def close(self) -> None:
        self.client.close()
        self.listeners.shutdown(wait=True)


# -- signing, as each provider does -----------------------------------------------------------------

def slack_headers(path: str, body: bytes, signing: str) -> dict[str, str]:
    """signed | unsigned | wrong (another secret) | stale (a timestamp older than Slack's 5 minutes) |
    garbled (a timestamp that is not a number)"""
    if signing == "unsigned":
        return {}
    timestamp = str(int(time.time()) - (600 if signing == "stale" else 0))
    if signing == "garbled":
        timestamp = "12ab"
    secret = "not-the-secret" if signing == "wrong" else SLACK_SECRET
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp,
                                                             body=body.decode("utf-8", "replace"))
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def twilio_headers(path: str, body: bytes, signing: str) -> dict[str, str]:
    """Twilio signs the URL it called and the form's fields; it has no timestamp (a replay is a duplicate sid)."""
    if signing == "unsigned":
        return {}
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    token = "not-the-token" if signing == "wrong" else DEFAULT_AUTH_TOKEN
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC_URL + path, form)}


# -- well-formed bodies, with the values a fuzzer varies ----------------------------------------------

texts = st.text(max_size=80)
ids = st.one_of(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=34), texts)
page_ids = st.one_of(st.integers(-5, 5), st.integers(2**31 - 2, 2**63), st.integers(1, 50).map(str), texts)
numbers = st.sampled_from([AISHA, STRANGER, OUR_NUMBER, "", "+1", "not a number"])
slack_users = st.sampled_from([AISHA_SLACK, "U0STRANGER", "", "UBOT"])


@st.composite
def slack_event(draw) -> tuple[str, bytes]:
    event = draw(st.fixed_dictionaries({
        "type": st.sampled_from(["message", "app_mention", "app_home_opened", "reaction_added", "x"]),
        "channel": st.sampled_from([SUPPORT_CHANNEL, "C0RANDOM00", "D0DIRECT00"]),
        "user": slack_users, "text": texts,
        "ts": st.builds(lambda n: f"{1_700_000_000 + n}.000100", st.integers(0, 10**6)),
    }, optional={"thread_ts": st.sampled_from(["1700000000.000100", "1.2"]), "subtype": texts,
                 "bot_id": texts, "files": st.just([{"id": "F1"}])}))
    for key in draw(st.sets(st.sampled_from(["type", "channel", "user", "text", "ts"]), max_size=2)):
        del event[key]
    body = {"token": "legacy", "team_id": "T1", "api_app_id": "A0ONCALL", "type": "event_callback",
            "event_id": draw(st.uuids().map(lambda u: f"Ev{u.hex[:10]}") | ids),
            "event_time": 1_700_000_000, "event": event,
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}]}
    return "application/json", json.dumps(body).encode()


@st.composite
def slack_interaction(draw) -> tuple[str, bytes]:
    action_id = draw(st.sampled_from(["page.on_it", "page.done", "page.not_a_ticket", "page.escalate",
                                      "test_page.confirm", "swap.approve", "swap.accept", "nothing.here"]))
    payload = {"type": draw(st.sampled_from(["block_actions", "view_submission", "shortcut", "x"])),
               "user": {"id": draw(slack_users), "team_id": "T1"}, "team": {"id": "T1"}, "api_app_id": "A0ONCALL",
               "trigger_id": "1.1.trigger", "channel": {"id": SUPPORT_CHANNEL},
               "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": SUPPORT_CHANNEL},
               "actions": [{"type": "button", "action_id": action_id, "block_id": f"page-{draw(page_ids)}",
                            "value": str(draw(page_ids)), "action_ts": "1700000000.1"}],
               "view": {"callback_id": draw(st.sampled_from(["page.escalate", "swap.request", "x"])),
                        "private_metadata": str(draw(page_ids)), "state": {"values": {}}}}
    # Fields left out, at the top and one level down: a signed payload Slack would never send.
    for key in draw(st.sets(st.sampled_from(sorted(payload)), max_size=3)):
        del payload[key]
    for part in ("view", "user", "container"):
        if isinstance(payload.get(part), dict) and draw(st.booleans()):
            payload[part] = draw(st.sampled_from([{}, "x", None, [], 1]))
    return FORM, urlencode({"payload": json.dumps(payload)}).encode()


@st.composite
def slack_command(draw) -> tuple[str, bytes]:
    form = {"command": "/oncall", "text": draw(st.sampled_from(["", "who", "swap @x next", "pages"]) | texts),
            "user_id": draw(slack_users), "channel_id": SUPPORT_CHANNEL, "team_id": "T1",
            "trigger_id": "1.1.trigger", "response_url": "http://127.0.0.1:9/response"}
    return FORM, urlencode(form).encode()


def twilio_form(fields: dict) -> Callable:
    @st.composite
    def build(draw) -> tuple[str, bytes]:
        form = {name: draw(value) for name, value in fields.items()}
        form["AccountSid"] = "AC" + "0" * 32
        return FORM, urlencode(form).encode()
    return build


sids = st.one_of(st.uuids().map(lambda u: "SM" + u.hex), st.uuids().map(lambda u: "CA" + u.hex), ids)
sms_form = twilio_form({"MessageSid": sids, "From": numbers, "To": st.just(OUR_NUMBER),
                        "Body": st.sampled_from(["1", "2", "On it", "STOP", "START", "HELP", ""]) | texts})
status_form = twilio_form({"MessageSid": sids, "MessageStatus": st.sampled_from(
    ["queued", "sent", "delivered", "undelivered", "failed", "read"]) | texts,
    "ErrorCode": st.sampled_from(["", "21610", "30003", "30005"]) | texts, "To": numbers})
voice_form = twilio_form({"CallSid": sids, "To": numbers, "Called": numbers, "Digits": st.sampled_from(
    ["1", "2", "9", "", "#"]) | texts, "CallStatus": st.sampled_from(["in-progress", "completed"])})
amd_form = twilio_form({"CallSid": sids, "AnsweredBy": st.sampled_from(
    ["human", "machine_start", "machine_end_beep", "fax", "unknown", ""]) | texts,
    "MachineDetectionDuration": st.integers(0, 10**6).map(str)})

# The office line (issue 12): Twilio's incoming call and the callbacks of the TwiML we answered with.
call_sids = st.one_of(st.uuids().map(lambda u: "CA" + u.hex), ids)
line_numbers = st.sampled_from([LINE, CUSTOMER, OUR_NUMBER, AISHA, "", "anonymous", "+1", "not a number"])
call_statuses = st.sampled_from(["ringing", "in-progress", "completed", "busy", "no-answer", "canceled",
                                 "failed"]) | texts
incoming_form = twilio_form({"CallSid": call_sids, "To": line_numbers, "From": line_numbers,
                             "CallStatus": call_statuses, "Direction": st.sampled_from(["inbound", "x"])})
screen_form = twilio_form({"CallSid": call_sids, "To": line_numbers, "AnsweredBy": st.sampled_from(
    ["human", "machine_start", "unknown", ""]) | texts, "Digits": st.sampled_from(["1", "2", "", "#"]) | texts,
    "CallStatus": call_statuses})
dialed_form = twilio_form({"CallSid": call_sids, "CallStatus": call_statuses, "DialCallStatus": call_statuses,
                           "DialCallDuration": st.integers(-5, 10**9).map(str) | texts})
recorded_form = twilio_form({"CallSid": call_sids, "RecordingSid": st.uuids().map(lambda u: "RE" + u.hex) | ids,
                             "RecordingDuration": st.integers(-5, 10**9).map(str) | texts,
                             "RecordingStatus": st.sampled_from(["completed", "absent", "failed"]) | texts,
                             "RecordingUrl": st.just("https://api.twilio.com/x") | texts})
transcription_form = twilio_form({"CallSid": call_sids, "TranscriptionStatus": st.sampled_from(
    ["completed", "failed"]) | texts, "TranscriptionText": texts | st.text(min_size=5000, max_size=6000)})
screen_queries = st.builds(lambda call, attempt: f"?{urlencode({'call': call, 'attempt': attempt})}",
                           call_sids, st.integers(-3, 10**12).map(str) | texts) | st.just("")


@dataclass(frozen=True)
class Webhook:
    path: str
    sign: Callable[[str, bytes, str], dict[str, str]]  # (path with query, body, signing) -> headers
    bodies: st.SearchStrategy[tuple[str, bytes]]  # (content type, body) as the provider sends it
    limit: int  # the body size refused with 413
    signings: tuple[str, ...] = ("signed", "unsigned", "wrong")
    queries: st.SearchStrategy[str] = st.just("")  # the query string of the URL we gave the provider


SLACK_SIGNINGS = ("signed", "unsigned", "wrong", "stale", "garbled")
WEBHOOKS = [
    Webhook("/slack/events", slack_headers, st.one_of(slack_event(), slack_interaction(), slack_command()),
            SLACK_MAX_BODY_BYTES, SLACK_SIGNINGS),
    Webhook("/twilio/sms", twilio_headers, sms_form(), MAX_BODY_BYTES),
    Webhook("/twilio/status", twilio_headers, status_form(), MAX_BODY_BYTES),
    Webhook("/twilio/amd", twilio_headers, amd_form(), MAX_BODY_BYTES),
    Webhook("/twilio/voice", twilio_headers, voice_form(), MAX_BODY_BYTES,
            queries=page_ids.map(lambda page: f"?{urlencode({'page': page})}") | st.just("")),
    Webhook("/twilio/incoming", twilio_headers, incoming_form(), MAX_BODY_BYTES),
    Webhook("/twilio/incoming/screen", twilio_headers, screen_form(), MAX_BODY_BYTES, queries=screen_queries),
    Webhook("/twilio/incoming/screened", twilio_headers, screen_form(), MAX_BODY_BYTES, queries=screen_queries),
    Webhook("/twilio/incoming/dialed", twilio_headers, dialed_form(), MAX_BODY_BYTES),
    Webhook("/twilio/incoming/recorded", twilio_headers, recorded_form(), MAX_BODY_BYTES),
    Webhook("/twilio/incoming/recording", twilio_headers, recorded_form(), MAX_BODY_BYTES),
    Webhook("/twilio/incoming/transcription", twilio_headers, transcription_form(), MAX_BODY_BYTES),
]


@dataclass(frozen=True)
class Attempt:
    webhook: Webhook
    url: str  # the path and query string
    signing: str
    content_type: str
    body: bytes
    mangled: str  # how the well-formed body was changed: none, truncated, bytes, huge, nested

    def __repr__(self) -> str:  # a failure names the request without a megabyte of body
        body = self.body if len(self.body) <= 300 else self.body[:300] + f"... ({len(self.body)} bytes)".encode()
        return (f"Attempt({self.url!r}, {self.signing}, {self.content_type!r}, {self.mangled}, "
                f"body={body!r})")


def _mangle(draw, webhook: Webhook, body: bytes) -> tuple[str, bytes]:
    how = draw(st.sampled_from(["none", "none", "none", "truncated", "bytes", "huge", "nested", "nested_form"]))
    if how == "none":
        return how, body
    if how == "truncated":
        return how, body[:draw(st.integers(0, max(len(body) - 1, 0)))]
    if how == "bytes":
        return how, draw(st.binary(max_size=300))
    if how == "huge":  # just under, just over, and far over the route's limit
        size = draw(st.sampled_from([webhook.limit - 1, webhook.limit + 1, 4 * webhook.limit]))
        return how, (body + b"&x=" + b"y" * size)[:size]
    depth = draw(st.sampled_from([100, 2_000, 50_000]))
    nested = b"[" * depth + b"]" * depth
    if how == "nested":
        return how, nested
    return how, urlencode({"payload": nested.decode()}).encode() if webhook.path.startswith("/slack") \
        else body + b"&Body=" + nested


@st.composite
def attempts(draw, webhooks: list[Webhook] = WEBHOOKS) -> Attempt:
    webhook = draw(st.sampled_from(webhooks))
    content_type, body = draw(webhook.bodies)
    mangled, body = _mangle(draw, webhook, body)
    if draw(st.integers(0, 4)) == 0:
        content_type = draw(st.sampled_from(WRONG_CONTENT_TYPES))
    return Attempt(webhook, webhook.path + draw(webhook.queries), draw(st.sampled_from(webhook.signings)),
                   content_type, body, mangled)
