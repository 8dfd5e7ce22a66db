"""Issue 14, item 2: the Slack and Twilio webhooks (the office line's included) fuzzed with hypothesis
(tests/harness/webhooks.py): signed and unsigned, signed with another secret, stale and garbled timestamps,
truncated, the wrong content type, huge and deeply nested bodies, unknown ids. Whatever arrives: never a server
error; nothing that is not signed is accepted or changes anything (no row, no message sent); a signed request sent
again (a replay) changes nothing more. Deterministic (derandomized) and bounded for `make test`."""

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import database
from tests.harness.phone_line import LINK_SECRET, PHONE_LINE
from tests.harness.twilio import AISHA_SLACK
from tests.harness.webhooks import FORM, WEBHOOKS, Attempt, WebhookBot, attempts, slack_headers

EXAMPLES = 300
REFUSED = (400, 401, 403, 413)


def sent_by_us(bot) -> int:
    """Requests our app made to Slack and Twilio."""
    return len(bot.bot.slack.all_requests) + len(bot.bot.twilio.all_requests)


@pytest.fixture
def webhook_bot(make_bot, sqlite_url):
    # The office line on too (issue 12), so its webhooks are fuzzed with the others.
    bot = make_bot(sqlite_url, link_secret=LINK_SECRET, phone_line=PHONE_LINE)
    bot.escalated_page()  # page 1 is open, and Aisha was texted and called for it: there are ids to hit
    served = WebhookBot(bot)
    yield served, sqlite_url
    served.close()


def check(bot: WebhookBot, database_url: str, attempt: Attempt) -> None:
    path = attempt.url
    headers = {**attempt.webhook.sign(path, attempt.body, attempt.signing), "Content-Type": attempt.content_type}
    before, calls_before = database.contents(database_url), sent_by_us(bot)

    response = bot.post(path, attempt.body, headers)

    assert response.status_code < 500, (attempt, response.status_code, response.text[:500])
    if attempt.signing != "signed":
        assert response.status_code in REFUSED, (attempt, response.status_code)
        assert database.contents(database_url) == before, attempt
        assert sent_by_us(bot) == calls_before, attempt
        return
    if len(attempt.body) > attempt.webhook.limit:
        assert response.status_code == 413, (attempt, response.status_code)
        assert database.contents(database_url) == before, attempt
        return
    after, calls_after = database.contents(database_url), sent_by_us(bot)
    replay = bot.post(path, attempt.body, headers)
    assert replay.status_code < 500, (attempt, replay.status_code, replay.text[:500])
    assert database.contents(database_url) == after, ("a replay changed the database", attempt)
    if path.startswith("/twilio/"):  # Slack may answer a repeated click again; Twilio's replays send nothing
        assert sent_by_us(bot) == calls_after, ("a replay sent something", attempt)


def test_the_webhooks_under_bad_input(webhook_bot):
    bot, database_url = webhook_bot

    @given(attempt=attempts())
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(attempt):
        check(bot, database_url, attempt)

    fuzz()


@pytest.mark.parametrize("webhook", WEBHOOKS, ids=lambda w: w.path)
def test_each_webhook_refuses_what_is_not_signed(webhook_bot, webhook):
    """Every route on its own, so a route the mixed run drew rarely is still covered."""
    bot, database_url = webhook_bot

    @given(attempt=attempts([webhook]).filter(lambda a: a.signing != "signed"))
    @settings(max_examples=40, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(attempt):
        check(bot, database_url, attempt)

    fuzz()


@pytest.mark.parametrize("payload", [
    {"type": "view_submission", "view": {"callback_id": "page.escalate", "state": {"values": {}}}},  # no view.type
    {"type": "view_submission", "view": "callback_id"},
    {"type": "block_actions", "actions": []},
    {"type": "block_actions", "actions": "page.on_it"},
], ids=["view without type", "view a string", "no actions", "actions a string"])
def test_a_signed_slack_payload_of_a_shape_bolt_cannot_read_is_a_400_not_a_500(webhook_bot, payload):
    """Found by the fuzzer: bolt indexed these without checking and answered 500."""
    bot, database_url = webhook_bot
    before = database.contents(database_url)
    body = urlencode({"payload": json.dumps({**payload, "user": {"id": AISHA_SLACK}, "team": {"id": "T1"}})}).encode()
    headers = {**slack_headers("/slack/events", body, "signed"), "Content-Type": FORM}
    response = bot.post("/slack/events", body, headers)
    assert response.status_code == 400 and response.json() == {"error": "malformed Slack request"}
    assert database.contents(database_url) == before


def test_the_voicemail_link_refuses_anything_it_did_not_sign(webhook_bot):
    """`GET /recordings/{page}` is the office line's one unsigned-by-Twilio route: its own HMAC link. Forged,
    truncated or foreign signatures and expiry times never play a recording, change nothing, and are never a 500."""
    bot, database_url = webhook_bot
    before = database.contents(database_url)
    values = st.one_of(st.text(max_size=80), st.integers(-10, 10**13).map(str), st.just(""))

    @given(page=st.one_of(st.integers(-5, 5), st.integers(2**31 - 2, 2**63)).map(str) | st.text(max_size=20),
           expires=values, sig=values)
    @settings(max_examples=120, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(page, expires, sig):
        response = bot.client.get(f"/recordings/{quote(page, safe='')}", params={"expires": expires, "sig": sig})
        assert response.status_code in (403, 404), (page, expires, sig, response.status_code)
        assert not response.headers.get("content-type", "").startswith("audio/")

    fuzz()
    assert database.contents(database_url) == before
