"""Issue 7, item 15: a page left at On It! is chased. After `acknowledgment.done_reminder` (default 2h)
its holder gets a Slack DM asking whether it is done, then, after another done_reminder, an SMS; each
once, across replicas."""

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.config import parse_settings
from oncallbot.domain.paging import done_reminder_cutoffs, done_reminder_due
from oncallbot.entrypoints.scheduler import fire_job
from oncallbot.errors import ConfigError
from oncallbot.services import paging
from tests.harness.config import EXAMPLE_CONFIG, example_data
from tests.harness.pager import LA, Pager, run_concurrently
from tests.harness.slack import AISHA, block_texts, button_ids

AISHA_PHONE = "+14155550105"


def tick(pager: Pager, minutes: float) -> int:
    """What the scheduler's dispatcher does after `minutes`: due steps, due reminders, then the outbox."""
    pager.clock.advance(timedelta(minutes=minutes))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
    reminded = paging.fire_due_done_reminders(pager.store, pager.procedure, pager.clock.now())
    pager.deliver()
    return reminded


def reminders(pager: Pager, person_id: str = "aisha", channel: str | None = None):
    return pager.deliverer.to(person_id, channel, kind="reminder")


# --- the rule --------------------------------------------------------------------------------------------


def test_the_schedule_is_a_dm_after_the_delay_then_an_sms_after_another():
    on_it = datetime(2026, 11, 24, 22, 1, tzinfo=LA)
    first, second = done_reminder_due(on_it, 0, timedelta(hours=2)), done_reminder_due(on_it, 1, timedelta(hours=2))
    assert (first.channel, first.due_at) == ("slack", on_it + timedelta(hours=2))
    assert (second.channel, second.due_at) == ("sms", on_it + timedelta(hours=4))
    assert first.channels == ("slack", "sms") and second.channels == ("sms", "slack")  # what the holder can receive
    assert done_reminder_due(on_it, 2, timedelta(hours=2)) is None  # then no more
    assert done_reminder_due(on_it, 0, None) is None  # off
    now = on_it + timedelta(hours=5)
    assert done_reminder_cutoffs(now, timedelta(hours=2)) == ((0, now - timedelta(hours=2)),
                                                              (1, now - timedelta(hours=4)))


def test_done_reminder_is_configured_like_the_other_durations():
    def reminder(value):
        data = example_data()
        data["acknowledgment"] = {"window": "15m", "done_reminder": value}
        return parse_settings(data, EXAMPLE_CONFIG.parent).acknowledgment.done_reminder

    assert parse_settings(example_data(), EXAMPLE_CONFIG.parent).acknowledgment.done_reminder == timedelta(hours=2)
    assert reminder("90m") == timedelta(minutes=90)
    assert reminder("off") is None and reminder(False) is None and reminder(None) is None  # YAML `off` is false
    for bad, problem in (("soon", '"soon" is not a duration (use e.g. 30m, 2h, 1d) or off'),
                         ("0m", '"0m" must be longer than zero (or off)')):
        with pytest.raises(ConfigError) as caught:
            reminder(bad)
        assert caught.value.problems == [f"acknowledgment.done_reminder: {problem}"]


# --- the reminders -----------------------------------------------------------------------------------------


@pytest.fixture
def pager(store):
    return Pager(store)


def test_a_page_left_at_on_it_gets_a_dm_then_an_sms_each_once(pager):
    page = pager.open()
    pager.clock.advance(timedelta(minutes=1))
    pager.ack(page.id, "aisha", "on_it")  # 22:01
    assert tick(pager, 119.9) == 0 and reminders(pager) == []

    assert tick(pager, 0.1) == 1  # 00:01, two hours after On It!
    [dm] = reminders(pager)
    assert dm.channel == "slack" and dm.card.id == page.id  # the card carries the Done button
    assert dm.text.startswith(f"Page #{page.id} has been On It! with you since Tue 22:01: Voicemail from ACME")
    assert "Is it done?" in dm.text
    assert pager.deliverer.phone_calls_and_texts() == []

    assert tick(pager, 119) == 0
    assert tick(pager, 1) == 1  # 02:01, another two hours
    [sms] = reminders(pager, channel="sms")
    assert sms.text == (f"[oncallbot] Page #{page.id} 'Voicemail from ACME: server down' is still On It! -- "
                        f"reply DONE {page.id} when resolved")
    assert pager.deliverer.phone_calls_and_texts() == [("aisha", "sms")]

    for _ in range(6):
        assert tick(pager, 120) == 0
    assert len(reminders(pager)) == 2  # exactly once each
    timeline = [(e.kind, e.person_id, e.channel) for e in pager.page(page.id).timeline if e.kind == "reminded"]
    assert timeline == [("reminded", "aisha", "slack"), ("reminded", "aisha", "sms")]

    reply = paging.acknowledge_phone_reply(pager.store, pager.procedure, AISHA_PHONE, f"DONE {page.id}",
                                           pager.clock.now())  # what the SMS says to do
    assert [p.id for p in reply.pages] == [page.id] and pager.page(page.id).state == "done"


def test_done_in_time_stops_the_reminders(pager):
    quick, slow = pager.open("Ticket 1"), pager.open("Ticket 2")
    pager.ack(quick.id, "aisha", "on_it")
    pager.ack(slow.id, "aisha", "on_it")
    tick(pager, 90)
    pager.ack(quick.id, "aisha", "done")
    tick(pager, 30)
    assert [m.card.id for m in reminders(pager)] == [slow.id]
    pager.ack(slow.id, "aisha", "done")
    for _ in range(4):
        tick(pager, 60)
    assert [m.card.id for m in reminders(pager)] == [slow.id]  # no SMS once it is done


def test_after_an_escalation_the_new_holder_is_chased_not_the_first(pager):
    page = pager.open()
    pager.ack(page.id, "aisha", "on_it")
    tick(pager, 60)
    paging.escalate_page(pager.store, pager.procedure, page.id, "aisha", "Needs a refund approval",
                         pager.clock.now())
    tick(pager, 10)
    pager.ack(page.id, "omar", "on_it")  # 23:10
    tick(pager, 110)  # 01:00: two hours after Aisha's On It!, but she gave it away
    assert reminders(pager, "aisha") == [] and reminders(pager, "omar") == []
    tick(pager, 10)  # 01:10: two hours after Omar's
    [dm] = reminders(pager, "omar")
    assert "since Tue 23:10" in dm.text
    tick(pager, 120)
    assert [m.channel for m in reminders(pager, "omar")] == ["slack", "sms"]
    assert reminders(pager, "aisha") == []


def test_a_holder_who_opted_out_of_sms_is_asked_on_slack_again(pager):
    page = pager.open()
    pager.ack(page.id, "aisha", "on_it")
    paging.acknowledge_phone_reply(pager.store, pager.procedure, AISHA_PHONE, "STOP", pager.clock.now())
    tick(pager, 120)
    tick(pager, 120)
    assert [m.channel for m in reminders(pager)] == ["slack", "slack"]
    assert pager.deliverer.phone_calls_and_texts() == []


def test_reminders_can_be_turned_off(store):
    pager = Pager(store, acknowledgment={"window": "15m", "done_reminder": "off"})
    page = pager.open()
    pager.ack(page.id, "aisha", "on_it")
    for _ in range(5):
        assert tick(pager, 120) == 0
    assert reminders(pager) == []


def test_a_confirmed_test_page_is_not_chased(store):
    pager = Pager(store, datetime(2026, 11, 23, 18, 1, tzinfo=LA))
    paging.open_test_page(store, pager.procedure, timedelta(minutes=15), pager.clock.now())
    assert paging.acknowledge_phone_reply(store, pager.procedure, AISHA_PHONE, "1", pager.clock.now()).pages
    for _ in range(5):
        assert tick(pager, 120) == 0
    assert reminders(pager) == []


def test_concurrent_dispatchers_send_each_reminder_once(pager):
    """Four dispatcher threads on one database (SKIP LOCKED on PostgreSQL, one writer on SQLite)."""
    page_ids = [pager.open(f"Ticket {i}").id for i in range(30)]
    for page_id in page_ids:
        paging.acknowledge_page(pager.store, pager.procedure, page_id, "aisha", "on_it", "slack", pager.clock.now())
    pager.clock.advance(timedelta(hours=4, minutes=1))  # both reminders are due for every page
    counts = []
    errors = run_concurrently(lambda: counts.append(
        paging.fire_due_done_reminders(pager.store, pager.procedure, pager.clock.now(), batch=7)), 4)
    assert errors == [] and sum(counts) == 60
    with pager.store.reading() as tx:
        queued = Counter((n.page_id, n.channel) for n in tx.session.scalars(
            select(NotificationRow).where(NotificationRow.kind == "reminder")))
    assert set(queued) == {(p, c) for p in page_ids for c in ("slack", "sms")} and set(queued.values()) == {1}
    assert paging.fire_due_done_reminders(pager.store, pager.procedure, pager.clock.now()) == 0


# --- through the scheduler and Slack ---------------------------------------------------------------------


def test_the_scheduler_dms_the_holder_with_a_done_button_that_closes_the_page(slack_db):
    ticket = slack_db.say("Ticket #4521: refund not received")
    page_id = slack_db.page_of(ticket).id
    slack_db.click("page.on_it", page_id, AISHA)
    slack_db.clock.advance(timedelta(hours=2))
    fire_job(slack_db.container)  # the scheduler's dispatcher job
    slack_db.container.deliver_now()  # the scheduler's outbox job

    [dm] = slack_db.fake.dms_to(AISHA)
    assert dm["text"].startswith(f"Page #{page_id} has been On It! with you since Mon 22:00")
    assert "Is it done?" in block_texts(dm["blocks"])
    assert button_ids(dm["blocks"]) == ["page.done"]
    [button] = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["value"] == str(page_id)

    slack_db.clock.advance(timedelta(minutes=5))
    slack_db.interact({  # Aisha presses Done in the DM
        "type": "block_actions", "user": {"id": AISHA, "username": "aisha", "team_id": "T1"},
        "trigger_id": "1.1.trigger", "response_url": f"{slack_db.fake.url}/response/dm",
        "container": {"type": "message", "message_ts": dm["ts"], "channel_id": dm["channel"], "is_ephemeral": False},
        "channel": {"id": dm["channel"], "name": "directmessage"}, "message": {"ts": dm["ts"], "text": dm["text"]},
        "actions": [{"type": "button", "action_id": "page.done", "block_id": button.get("block_id", "x"),
                     "value": str(page_id), "action_ts": "1.000001"}]})
    page = paging.get_page(slack_db.store, page_id)
    assert (page.state, page.done_by) == ("done", "aisha")
    assert slack_db.thread_texts(ticket["ts"])[-1] == "Done Aisha Khan at 00:05 (via Slack)"
    assert [json.loads(r.body)["text"] for r in slack_db.fake.requests_to("/response/dm")] == [
        "Done: Aisha Khan resolved this page."]

    slack_db.clock.advance(timedelta(hours=4))
    fire_job(slack_db.container)
    slack_db.container.deliver_now()
    assert len(slack_db.fake.dms_to(AISHA)) == 1  # done: nothing more
