"""Slack as our app sees it: requests signed exactly as Slack signs them, POSTed to /slack/events of our real
Starlette app; the bolt app built by `serve` answers through the real slack_sdk WebClient and the loopback
FakeSlack.

Bolt answers Slack when the listener has committed (process_before_response=True, as in production); what the
listener says back to the user through the Web API runs afterwards on bolt's listener pool. Each request waits
for what it started there to finish (a bounded wait on their futures, never a sleep), so what a user would see
next is in the fake and the database when the test looks (`wait=False`: the moment the answer arrives).
"""

import json
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from starlette.testclient import TestClient

from oncallbot import bootstrap
from oncallbot.entrypoints.http import create_app
from oncallbot.entrypoints.serve import build_slack_app
from oncallbot.services import paging
from oncallbot.services.rotation import sync_rotation
from tests.fakes import FakeSlack

from .clock import FakeClock
from .config import example_settings

SECRET = "test-secret"
API_TOKEN = "test-api-token"
SUPPORT, OTHER_CHANNEL = "C01SUPPORT", "C0RANDOM00"
AISHA, TOM, OMAR = "U01AISHA00", "U01TOM0000", "U01OMAR000"  # on the example team
FRONT_DESK, STRANGER = "U0FRONTDSK", "U0STRANGER"  # not on it
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # Mon 2026-11-23 22:00 PST: Aisha Khan is on call
REFUSAL = "Sorry, this bot serves the Customer Support on-call team and you are not on it."


class TrackedExecutor(ThreadPoolExecutor):
    """Bolt's listener pool, remembering what it started so a test can wait until all of it has finished."""

    def __init__(self):
        super().__init__(max_workers=5, thread_name_prefix="bolt-listener")
        self._futures = []
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
        return future

    def drain(self, timeout: float = 10.0) -> None:
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return
            _, not_done = wait(pending, timeout=timeout)
            if not_done:
                raise AssertionError(f"{len(not_done)} Slack listeners still running after {timeout}s")


def body_args(request) -> dict:
    """A Web API call's arguments, whether slack_sdk sent them as JSON or as a form."""
    if isinstance(request.json, dict):
        return request.json
    args = dict(request.form)
    for name in ("blocks", "view"):
        if isinstance(args.get(name), str):
            args[name] = json.loads(args[name])
    return args


def button_ids(blocks) -> list[str]:
    return [e["action_id"] for b in blocks or [] if b["type"] == "actions" for e in b["elements"]]


def block_texts(blocks) -> str:
    texts = []
    for block in blocks or []:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(texts)


class SlackHarness:
    """The container `serve` builds (Slack on, Twilio off), its bolt app and HTTP app, and a Slack that signs."""

    def __init__(self, database_url: str, fake: FakeSlack, settings=None):
        self.fake = fake
        self.clock = FakeClock(NOW)
        env = bootstrap.Environment(database_url=database_url, slack_bot_token="xoxb-test",
                                    slack_signing_secret=SECRET, slack_api_url=fake.url, api_token=API_TOKEN)
        self.container = bootstrap.build(settings or example_settings(), env, clock=self.clock)
        self.store = self.container.store
        self.store.upgrade()
        sync_rotation(self.store, self.container.rotation_source, self.container.procedure, self.clock.now())
        self.bolt = build_slack_app(self.container)
        self.listeners = TrackedExecutor()
        self.bolt.listener_runner.listener_executor = self.listeners
        self.errors: list[str] = []
        self.bolt.error(lambda error: self.errors.append("".join(traceback.format_exception(error))))
        self.http = TestClient(create_app(self.container, slack_app=self.bolt))
        self._counter = 0
        self.trigger_id = None

    def close(self) -> None:
        self.http.close()
        self.listeners.shutdown(wait=True)
        self.store.dispose()

    def next_id(self) -> int:
        self._counter += 1
        return self._counter

    # -- what Slack sends -----------------------------------------------------------------------

    def post(self, body: str, content_type: str, timestamp: int | None = None, secret: str = SECRET,
             signed_body: str | None = None, headers: dict | None = None, wait: bool = True,
             failing: bool = False):
        """`wait=False`: return when the answer arrives, before what the listener left for later has run (then
        `self.listeners.drain()`). `failing`: the listener is expected to fail (its error is taken, not raised)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret).generate_signature(
            timestamp=ts, body=body if signed_body is None else signed_body)
        response = self.http.post("/slack/events", content=body.encode(), headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            **(headers or {})})
        if not wait:
            return response
        self.listeners.drain()
        if failing:
            assert self.errors, "the Slack listener was expected to fail"
            self.errors.clear()
        assert not self.errors, "a Slack listener failed:\n" + "\n".join(self.errors)
        return response

    def event_body(self, event: dict, event_id: str | None = None) -> str:
        return json.dumps({
            "token": "legacy-verification-token", "team_id": "T1", "api_app_id": "A0ONCALL", "type": "event_callback",
            "event_id": event_id or f"Ev{self.next_id():08d}", "event_time": int(NOW.timestamp()), "event": event,
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        })

    def event(self, event: dict, event_id: str | None = None, retry: int | None = None, **post):
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.post(self.event_body(event, event_id), "application/json", headers=headers, **post)

    def message(self, text: str | None, user: str | None = FRONT_DESK, channel: str = SUPPORT,
                thread_ts: str | None = None, **fields) -> dict:
        """A message event as Slack delivers it; returns the event (its `ts` identifies the message)."""
        ts = f"{int(NOW.timestamp())}.{self.next_id():06d}"
        event = {"type": "message", "channel": channel, "channel_type": "channel", "text": text, "ts": ts,
                 "event_ts": ts, **({"user": user} if user else {}), **fields}
        if thread_ts:
            event["thread_ts"] = thread_ts
        if text is None:
            del event["text"]
        return event

    def say(self, text: str | None, **kw) -> dict:
        event = self.message(text, **kw)
        assert self.event(event).status_code == 200
        return event

    def command(self, text: str = "", user: str = TOM):
        form = {"token": "legacy-verification-token", "team_id": "T1", "team_domain": "fake", "channel_id": SUPPORT,
                "channel_name": "support", "user_id": user, "user_name": user.lower(), "command": "/oncall",
                "text": text, "api_app_id": "A0ONCALL", "response_url": f"{self.fake.url}/response/commands",
                "trigger_id": f"{self.next_id()}.1.trigger"}
        return self.post(urlencode(form), "application/x-www-form-urlencoded")

    def interact(self, payload: dict, **post):
        payload = {"token": "legacy-verification-token", "api_app_id": "A0ONCALL",
                   "team": {"id": "T1", "domain": "fake"}, **payload}
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **post)

    def click(self, action_id: str, page_id: int, user: str, **post):
        card = self.card(page_id)
        self.trigger_id = f"{self.next_id()}.1.trigger"  # what Slack needs back to open a modal
        return self.interact({
            "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T1"},
            "trigger_id": self.trigger_id, "response_url": f"{self.fake.url}/response/x",
            "container": {"type": "message", "message_ts": card["ts"], "channel_id": SUPPORT, "is_ephemeral": False},
            "channel": {"id": SUPPORT, "name": "support"}, "message": {"ts": card["ts"], "text": card["text"]},
            "actions": [{"type": "button", "action_id": action_id, "block_id": f"page-{page_id}",
                         "value": str(page_id), "action_ts": f"{int(NOW.timestamp())}.000001"}]}, **post)

    def submit_reason(self, page_id: int, reason: str, user: str):
        return self.interact({
            "type": "view_submission", "user": {"id": user, "username": user.lower(), "team_id": "T1"},
            "trigger_id": f"{self.next_id()}.1.trigger", "response_urls": [],
            "view": {"id": "VMODAL", "type": "modal", "callback_id": "page.escalate_reason",
                     "private_metadata": str(page_id), "team_id": "T1", "app_id": "A0ONCALL",
                     "state": {"values": {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}}}})

    # -- what users see -------------------------------------------------------------------------

    def page_of(self, ticket: dict) -> paging.PageSnapshot:
        page_id = paging.page_for_slack_thread(self.store, ticket["channel"], ticket["ts"])
        assert page_id is not None, f"no page for the message {ticket['ts']}"
        return paging.get_page(self.store, page_id)

    def page_count(self) -> int:
        with self.store.transaction() as tx:
            return len(tx.pages_between(NOW - timedelta(days=1), NOW + timedelta(days=1)))

    def thread(self, ticket_ts: str) -> list[dict]:
        return [m for m in self.fake.messages(SUPPORT) if m["thread_ts"] == ticket_ts]

    def card(self, page_id: int) -> dict:
        cards = [m for m in self.fake.messages(SUPPORT)
                 if m["blocks"] and f"*Page #{page_id}*:" in block_texts(m["blocks"])]
        assert len(cards) == 1, f"expected one card for page {page_id}, got {cards}"
        return cards[0]

    def thread_texts(self, ticket_ts: str) -> list[str]:
        return [m["text"] for m in self.thread(ticket_ts) if not m["blocks"]]

    def calls(self, method: str) -> list[dict]:
        return [body_args(r) for r in self.fake.requests_to(f"/api/{method}")]
