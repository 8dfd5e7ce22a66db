"""Issue 14, item 6 (a): a call is a call whatever queued it. After SMS STOP, a digest (a second page waiting on
the same person) cannot be texted and falls back to a call; that call counts against the phone throttle like
any other, and is not placed once the period's calls were made. The page still reaches her in Slack."""

from datetime import timedelta

from tests.harness.config import example_data
from tests.harness.twilio import AISHA, AISHA_SLACK, sms_reply

ONE_CALL_PER_15_MINUTES = {"escalation": {**example_data()["escalation"], "phone_throttle": {"calls": 1, "per": "15m"}}}


def stopped_and_two_pages_waiting(bot) -> tuple[int, int]:
    assert sms_reply(bot.text_in("STOP")) == []
    bot.twilio.opt_out(AISHA)
    first = bot.open_page("Ticket 1")
    bot.clock.advance(timedelta(minutes=5))
    second = bot.open_page("Ticket 2")
    bot.tick(15)  # 22:20: both due; the second joins a digest, which cannot be texted after STOP
    return first, second


def test_a_digest_that_falls_back_to_a_call_after_stop_keeps_to_the_call_throttle(make_bot, database_url):
    bot = make_bot(database_url, **ONE_CALL_PER_15_MINUTES)
    first, second = stopped_and_two_pages_waiting(bot)

    assert len(bot.twilio.calls_to(AISHA)) == 1  # the first page's call; the digest's fallback is not placed
    assert any(f"Page #{second}" in text for text in bot.dms(AISHA_SLACK))  # the digest reaches her in Slack
    timeline = bot.page(second)["timeline"]
    assert any(e["event"] == "throttled" and e["channel"] == "voice" for e in timeline), timeline
    assert bot.page(first)["state"] == bot.page(second)["state"] == "open"


def test_within_the_throttle_the_digest_still_falls_back_to_a_call(make_bot, database_url):
    bot = make_bot(database_url)  # three calls per 15 minutes
    first, second = stopped_and_two_pages_waiting(bot)

    assert len(bot.twilio.calls_to(AISHA)) == 2
    assert not any(e["event"] == "throttled" for e in bot.page(second)["timeline"])
