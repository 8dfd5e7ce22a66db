"""Issue 14, item 3: a storm's cards grouped in the support channel. When cards back up behind Slack's pace
(about one post a second per channel), the ones that still have a token are posted as cards and the rest are
folded into one storm message per send; every page is still a page (stored, escalated, acknowledgeable), and
once the channel has tokens again a new page gets its own card. The pure rule with times passed in, the words
within Slack's limits, then the bot as `serve` wires it against the loopback fakes, on an injected clock."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.adapters.slack.blocks import BLOCKS_LIMIT, SECTION_TEXT_LIMIT, SLACK_TEXT_LIMIT, storm_blocks
from oncallbot.domain import wording
from oncallbot.domain.pacing import Bucket, Queued, SlackPace, Unit, pace_slack, queued_for_slack
from oncallbot.services.delivery import SlackPacer
from tests.fakes import FakeSlack
from tests.harness.slack import AISHA as AISHA_SLACK_ID
from tests.harness.slack import STRANGER, SUPPORT, SlackHarness
from tests.harness.twilio import sms_reply

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
PACE = SlackPace(per_second=1.0, burst=20)
CHANNEL = "channel:support"


def cards(n: int, start: int = 1) -> list[Queued]:
    return [queued_for_slack(i, "card", "support", None, i) for i in range(start, start + n)]


# --- the rule ----------------------------------------------------------------------------------------------------

def test_cards_that_back_up_wait_for_one_storm_message_and_the_burst_goes_as_cards():
    plan = pace_slack(cards(100), {}, PACE, T0)
    assert plan.send == tuple(Unit(i) for i in range(1, 21))  # the burst: a card each
    assert {row for row, _ in plan.defer} == set(range(21, 101))
    assert {until for _, until in plan.defer} == {T0 + timedelta(seconds=1)}  # one slot for all 80: one message

    meanwhile = pace_slack(cards(5, start=101), plan.buckets, PACE, T0 + timedelta(seconds=0.5))
    assert meanwhile.send == () and {until for _, until in meanwhile.defer} == {T0 + timedelta(seconds=1)}

    back = [Queued(row, CHANNEL, None, reserved=True, card=True, page_id=row) for row in range(21, 106)]
    at_slot = pace_slack([*back, *cards(3, start=106)], meanwhile.buckets, PACE, T0 + timedelta(seconds=1))
    assert at_slot.send == (Unit(21, tuple(range(22, 109)), storm=True),) and at_slot.defer == ()


def test_cards_still_coming_make_one_storm_message_a_second():
    buckets: dict = {}
    slots = []
    for second in range(5):
        plan = pace_slack(cards(50, start=1 + 50 * second), buckets, PACE, T0 + timedelta(seconds=second))
        buckets = dict(plan.buckets)
        slots.append(sorted({until for _, until in plan.defer}))
    assert slots[0] == [T0 + timedelta(seconds=1)]
    assert all(len(s) == 1 for s in slots)  # each second's cards share one slot, one storm message


def test_once_the_channel_has_tokens_again_a_new_page_gets_its_own_card():
    after_storm = {CHANNEL: Bucket(-1.0, T0)}
    plan = pace_slack(cards(1, start=500), after_storm, PACE, T0 + timedelta(seconds=3))
    assert plan.send == (Unit(500),) and plan.defer == ()


def test_a_folded_pages_thread_line_never_goes_before_its_storm_message():
    line = queued_for_slack(300, "thread", "support", None, 120)
    back = [Queued(row, CHANNEL, None, reserved=True, card=True, page_id=row) for row in (110, 120)]
    plan = pace_slack([*back, line], {CHANNEL: Bucket(5.0, T0)}, PACE, T0)  # tokens to spare, all the same
    assert plan.send == (Unit(110, (120,), storm=True),)
    assert [row for row, _ in plan.defer] == [300]


def test_lines_in_a_storm_messages_thread_that_back_up_are_one_post():
    lines = [queued_for_slack(i, "thread", "support", None, i, storm_thread="1700000000.000100") for i in range(1, 9)]
    plan = pace_slack(lines, {CHANNEL: Bucket(1.0, T0)}, PACE, T0)
    assert plan.send == (Unit(1, tuple(range(2, 9))),)


def test_with_group_cards_off_every_card_waits_its_own_turn():
    plan = pace_slack(cards(30), {}, SlackPace(1.0, 20, group_cards=False), T0)
    assert plan.send == tuple(Unit(i) for i in range(1, 21))
    assert [until for _, until in plan.defer] == [T0 + timedelta(seconds=s) for s in range(1, 11)]


# --- the words -----------------------------------------------------------------------------------------------------

def test_the_storm_message_for_5000_pages_stays_within_slacks_limits_and_says_where_to_act():
    pages = [(i, f"Alert {i % 7}: disk full on db-{i % 7} <@U123> " + "x" * 300, T0 + timedelta(seconds=i // 500))
             for i in range(21, 5021)]
    text = wording.storm_text(pages, UTC, "https://oncall.example.com/web/pages")
    blocks = storm_blocks(text)
    assert len(text) <= SLACK_TEXT_LIMIT and 0 < len(blocks) <= BLOCKS_LIMIT
    assert all(len(b["text"]["text"] if "text" in b else b["elements"][0]["text"]) <= SECTION_TEXT_LIMIT
               for b in blocks)
    assert "5000 more pages" in text and "03:00–03:00" not in text and "#21–#5020" in text
    assert text.count("• ") == 5 and "715 × Alert" in text  # the commonest five with their counts, cut short
    assert "<@U123>" not in text and "&lt;@U123&gt;" in text  # a caller's words never mention anyone
    for where in ("`on it #N`", "`/oncall pages`", "https://oncall.example.com/web/pages"):
        assert where in text


def test_a_storm_message_of_scattered_pages_does_not_claim_the_ones_in_between():
    pages = [(i, "Storm ticket", T0) for i in (3, 5, 9, 11, 13, 15, 17, 19)]
    assert "#3 to #19, not all in between" in wording.storm_text(pages, UTC, None)
    assert "#3, #5–#6" in wording.storm_text([(3, "a", T0), (5, "b", T0), (6, "c", T0)], UTC, None)


# --- the bot: 100 pages at once against the fake Slack --------------------------------------------------------------

def card_rows(bot, page_ids):
    with bot.store.reading() as tx:
        return {page_id: next(n for n in tx.notifications_of(page_id) if n.kind == "card") for page_id in page_ids}


def is_storm(message: dict) -> bool:
    return message["text"].startswith(":zap: *Storm:")


@pytest.mark.parametrize("group_cards", [True, False])
def test_100_pages_at_once_are_20_cards_then_storm_messages_none_lost_none_twice(make_bot, database_url,
                                                                                 group_cards):
    bot = make_bot(database_url)
    bot.container.slack_pacer = SlackPacer(SlackPace(1.0, 20, group_cards=group_cards), pages_url=None)
    support = bot.container.settings.slack.support_channel
    pages = [bot.open_page(f"Storm ticket {n}") for n in range(100)]
    for _ in range(3):  # the outbox's next rounds, a second apart
        bot.clock.advance(timedelta(seconds=1))
        bot.container.deliver_now()
    top = [m for m in bot.slack.messages(support) if not m.get("thread_ts")]
    rows = card_rows(bot, pages)
    if not group_cards:  # every page gets its card, in turn: 20, then one a second
        assert len(top) == 23 and not any(is_storm(m) for m in top)
        assert sum(1 for r in rows.values() if r.state == "sent") == 23
        return
    cards_posted = [m for m in top if not is_storm(m)]
    [storm] = [m for m in top if is_storm(m)]
    assert len(cards_posted) == 20 and "80 more pages" in storm["text"]
    assert f"#{pages[20]}–#{pages[-1]}" in storm["text"]
    assert "actions" not in str(storm.get("blocks"))  # no buttons: it stands for many pages
    assert {r.state for p, r in rows.items() if p in pages[:20]} == {"sent"}
    folded = [p for p in pages if p not in pages[:20]]
    assert {rows[p].state for p in folded[1:]} == {"grouped"} and rows[folded[0]].state == "sent"
    assert {rows[p].provider_ref for p in folded} == {storm["ts"]}  # each carries the storm message's ts
    carded = [int(re.search(r"#(\d+)", m["text"])[1]) for m in cards_posted]
    assert sorted(carded) == pages[:20]  # none twice; with the storm's 80: none lost

    listed = bot.client.get("/api/v1/pages?limit=200", headers={"Authorization": "Bearer test-api-token"}).json()
    assert {p["id"] for p in listed["pages"]} >= set(pages)  # every page is still a page

    bot.tick(16)  # nobody answered: every page's first step (SMS and call to Aisha, digested)
    taken = folded[10]
    assert sms_reply(bot.text_in(f"on it #{taken}")) == [f"On It! recorded for page #{taken}."]
    assert bot.page(taken)["state"] == "on_it"
    for _ in range(30):  # the thread lines, paced
        bot.clock.advance(timedelta(seconds=1))
        bot.container.deliver_now()
    in_storm = [m for m in bot.slack.messages(support) if m.get("thread_ts") == storm["ts"]]
    assert in_storm and all(m["text"].startswith("Page #") for m in in_storm)
    assert any(f"Page #{taken}: On It! Aisha Khan" in m["text"] for m in in_storm)
    assert [m for m in bot.slack.messages(support) if not m.get("thread_ts")] == top  # no line in the channel
    with bot.store.reading() as tx:
        assert not [n for p in folded for n in tx.notifications_of(p) if n.channel == "slack"
                    and n.state in ("pending", "sending", "failed")]  # redraws grouped, lines posted

    bot.clock.advance(timedelta(minutes=1))  # the storm is over: the channel has its tokens again
    later = bot.open_page("After the storm")
    last = bot.slack.messages(support)[-1]
    assert not last.get("thread_ts") and last["text"] == f"Page #{later}: After the storm" and last["blocks"]


# --- a reply in the storm message's thread -----------------------------------------------------------------------

@pytest.fixture
def slack_bot(database_url):
    with FakeSlack() as fake:
        harness = SlackHarness(database_url, fake)
        yield harness
        harness.close()


def test_a_reply_in_a_storm_messages_thread_acts_only_on_the_page_it_names(slack_bot):
    from oncallbot.services import paging

    store, procedure, clock = slack_bot.store, slack_bot.container.procedure, slack_bot.clock
    pages = [paging.open_page(store, procedure, paging.NewPage(summary=f"Storm ticket {n}", source="api"),
                              clock.now())[0].id for n in range(30)]
    slack_bot.container.deliver_now()
    clock.advance(timedelta(seconds=1))
    slack_bot.container.deliver_now()
    [storm] = [m for m in slack_bot.fake.messages(SUPPORT) if is_storm(m)]

    slack_bot.say("On it!", user=AISHA_SLACK_ID, thread_ts=storm["ts"])  # which page? none is taken
    hint = slack_bot.fake.requests_to("chat.postEphemeral")[-1].json
    assert "`on it #42`" in hint["text"] and hint["user"] == AISHA_SLACK_ID
    assert all(paging.get_page(store, p).state == "open" for p in pages)

    slack_bot.say(f"on it #{pages[25]}, calling them", user=AISHA_SLACK_ID, thread_ts=storm["ts"])
    assert paging.get_page(store, pages[25]).state == "on_it"
    assert [p for p in pages if paging.get_page(store, p).state != "open"] == [pages[25]]

    slack_bot.say(f"done #{pages[26]}", user=STRANGER, thread_ts=storm["ts"])  # not on the team: refused
    assert paging.get_page(store, pages[26]).state == "open"


def test_a_storm_of_different_summaries_shows_a_few_without_counts():
    text = wording.storm_text([(i, f"Ticket {i}", T0) for i in range(1, 40)], UTC, None)
    assert "For example:\n• Ticket 1\n" in text and "×" not in text and text.count("• ") == 5


def test_lines_that_waited_together_for_one_slot_come_back_as_one_post_not_one_each():
    lines = [queued_for_slack(i, "thread", "support", None, i, storm_thread="1700000000.000100") for i in range(1, 9)]
    plan = pace_slack(lines, {CHANNEL: Bucket(0.0, T0)}, PACE, T0)
    assert plan.send == () and {until for _, until in plan.defer} == {T0 + timedelta(seconds=1)}
    back = [Queued(row, CHANNEL, "storm:1700000000.000100", reserved=True, page_id=row) for row, _ in plan.defer]
    later = pace_slack(back, plan.buckets, PACE, T0 + timedelta(minutes=1))  # the channel is idle by then
    assert later.send == (Unit(1, tuple(range(2, 9))),)


def test_a_storm_message_takes_every_card_waiting_not_one_batch_of_them(make_bot, database_url):
    from oncallbot.services import paging

    bot = make_bot(database_url)
    bot.container.slack_pacer = SlackPacer(SlackPace(1.0, 20))
    support = bot.container.settings.slack.support_channel
    for n in range(300):  # queued faster than the outbox claims them (it claims 100 at a time)
        paging.open_page(bot.store, bot.procedure, paging.NewPage(summary=f"Storm ticket {n}", source="api"),
                         bot.clock.now())
    bot.container.deliver_now()
    bot.clock.advance(timedelta(seconds=1))
    bot.container.deliver_now()
    top = [m for m in bot.slack.messages(support) if not m.get("thread_ts")]
    assert len(top) == 21 and "280 more pages" in top[-1]["text"]  # the burst, then one message for the rest
    with bot.store.reading() as tx:
        states = [n.state for p in range(1, 301) for n in tx.notifications_of(p) if n.kind == "card"]
    assert states.count("sent") == 21 and states.count("grouped") == 279
