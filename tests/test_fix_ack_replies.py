"""Issue 7, item 10: people answer in sentences, in the Slack thread and by SMS; a reply that looks meant as an
acknowledgment but is not one gets a hint instead of silence."""

from datetime import timedelta

from oncallbot.domain.paging import ACK_HINT
from tests.harness.slack import AISHA, FRONT_DESK, SUPPORT, TOM
from tests.harness.twilio import sms_reply


def test_sentences_that_begin_with_on_it_or_done_acknowledge_in_the_thread(slack_db):
    ticket = slack_db.say("Voicemail from ACME: server down")
    slack_db.clock.advance(timedelta(minutes=3))
    slack_db.say("On it, calling them back now", user=AISHA, thread_ts=ticket["ts"])
    page = slack_db.page_of(ticket)
    assert (page.state, page.on_it_by) == ("on_it", "aisha")

    slack_db.clock.advance(timedelta(minutes=9))
    slack_db.say("Done - refunded", user=AISHA, thread_ts=ticket["ts"])
    page = slack_db.page_of(ticket)
    assert (page.state, page.done_by) == ("done", "aisha")
    assert slack_db.thread_texts(ticket["ts"]) == ["On It! Aisha Khan at 22:03 (via Slack)",
                                                  "Done Aisha Khan at 22:12 (via Slack)"]
    assert slack_db.calls("chat.postEphemeral") == []


def test_a_reply_that_only_mentions_the_words_gets_a_hint_and_changes_nothing(slack):
    ticket = slack.say("Voicemail from ACME: server down")
    before = slack.page_of(ticket)

    slack.say("I am not on it", user=TOM, thread_ts=ticket["ts"])
    slack.say("is this done?", user=AISHA, thread_ts=ticket["ts"])

    hints = slack.calls("chat.postEphemeral")
    assert [(h["channel"], h["user"], h["thread_ts"], h["text"]) for h in hints] == [
        (SUPPORT, TOM, ticket["ts"], ACK_HINT), (SUPPORT, AISHA, ticket["ts"], ACK_HINT)]
    assert "begin your reply with On It! or Done" in ACK_HINT
    assert slack.page_of(ticket) == before  # still open, nothing in the timeline
    assert slack.thread_texts(ticket["ts"]) == []


def test_chatter_and_people_off_the_team_get_no_hint(slack):
    ticket = slack.say("Voicemail from ACME: server down")
    slack.say("thanks, looking into it now", user=AISHA, thread_ts=ticket["ts"])
    slack.say("is this done?", user=FRONT_DESK, thread_ts=ticket["ts"])  # the front desk asking, not acknowledging
    assert slack.calls("chat.postEphemeral") == []
    assert slack.page_of(ticket).state == "open"


def test_an_sms_sentence_takes_the_page_and_a_mere_mention_is_answered_with_how_to(make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()

    assert sms_reply(bot.text_in("I am not on it")) == [
        "Reply 1 (or ON IT) to take your pages, DONE when resolved; add a page number to pick one, e.g. DONE 42."]
    assert bot.page(page_id)["state"] == "open"

    assert sms_reply(bot.text_in("on it!! 🙏 will call")) == [f"On It! recorded for page #{page_id}."]
    assert bot.page(page_id)["state"] == "on_it"
    assert "On It! Aisha Khan at 22:16 (via SMS)" in bot.thread(page_id)
    assert sms_reply(bot.text_in("Done - refunded")) == [f"Done recorded for page #{page_id}."]
    assert bot.page(page_id)["state"] == "done"
