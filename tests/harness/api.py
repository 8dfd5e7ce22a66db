"""The bot as `serve` builds it with Twilio on, behind the HTTP app: the intake API and the page's clock."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from oncallbot import bootstrap
from oncallbot.entrypoints.http import create_app
from oncallbot.services import paging
from oncallbot.services.rotation import sync_rotation
from tests.fakes import FakeTwilio

from .clock import FakeClock
from .config import example_data, example_settings

LA = ZoneInfo("America/Los_Angeles")
API_TOKEN = "test-api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PUBLIC_URL = "https://oncall.example.com"
OUR_NUMBER = "+14155550199"
AISHA, DANA, OMAR = "+14155550105", "+14155550110", "+14155550111"

NIGHT = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # Monday 22:00 PST: Aisha's week
OFFICE_HOURS = datetime(2026, 11, 24, 10, 0, tzinfo=LA)  # Tuesday 10:00: the office
MLK_MORNING = datetime(2027, 1, 18, 9, 0, tzinfo=LA)  # the week ended 07:00, the office is closed: nobody
VOICEMAIL = {"summary": "Voicemail from ACME: server down", "source": "api"}


class Api:
    """The app as it is served, with its container, clock and the Twilio fake it sends to."""

    def __init__(self, container, client: TestClient, twilio: FakeTwilio):
        self.container, self.client, self.twilio = container, client, twilio
        self.clock = container.clock

    def post(self, body=None, headers=AUTH, **kw):
        if body is not None:
            kw["json"] = body
        return self.client.post("/api/v1/pages", headers=headers, **kw)

    def get(self, page_id, headers=AUTH):
        return self.client.get(f"/api/v1/pages/{page_id}", headers=headers)

    def page_count(self) -> int:
        with self.container.store.transaction() as tx:
            return len(tx.pages_between(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)))

    def twilio_sends(self):
        return self.twilio.requests_to("/Messages.json", "POST") + self.twilio.requests_to("/Calls.json", "POST")

    def tick(self, minutes: float) -> int:
        """What the scheduler's dispatcher does after `minutes` have passed."""
        self.clock.advance(timedelta(minutes=minutes))
        fired = paging.fire_due_escalations(self.container.store, self.container.procedure, self.clock.now())
        self.container.deliver_now()
        return fired

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.container.store.dispose()


def build_api(database_url: str, twilio: FakeTwilio, at: datetime = NIGHT, api_token: str | None = API_TOKEN,
              **sections) -> Api:
    """The container and its HTTP app (entered: call `close()`), Twilio on, the rotation synced."""
    settings = example_settings(server={**example_data()["server"], "public_url": PUBLIC_URL}, **sections)
    env = bootstrap.Environment(database_url=database_url, api_token=api_token,
                                twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
                                twilio_from_number=OUR_NUMBER, twilio_api_url=twilio.url)
    container = bootstrap.build(settings, env, clock=FakeClock(at))
    container.store.upgrade()
    sync_rotation(container.store, container.rotation_source, container.procedure, container.clock.now())
    client = TestClient(create_app(container))
    client.__enter__()
    return Api(container, client, twilio)
