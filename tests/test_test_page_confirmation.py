"""Confirmation means a person, not a device: the weekly test page and escalation calls go out with Twilio's
asynchronous answering machine detection; a voicemail pickup is recorded ("reached the device") but never
confirms; only a keypress, an SMS reply or the Slack DM's Confirm button does. The approvers' alert names what
happened on each channel, and a confirmation after the alert tells them, once, that it resolved."""

from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot.domain.confirmation import ChannelOutcome, answered
from oncallbot.domain.wording import channel_outcome_text
from oncallbot.entrypoints import scheduler
from oncallbot.services import paging
from oncallbot.services.rotation import sync_rotation
from tests.harness.pager import LA
from tests.harness.rotation import ListSource, week_event
from tests.harness.slack import AISHA as AISHA_SLACK_ID
from tests.harness.slack import button_ids
from tests.harness.twilio import AISHA, AISHA_SLACK, DANA_SLACK, OMAR_SLACK, OUR_NUMBER, PUBLIC_URL, events

WEEK_START = datetime(2026, 11, 24, 2, 1, tzinfo=UTC)  # Mon 2026-11-23 18:01 PST: Aisha's week begins
WINDOW = timedelta(minutes=15)


def start_test_page(bot) -> int:
    page = paging.open_test_page(bot.store, bot.procedure, WINDOW, bot.clock.now())
    assert page is not None
    bot.container.deliver_now()
    return page.id


def alerts(bot, slack_id: str) -> list[str]:
    return [t for t in bot.dms(slack_id) if "was not confirmed by" in t]


def resolved(bot, slack_id: str) -> list[str]:
    return [t for t in bot.dms(slack_id) if t.startswith("Resolved: test page")]


def sms_status(bot, state: str, callee: str = AISHA):
    sms = bot.twilio.sms_to(callee)[-1]
    return bot.twilio_post("/twilio/status", {"AccountSid": bot.twilio.account_sid, "MessageSid": sms["sid"],
                                              "MessageStatus": state, "To": callee, "From": OUR_NUMBER})


def channel(body: dict, who: str, name: str) -> dict:
    [entry] = [c for c in body["channels"] if c["who"] == who and c["channel"] == name]
    return entry


def test_the_test_page_is_called_with_async_answering_machine_detection_and_dms_a_confirm_button(make_bot, sqlite_url):
    bot = make_bot(sqlite_url, at=WEEK_START)
    page_id = start_test_page(bot)

    [call] = bot.twilio.calls_to(AISHA)
    assert call["machine_detection"] == "DetectMessageEnd"
    assert call["async_amd"] == "true"
    assert call["async_amd_status_callback"] == f"{PUBLIC_URL}/twilio/amd?page={page_id}"
    assert call["async_amd_status_callback_method"] == "POST"
    assert len(bot.twilio.sms_to(AISHA)) == 1
    [dm] = bot.slack.dms_to(AISHA_SLACK)
    assert button_ids(dm["blocks"]) == ["page.confirm"]
    assert AISHA not in dm["text"]


def test_a_voicemail_pickup_does_not_confirm_and_the_approvers_hear_once_what_happened_on_each_channel(
        make_bot, database_url):
    bot = make_bot(database_url, at=WEEK_START)
    page_id = start_test_page(bot)
    bot.clock.advance(timedelta(minutes=1))  # 18:02
    assert sms_status(bot, "delivered").status_code == 204

    response = bot.answered_by("machine_start")

    assert response.status_code == 204
    [call] = bot.twilio.calls_to(AISHA)
    [voicemail] = call["twiml_updates"]  # the live call now leaves the words, then hangs up
    assert "does not confirm" in voicemail and "<Hangup" in voicemail
    body = bot.page(page_id)
    assert body["state"] == "open"
    assert ("answered", "aisha", "voice") in events(body)
    assert channel(body, "aisha", "voice")["answered_by"] == "machine"
    assert channel(body, "aisha", "voice")["confirmed"] is False
    assert channel(body, "aisha", "sms")["delivered"] is True
    assert channel(body, "aisha", "slack")["sent_at"] is not None

    # Twilio repeats the callback: no second voicemail, no second timeline line.
    assert bot.answered_by("machine_start").status_code == 204
    assert len(bot.twilio.calls_to(AISHA)[0]["twiml_updates"]) == 1
    assert len([e for e in events(bot.page(page_id)) if e[0] == "answered"]) == 1

    bot.tick(14)  # 18:16: the window is over, nobody pressed anything
    for approver in (DANA_SLACK, OMAR_SLACK):
        [alert] = alerts(bot, approver)
        assert alert == (f"Test page #{page_id} was not confirmed by Aisha Khan (call answered by voicemail at "
                         "18:02, no keypress; SMS delivered, no reply; Slack DM sent, no Confirm pressed): calls may "
                         "not be reaching the on-call person.")
        assert AISHA not in alert
    bot.tick(60)
    assert [len(alerts(bot, a)) for a in (DANA_SLACK, OMAR_SLACK)] == [1, 1]


def test_a_keypress_confirms(make_bot, sqlite_url):
    bot = make_bot(sqlite_url, at=WEEK_START)
    page_id = start_test_page(bot)
    bot.answered_by("human")
    bot.keypress(page_id, "1")
    body = bot.page(page_id)
    assert body["state"] == "on_it"
    assert channel(body, "aisha", "voice")["answered_by"] == "human"
    assert channel(body, "aisha", "voice")["confirmed"] is True
    bot.tick(30)
    assert alerts(bot, DANA_SLACK) == [] and resolved(bot, DANA_SLACK) == []


def test_an_sms_reply_confirms(make_bot, sqlite_url):
    bot = make_bot(sqlite_url, at=WEEK_START)
    page_id = start_test_page(bot)
    bot.answered_by("machine_end_beep")  # the call went to voicemail; the text is answered
    bot.clock.advance(timedelta(minutes=4))
    bot.text_in("1")
    body = bot.page(page_id)
    assert body["state"] == "on_it"
    assert channel(body, "aisha", "sms")["confirmed"] is True
    assert channel(body, "aisha", "voice")["confirmed"] is False
    bot.tick(30)
    assert alerts(bot, DANA_SLACK) == [] and alerts(bot, OMAR_SLACK) == []


def test_a_confirmation_after_the_alert_is_recorded_and_the_approvers_are_told_once_it_resolved(make_bot, sqlite_url):
    bot = make_bot(sqlite_url, at=WEEK_START)
    page_id = start_test_page(bot)
    bot.answered_by("machine_end_silence")
    bot.tick(16)
    assert len(alerts(bot, DANA_SLACK)) == 1
    bot.clock.advance(timedelta(minutes=3))  # 18:20

    bot.text_in("1")
    bot.tick(0)  # the outbox's sender runs

    assert bot.page(page_id)["state"] == "on_it"
    for approver in (DANA_SLACK, OMAR_SLACK):
        assert resolved(bot, approver) == [f"Resolved: test page #{page_id} was confirmed by Aisha Khan at 18:20 "
                                           "(via SMS), after you were alerted."]
    bot.keypress(page_id, "1")  # a second confirmation changes nothing and tells nobody again
    bot.tick(30)
    assert [len(resolved(bot, a)) for a in (DANA_SLACK, OMAR_SLACK)] == [1, 1]


def test_an_escalation_call_answered_by_voicemail_leaves_a_message_and_the_step_is_not_acknowledged(
        make_bot, sqlite_url):
    bot = make_bot(sqlite_url)
    page_id = bot.escalated_page()
    [call] = bot.twilio.calls_to(AISHA)
    assert call["machine_detection"] == "DetectMessageEnd" and call["async_amd"] == "true"

    assert bot.answered_by("machine_end_beep").status_code == 204

    [voicemail] = bot.twilio.calls_to(AISHA)[0]["twiml_updates"]
    assert f"Page number {page_id} is waiting for you. Please check Slack." in voicemail
    assert bot.page(page_id)["state"] == "open"
    assert bot.tick(15) == 1  # the next step (her manager) fires: a voicemail is not an acknowledgment
    assert ("answered", "aisha", "voice") in events(bot.page(page_id))


def test_the_amd_callback_must_be_signed_and_complete(make_bot, sqlite_url):
    bot = make_bot(sqlite_url, at=WEEK_START)
    page_id = start_test_page(bot)
    sid = bot.twilio.calls_to(AISHA)[0]["sid"]
    params = {"AccountSid": bot.twilio.account_sid, "CallSid": sid, "AnsweredBy": "machine_start"}
    assert bot.twilio_post(f"/twilio/amd?page={page_id}", params, signature="forged").status_code == 403
    assert bot.twilio_post(f"/twilio/amd?page={page_id}", {"CallSid": sid}).status_code == 400
    assert bot.twilio.calls_to(AISHA)[0]["twiml_updates"] == []
    assert "answered" not in [e[0] for e in events(bot.page(page_id))]


def test_the_slack_confirm_button_confirms(slack):
    page = paging.open_test_page(slack.store, slack.container.procedure, WINDOW, slack.clock.now())
    slack.container.deliver_now(page.id)
    [dm] = slack.fake.dms_to(AISHA_SLACK_ID)
    assert button_ids(dm["blocks"]) == ["page.confirm"]

    slack.interact({
        "type": "block_actions", "user": {"id": AISHA_SLACK_ID, "username": "aisha", "team_id": "T1"},
        "trigger_id": "1.1.trigger", "response_url": f"{slack.fake.url}/response/x",
        "container": {"type": "message", "message_ts": dm["ts"], "channel_id": dm["channel"], "is_ephemeral": False},
        "channel": {"id": dm["channel"], "name": "directmessage"}, "message": {"ts": dm["ts"], "text": dm["text"]},
        "actions": [{"type": "button", "action_id": "page.confirm", "block_id": f"page-{page.id}-confirm",
                     "value": str(page.id), "action_ts": "1.000001"}]})

    after = paging.get_page(slack.store, page.id)
    assert after.state == "on_it" and after.on_it_by == "aisha"
    assert [(o.channel, o.confirmed_at is not None) for o in after.channels if o.channel == "slack"] == [
        ("slack", True)]


@pytest.mark.parametrize(("week", "offset"), [(date(2027, 3, 15), "-0700"), (date(2027, 11, 8), "-0800")])
def test_the_test_page_goes_out_at_18_01_local_across_the_dst_changes(make_bot, sqlite_url, week, offset):
    """The Sunday before each week is a DST change in Los Angeles (2027-03-14, 2027-11-07)."""
    sunday_noon = datetime.combine(week - timedelta(days=1), datetime.min.time().replace(hour=12), LA)
    bot = make_bot(sqlite_url, at=sunday_noon.astimezone(UTC))
    sync_rotation(bot.store, ListSource([week_event(week - timedelta(weeks=1), "tom"), week_event(week, "aisha")]),
                  bot.procedure, bot.clock.now())
    job = scheduler.create_scheduler(bot.container).get_job("test_page")
    fire_at = job.trigger.get_next_fire_time(None, sunday_noon)
    assert fire_at.astimezone(LA).replace(tzinfo=None) == datetime.combine(week, datetime.min.time()).replace(
        hour=18, minute=1)
    assert fire_at.strftime("%z") == offset

    bot.clock.advance(fire_at - bot.clock.now())
    scheduler.test_page_job(bot.container)

    assert len(bot.twilio.calls_to(AISHA)) == 1 and len(bot.twilio.sms_to(AISHA)) == 1
    [page] = paging.list_pages(bot.store, bot.clock.now()).pages
    assert page.source == "test" and page.responsible == "aisha"
    assert page.created_at.astimezone(LA).strftime("%a %H:%M %z") == f"Mon 18:01 {offset}"


def test_channel_outcomes_in_words():
    at = datetime(2026, 11, 24, 2, 2, tzinfo=UTC)
    voice = ChannelOutcome("aisha", "voice", at, "completed", at, "machine", at, None)
    assert channel_outcome_text(voice, LA) == "call answered by voicemail at 18:02, no keypress"
    assert channel_outcome_text(ChannelOutcome("aisha", "voice", at, "no-answer", None, None, None, None), LA) == \
        "call not answered (no-answer), no keypress"
    assert channel_outcome_text(ChannelOutcome("aisha", "sms", at, "undelivered", None, None, None, None), LA) == \
        "SMS not delivered (undelivered), no reply"
    assert channel_outcome_text(ChannelOutcome("aisha", "slack", None, None, None, None, None, None), LA) == \
        "Slack DM not sent"
    assert [answered(v) for v in ("human", "machine_start", "machine_end_beep", "machine_end_silence",
                                  "machine_end_other", "fax", "unknown", "")] == \
        ["human", "machine", "machine", "machine", "machine", "machine", "unknown", "unknown"]


@pytest.mark.parametrize(("answered_by", "recorded"), [("unknown", "unknown (unknown)"), ("fax", "machine (fax)")])
def test_unknown_and_fax_leave_no_voicemail_and_the_keypress_still_decides(make_bot, sqlite_url, answered_by, recorded):
    bot = make_bot(sqlite_url, at=WEEK_START)
    page_id = start_test_page(bot)
    assert bot.answered_by(answered_by).status_code == 204
    assert bot.twilio.calls_to(AISHA)[0]["twiml_updates"] == []
    assert [e["detail"] for e in bot.page(page_id)["timeline"] if e["event"] == "answered"] == [recorded]
    bot.keypress(page_id, "1")
    assert bot.page(page_id)["state"] == "on_it"
