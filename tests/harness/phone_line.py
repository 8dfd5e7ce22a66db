"""The office line: the bot as `serve` builds it with `phone_line` on, and customers calling it through the
fake Twilio, which posts signed requests to the real webhooks and follows the TwiML they answer."""

from urllib.parse import urlsplit

from oncallbot.services import paging
from tests.fakes.twilio import LineCall

from .twilio import PUBLIC_URL, Bot

LINE = "+14155550100"  # the team's support number, on Twilio
OFFICE = "+14155550190"  # the office's desk phone, for business hours
CUSTOMER = "+16505550142"
LINK_SECRET = "test-link-secret"
PHONE_LINE = {"numbers": [LINE], "office_hours_forward": OFFICE, "ring_seconds": 20}


class LineBot:
    def __init__(self, bot: Bot):
        self.bot = bot

    def __getattr__(self, name):
        return getattr(self.bot, name)

    def send(self, url: str, params: dict, signature: str):
        """Carry one of Twilio's signed requests to the app (its path and query under the public URL)."""
        assert url.startswith(PUBLIC_URL), url
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.bot.client.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def call(self, caller: str = CUSTOMER, to: str = LINE) -> LineCall:
        return self.bot.twilio.incoming_call(to, caller, self.send, PUBLIC_URL)

    def pages(self) -> list[dict]:
        response = self.bot.client.get("/api/v1/pages", headers={"Authorization": "Bearer test-api-token"})
        assert response.status_code == 200
        return response.json()["pages"]

    def details(self, page_id: int) -> str | None:
        """The page's details (a voicemail's transcription), as the services hold them."""
        return paging.get_page(self.bot.store, page_id).details

    def card(self, page_id: int) -> dict:
        """The page's card in the support channel, as it stands (redrawn in place)."""
        with self.bot.store.transaction() as tx:
            card_ts = tx.page(page_id).slack_card_ts
        assert card_ts
        [card] = [m for m in self.bot.slack.messages("C01SUPPORT") if m["ts"] == card_ts]
        return card


def build_line_bot(make_bot, database_url: str, phone_line: dict | None = None, **kw) -> LineBot:
    return LineBot(make_bot(database_url, link_secret=LINK_SECRET, phone_line=phone_line or PHONE_LINE, **kw))
