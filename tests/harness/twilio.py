"""The bot as `serve` builds it with Twilio and Slack on, behind the HTTP app, and Twilio calling our webhooks
exactly as Twilio does: form-encoded POSTs signed with X-Twilio-Signature over the configured public URL."""

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from oncallbot import bootstrap
from oncallbot.entrypoints.http import create_app
from oncallbot.entrypoints.serve import build_twilio_verifier
from oncallbot.services import paging
from oncallbot.services.rotation import sync_rotation
from tests.fakes import FakeSlack, FakeTwilio

from .clock import FakeClock
from .config import example_data, example_settings

PUBLIC_URL = "https://oncall.example.com"  # behind a TLS-terminating proxy: Twilio signs this, not testserver
OUR_NUMBER = "+14155550199"
AISHA = "+14155550105"
STRANGER = "+14155550987"
SUPPORT_CHANNEL = "C01SUPPORT"
AISHA_SLACK, DANA_SLACK, OMAR_SLACK = "U01AISHA00", "U01DANA000", "U01OMAR000"
NIGHT = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # Monday 22:00 PST: Aisha is on call


class Bot:
    """The served app, its container and clock, and the fakes it talks to."""

    def __init__(self, container, client: TestClient, twilio: FakeTwilio, slack: FakeSlack):
        self.container, self.client, self.twilio, self.slack = container, client, twilio, slack
        self.clock, self.store, self.procedure = container.clock, container.store, container.procedure

    # -- driving the pager ----------------------------------------------------------------------
    def open_page(self, summary="Voicemail from ACME: server down") -> int:
        page, _ = paging.open_page(self.store, self.procedure, paging.NewPage(summary=summary, source="api"),
                                   self.clock.now())
        self.container.deliver_now()
        return page.id

    def tick(self, minutes: float) -> int:
        """The scheduler's dispatcher after `minutes`: fire what is due, send the outbox."""
        self.clock.advance(timedelta(minutes=minutes))
        fired = paging.fire_due_escalations(self.store, self.procedure, self.clock.now())
        self.container.deliver_now()
        return fired

    def escalated_page(self) -> int:
        """A page nobody took in its 15 minutes: Aisha has been texted and called."""
        page_id = self.open_page()
        assert self.tick(16) == 1
        assert len(self.twilio.sms_to(AISHA)) == 1 and len(self.twilio.calls_to(AISHA)) == 1
        return page_id

    def page(self, page_id: int) -> dict:
        response = self.client.get(f"/api/v1/pages/{page_id}", headers={"Authorization": "Bearer test-api-token"})
        assert response.status_code == 200
        return response.json()

    def opted_out(self, person_id: str, channel: str = "sms") -> bool:
        with self.store.transaction() as tx:
            return tx.opted_out(person_id, channel)

    def inbound_seen(self, key: str) -> bool:
        with self.store.transaction() as tx:
            return tx.seen(key)

    # -- what people see --------------------------------------------------------------------------
    def thread(self, page_id: int) -> list[str]:
        """The texts in the Slack thread of the page's card."""
        with self.store.transaction() as tx:
            card_ts = tx.page(page_id).slack_card_ts
        assert card_ts
        return [m["text"] for m in self.slack.messages(SUPPORT_CHANNEL) if m["thread_ts"] == card_ts]

    def dms(self, slack_id: str) -> list[str]:
        return [m["text"] for m in self.slack.dms_to(slack_id)]

    # -- Twilio calling us --------------------------------------------------------------------------
    def twilio_post(self, path: str, params: dict, signed_url: str | None = None, signature: str | None = None):
        """POST as Twilio does: form-encoded, signed over the public URL with the query string."""
        if signature is None:
            return self.client.post(path, data=params, headers=self.signed_headers(signed_url or PUBLIC_URL + path,
                                                                                   params))
        return self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def signed_headers(self, url: str, params: dict) -> dict:
        """Twilio's signature of a POST of `params` to `url` (the public URL with the path and query)."""
        return {"X-Twilio-Signature": RequestValidator(self.twilio.auth_token).compute_signature(url, params)}

    def sms_params(self, body: str, sender: str = AISHA, sid: str | None = None) -> dict:
        sid = sid or "SM" + uuid.uuid4().hex
        return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
                "Body": body, "To": OUR_NUMBER, "NumSegments": "1", "MessageSid": sid,
                "AccountSid": self.twilio.account_sid, "From": sender, "ApiVersion": "2010-04-01"}

    def text_in(self, body: str, sender: str = AISHA, sid: str | None = None):
        return self.twilio_post("/twilio/sms", self.sms_params(body, sender, sid))

    def keypress(self, page_id: int, digits: str | None, callee: str = AISHA):
        [call] = self.twilio.calls_to(callee)
        params = {"AccountSid": self.twilio.account_sid, "CallSid": call["sid"], "From": OUR_NUMBER, "To": callee,
                  "Called": callee, "Caller": OUR_NUMBER, "Direction": "outbound-api", "CallStatus": "in-progress",
                  "ApiVersion": "2010-04-01", "FinishedOnKey": ""}
        if digits is not None:
            params["Digits"] = digits
        return self.twilio_post(f"/twilio/voice?page={page_id}", params)

    def answered_by(self, answered_by: str, callee: str = AISHA, call: int = -1):
        """Twilio's answering machine detection says who picked up the call to `callee`: it posts, signed,
        to the AsyncAmdStatusCallback the call was placed with."""
        sid = self.twilio.calls_to(callee)[call]["sid"]
        url, params, signature = self.twilio.amd_callback(sid, answered_by)
        assert url.startswith(PUBLIC_URL)
        return self.twilio_post(url[len(PUBLIC_URL):], params, signature=signature)

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.store.dispose()


def build_bot(database_url: str, twilio: FakeTwilio, slack: FakeSlack, at: datetime = NIGHT,
              server: dict | None = None, link_secret: str | None = None, **sections) -> Bot:
    """The container, its HTTP app (entered: call `close()`), and the rotation synced; `server` keys and other
    sections (e.g. phone_line=...) over the example's."""
    settings = example_settings(server={**example_data()["server"], "public_url": PUBLIC_URL, **(server or {})},
                                **sections)
    env = bootstrap.Environment(link_secret=link_secret,
        database_url=database_url, api_token="test-api-token",
        twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
        twilio_from_number=OUR_NUMBER, twilio_api_url=twilio.url,
        slack_bot_token="xoxb-test-token", slack_signing_secret="test-signing-secret", slack_api_url=slack.url)
    container = bootstrap.build(settings, env, clock=FakeClock(at))
    container.store.upgrade()
    sync_rotation(container.store, container.rotation_source, container.procedure, container.clock.now())
    verifier = build_twilio_verifier(container)
    assert verifier is not None
    client = TestClient(create_app(container, twilio_verifier=verifier))
    client.__enter__()
    return Bot(container, client, twilio, slack)


def twiml(response) -> ET.Element:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def sms_reply(response) -> list[str]:
    return [m.text for m in twiml(response).findall("Message")]


def events(page_body, kind=None):
    return [(e["event"], e["who"], e["channel"]) for e in page_body["timeline"] if kind in (None, e["event"])]
