"""Issue 14, item 3: storms keep to Slack's pace (about one message per second per channel, bursts allowed).
What backs up is grouped (a page's thread lines into one post, a person's DMs into one digest DM, a card's
redraws into one) and the rest waits its turn; nothing is lost. The pure rule with times passed in, then the
bot as `serve` wires it, on an injected clock, the real slack_sdk client against the loopback fake."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.domain.pacing import GROUPED_MAX_CHARS, Bucket, Queued, SlackPace, Unit, pace_slack, queued_for_slack
from oncallbot.services import paging
from oncallbot.services.delivery import SlackPacer, claim_pending
from tests.fakes import FakeSlack, FakeTwilio
from tests.harness.twilio import build_bot

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
PACE = SlackPace(per_second=1.0, burst=4)
SUPPORT = "channel:support"


def posts(n: int, start: int = 1, destination: str = SUPPORT, group=None) -> list[Queued]:
    return [Queued(start + i, destination, group) for i in range(n)]


# --- the rule ----------------------------------------------------------------------------------------------------

def test_an_idle_channel_takes_a_burst_then_one_message_a_second():
    plan = pace_slack(posts(10), {}, PACE, T0)
    assert [u.id for u in plan.send] == [1, 2, 3, 4]
    assert [row for row, _ in plan.defer] == [5, 6, 7, 8, 9, 10]
    assert dict(plan.defer)[5] == T0 + timedelta(seconds=1) and dict(plan.defer)[10] == T0 + timedelta(seconds=6)
    back = [Queued(5, SUPPORT, None, reserved=True)]  # its slot came: sent, not deferred again
    later = pace_slack([*back, *posts(2, start=11)], plan.buckets, PACE, T0 + timedelta(seconds=1))
    assert [u.id for u in later.send] == [5]
    assert dict(later.defer) == {11: T0 + timedelta(seconds=7), 12: T0 + timedelta(seconds=8)}  # behind 6..10


def test_a_destination_that_rested_gets_its_burst_back_and_no_more():
    plan = pace_slack(posts(4), {SUPPORT: Bucket(-3.0, T0)}, PACE, T0 + timedelta(minutes=5))
    assert [u.id for u in plan.send] == [1, 2, 3, 4] and plan.defer == ()


def test_rounds_that_began_out_of_order_never_count_the_same_second_twice():
    second = T0 + timedelta(seconds=1)
    late = pace_slack(posts(1), {SUPPORT: Bucket(0.5, second)}, PACE, second)
    earlier = pace_slack(posts(1, start=2), late.buckets, PACE, T0 + timedelta(seconds=0.5))  # began before
    again = pace_slack(posts(1, start=3), earlier.buckets, PACE, second)
    slots = {**dict(late.defer), **dict(earlier.defer), **dict(again.defer)}
    assert slots == {1: second + timedelta(seconds=0.5), 2: second + timedelta(seconds=1.5),
                     3: second + timedelta(seconds=2.5)}  # one a second, the half second not given back


def test_cards_are_never_merged_and_keep_their_order():
    cards = posts(6)  # group None: each page's card is its own message with its own buttons
    plan = pace_slack(cards, {}, PACE, T0)
    assert plan.send == (Unit(1), Unit(2), Unit(3), Unit(4))


def test_thread_lines_of_one_page_that_back_up_become_one_post_after_the_card():
    queued = [Queued(1, SUPPORT, None), *[Queued(i, SUPPORT, "thread:7") for i in range(2, 9)],
              Queued(9, SUPPORT, "thread:8")]
    plan = pace_slack(queued, {SUPPORT: Bucket(2.0, T0)}, PACE, T0)
    assert plan.send == (Unit(1), Unit(2, (3, 4, 5, 6, 7, 8)))
    assert [row for row, _ in plan.defer] == [9]


def test_lines_that_fit_are_sent_as_they_are():
    plan = pace_slack(posts(3, group="thread:7"), {}, PACE, T0)
    assert plan.send == (Unit(1), Unit(2), Unit(3))


def test_a_storm_of_dms_to_one_person_is_one_digest_dm_and_buttons_stay_apart():
    dms = [queued_for_slack(i, "page", None, "aisha", i) for i in range(1, 31)]
    reminder = queued_for_slack(31, "reminder", None, "aisha", 99)
    plan = pace_slack([*dms, reminder], {}, PACE, T0)
    assert plan.send == (Unit(1, tuple(range(2, 31))), Unit(31))
    assert plan.defer == ()


def test_dms_that_keep_coming_join_the_digest_already_waiting_rather_than_queue_one_slot_each():
    """A storm that lasts: one person's DMs arrive round after round. Each round's DMs wait with the digest
    already waiting, so the person gets one DM a slot however long it goes on, not a queue that grows a row at
    a time (with a 10,000-page run: thousands of slots, hours behind)."""
    buckets, slots, sent = {}, {}, 0
    for tick in range(150):  # five pages a second for 30 s, each DM in a round (a claim) of its own
        plan = pace_slack([queued_for_slack(tick + 1, "page", None, "aisha", tick + 1)], buckets, PACE,
                          T0 + timedelta(seconds=tick / 5))
        buckets, sent = plan.buckets, sent + len(plan.send)
        slots.update(plan.defer)
    assert sent + len(slots) == 150  # nothing lost
    assert len(set(slots.values())) <= 31  # one slot a second at most...
    assert max(slots.values()) <= T0 + timedelta(seconds=31)  # ...so the last waits a second, not two minutes


def test_a_group_that_outgrows_one_message_takes_another_slot():
    """A grouped message stays under Slack's advised 4,000 characters: words beyond take a slot of their own."""
    full = GROUPED_MAX_CHARS // 2 + 1
    first = pace_slack([replace(queued_for_slack(1, "page", None, "aisha", 1), chars=full)],
                       {"dm:aisha": Bucket(0.0, T0)}, PACE, T0)
    second = pace_slack([replace(queued_for_slack(2, "page", None, "aisha", 2), chars=full)], first.buckets, PACE, T0)
    third = pace_slack([replace(queued_for_slack(3, "page", None, "aisha", 3), chars=10)], second.buckets, PACE, T0)
    slots = {**dict(first.defer), **dict(second.defer), **dict(third.defer)}
    assert slots[1] != slots[2]  # two halves and more do not fit one message
    assert slots[3] == slots[2]  # a short one joins the one with room
    within = pace_slack([replace(q, chars=full) for q in (queued_for_slack(i, "page", None, "aisha", i)
                                                          for i in (4, 5, 6))], {}, PACE, T0)
    assert all(len(unit.folded) == 0 for unit in within.send)  # the same within one round, even with tokens


def test_redraws_of_one_card_are_one_redraw_and_not_paced():
    updates = [queued_for_slack(i, "card_update", "support", None, 7) for i in range(1, 6)]
    other = queued_for_slack(6, "card_update", "support", None, 8)
    plan = pace_slack([*updates, other], {}, PACE, T0)
    assert plan.send == (Unit(1, (2, 3, 4, 5)), Unit(6)) and plan.defer == ()


# --- the bot: a storm against the fake Slack ---------------------------------------------------------------------

SLACK_FIRST = {"steps": [{"notify": "oncall", "channels": ["slack"], "after": "0m"}], "repeat_every": "15m",
               "max_repeats": 0}


@pytest.fixture
def bot(database_url):
    with FakeSlack() as slack, FakeTwilio() as twilio:
        served = build_bot(database_url, twilio, slack, escalation=SLACK_FIRST)
        # slack.pace {per_second: 1, burst: 4, group_cards: false}: each card its own message, in turn (a storm's
        # cards folded into storm messages: tests/test_storm_messages.py)
        served.container.slack_pacer = SlackPacer(SlackPace(PACE.per_second, PACE.burst, group_cards=False))
        yield served
        served.client.__exit__(None, None, None)
        served.store.dispose()


def test_a_storm_of_pages_keeps_to_slacks_pace_groups_dms_and_loses_nothing(bot):
    container, clock, slack = bot.container, bot.clock, bot.slack
    support = container.settings.slack.support_channel
    pages = [paging.open_page(bot.store, bot.procedure, paging.NewPage(summary=f"Storm ticket {n}", source="api"),
                              clock.now())[0].id for n in range(12)]
    container.deliver_now()
    assert len(slack.messages(support)) == 4  # the burst; the other cards wait their turn
    waiting = pages[-1]  # taken while its card still waits: the card, when posted, shows it taken
    paging.acknowledge_page(bot.store, bot.procedure, waiting, "aisha", "on_it", "slack", clock.now())
    container.deliver_now()
    for _ in range(8):  # the outbox's next rounds, one second apart: one card each
        clock.advance(timedelta(seconds=1))
        container.deliver_now()
    cards = [m for m in slack.messages(support) if not m.get("thread_ts")]
    assert sorted(int(m["text"].split("#")[1].split(":")[0]) for m in cards) == pages  # every card, once
    taken = next(m for m in cards if f"#{waiting}:" in m["text"])
    assert "On It" in str(taken["blocks"])
    with bot.store.reading() as tx:
        assert [n.state for n in tx.notifications_of(waiting) if n.kind == "card_update"] == ["grouped"]
    escalating = [p for p in pages if p != waiting]  # taken: it does not escalate

    clock.advance(timedelta(minutes=15))  # nobody answered: every page's first step, a Slack DM, at once
    paging.fire_due_escalations(bot.store, bot.procedure, clock.now())
    container.deliver_now()
    dms = [m for person in bot.procedure.team.people if person.slack_id
           for m in slack.dms_to(person.slack_id) if "Storm ticket" in m["text"]]
    assert len(dms) == 1  # one digest DM, not eleven
    assert all(f"#{page_id}" in dms[0]["text"] for page_id in escalating)
    for page_id in escalating:  # each page's timeline says its person was notified
        body = bot.client.get(f"/api/v1/pages/{page_id}", headers={"Authorization": "Bearer test-api-token"}).json()
        assert any(e["event"] == "notified" and e["channel"] == "slack" for e in body["timeline"])

    for _ in range(20):  # the thread lines: paced too, a page's lines in one post; all of them in the end
        clock.advance(timedelta(seconds=1))
        container.deliver_now()
    threads = {m["thread_ts"] for m in slack.messages(support) if m.get("thread_ts")}
    assert len(threads) == len(pages)  # every page's thread got its lines (the taken one its On It!)


def test_a_pages_text_is_claimed_before_a_backlog_of_slack_messages(bot):
    """Slack rows left over from a storm (due again, each to be paced and perhaps deferred once more) never hold
    a page's SMS back: the outbox claims texts, calls and emails first, then Slack's rows, oldest first."""
    now = bot.clock.now()
    with bot.store.transaction() as tx:
        for n in range(30):
            tx.add_notification(f"backlog:{n}", now, kind="thread", channel="slack", text=f"Step line {n}",
                                target="support")
        tx.add_notification("page-text", now, kind="page", channel="sms", person_id="aisha",
                            text="Page #1: printer on fire")
    with bot.store.transaction() as tx:
        first = claim_pending(tx, bot.procedure, now, batch=10)
    assert [message.channel for message, _ in first.messages][:1] == ["sms"]
