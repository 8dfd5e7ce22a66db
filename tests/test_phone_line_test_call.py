"""Issue 12, item 4: with the office line configured, the week's test call goes through it. The bot calls its
own line; the line rings the incoming on-call person with the customers' screening and caller id, so their
1 proves that a customer's call would reach them. The managers' alert says which part failed."""

from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.services import paging
from tests.harness.phone_line import LINE, build_line_bot
from tests.harness.twilio import AISHA, DANA_SLACK, OMAR_SLACK, OUR_NUMBER, events

WEEK_START = datetime(2026, 11, 24, 2, 1, tzinfo=UTC)  # Mon 2026-11-23 18:01 PST: Aisha's week begins
WINDOW = timedelta(minutes=15)
SCREEN = "Support call for Customer Support, press 1 to take it."


def start_test_call(line):
    """The test page's call goes to the line; Twilio then delivers it to the line's webhook, from our number."""
    page = paging.open_test_page(line.store, line.procedure, WINDOW, line.clock.now())
    assert page is not None
    line.container.deliver_now()
    assert line.twilio.calls_to(AISHA) == []  # not her cell directly: through the line
    [placed] = line.twilio.calls_to(LINE)
    assert placed["from"] == OUR_NUMBER and "<Pause" in placed["twiml"]
    return page.id, line.call(caller=placed["from"])


def alerts(line, slack_id: str) -> list[str]:
    return [t for t in line.dms(slack_id) if "was not confirmed by" in t]


def test_press_1_on_the_line_confirms_the_test_page(make_bot, database_url):
    line = build_line_bot(make_bot, database_url, at=WEEK_START)
    page_id, call = start_test_call(line)

    assert call.ringing["number"] == AISHA and call.ringing["caller_id"] == LINE  # the customers' caller id
    call.answer()
    assert call.screen_heard == [SCREEN, SCREEN]  # the customers' screening
    call.press("1")

    assert call.screen_heard[-1] == "Test call confirmed: a customer's call reaches you. Goodbye."
    assert call.state == "ended"
    body = line.page(page_id)
    assert body["state"] == "on_it" and body["on_it_by"] == "aisha"
    assert ("on_it", "aisha", "voice") in events(body)
    assert [e["detail"] for e in body["timeline"] if e["event"] == "line_test"] == ["pressed 1"]
    assert [p["source"] for p in line.pages()] == ["test"]  # no customer page, no voicemail of the bot's leg
    line.tick(20)
    assert alerts(line, DANA_SLACK) == [] and alerts(line, OMAR_SLACK) == []


@pytest.mark.parametrize(("drive", "failure"), [
    (lambda call: call.no_answer(), "no answer"),
    (lambda call: call.answer(answered_by="machine_end_beep"), "voicemail"),
    (lambda call: (call.answer(), call.no_keypress()), "no keypress"),
])
def test_the_managers_alert_says_which_part_of_the_route_failed(make_bot, sqlite_url, drive, failure):
    line = build_line_bot(make_bot, sqlite_url, at=WEEK_START)
    page_id, call = start_test_call(line)
    drive(call)

    assert call.state == "ended"  # the test call never leaves a voicemail
    assert [p["source"] for p in line.pages()] == ["test"]
    line.tick(16)
    for approver in (DANA_SLACK, OMAR_SLACK):
        [alert] = alerts(line, approver)
        assert f"(call through the office line: {failure}; SMS sent, no reply;" in alert, alert
        assert AISHA not in alert


def test_a_customer_call_from_another_number_during_the_test_is_a_customer_call(make_bot, sqlite_url):
    line = build_line_bot(make_bot, sqlite_url, at=WEEK_START)
    page_id, _ = start_test_call(line)
    customer = line.call()
    customer.answer()
    customer.press("1")
    assert line.page(page_id)["state"] == "open"  # a customer's call does not confirm the test
    assert sorted(p["source"] for p in line.pages()) == ["call", "test"]
