"""Due steps fired in batches (one transaction, a few queries for the whole batch): what a person receives
must be exactly what they would get if every page were fired in a round of its own."""

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from oncallbot.adapters.db import Store
from oncallbot.services import paging
from tests.harness.pager import Pager, run_concurrently


def phone_messages(pager, person_id):
    """What reached the person's phone (sorted: sends run in parallel)."""
    return sorted((m.kind, m.channel) for m in pager.deliverer.sent
                  if m.person and m.person.id == person_id and m.channel in ("sms", "voice"))


def paged(store, page_id):
    """Who the page's steps queued a page to, on which channel (not counting rows grouped into a digest)."""
    with store.transaction() as tx:
        return sorted((n.person_id, n.channel) for n in tx.notifications_of(page_id)
                      if n.kind == "page" and n.state != "grouped")


def step_counts(store, page_ids):
    with store.transaction() as tx:
        return Counter(e.page_id for e in tx.events_of_pages(page_ids) if e.kind == "step")


@pytest.mark.parametrize("batch", [1, 200], ids=["a round each", "one batch"])
def test_pages_due_together_give_one_text_one_call_then_one_digest(store, batch):
    pager = Pager(store)
    first, *others = [pager.open(f"Ticket {i}").id for i in range(5)]
    pager.clock.advance(timedelta(minutes=15))  # all five come due for Aisha at the same moment
    assert paging.fire_due_escalations(store, pager.procedure, pager.clock.now(), batch=batch) == 5
    pager.deliver()
    assert phone_messages(pager, "aisha") == [("digest", "sms"), ("page", "sms"), ("page", "voice")]
    for page_id in others:
        assert "grouped" in [e.kind for e in pager.page(page_id).timeline]
    # Her one reply takes every page that is waiting on her.
    result = paging.acknowledge_phone_reply(store, pager.procedure, "+14155550105", "1", pager.clock.now())
    assert sorted(p.id for p in result.pages) == [first, *others]


def test_steps_that_came_due_together_after_downtime_keep_to_the_call_throttle(store):
    pager = Pager(store, escalation={"steps": [{"notify": "oncall", "channels": ["voice"]}], "repeat_every": "2m",
                                     "max_repeats": 6, "phone_throttle": {"calls": 3, "per": "15m"}})
    page = pager.open()
    pager.clock.advance(timedelta(minutes=27))  # down for all of it: the first step and six repeats are due at once
    assert paging.fire_due_escalations(store, pager.procedure, pager.clock.now()) == 7
    pager.deliver()
    assert phone_messages(pager, "aisha") == [("page", "voice")] * 3
    kinds = Counter(e.kind for e in pager.page(page.id).timeline)
    assert kinds["step"] == 7 and kinds["throttled"] == 4


def test_a_person_opted_out_of_their_phone_is_not_texted_or_called_by_any_page_of_a_batch(store):
    pager = Pager(store)
    with store.transaction() as tx:
        tx.opt_out("aisha", "sms", pager.clock.now(), "STOP")
        tx.opt_out("aisha", "voice", pager.clock.now(), "STOP")
    page_ids = [pager.open(f"Ticket {i}").id for i in range(3)]
    pager.advance(15)
    assert phone_messages(pager, "aisha") == []
    for page_id in page_ids:  # paged on Slack instead, for each page
        assert paged(store, page_id) == [("aisha", "slack")]
    pager.advance(15)  # her manager, who did not opt out, is phoned once and gets the digest for the rest
    assert phone_messages(pager, "omar") == [("digest", "sms"), ("page", "sms"), ("page", "voice")]
    assert phone_messages(pager, "aisha") == []


def test_a_page_held_by_an_acknowledgment_in_flight_is_skipped_then_never_fired(store):
    pager = Pager(store)
    held, *others = [pager.open(f"Ticket {i}").id for i in range(4)]
    pager.clock.advance(timedelta(minutes=15))
    if store.dialect == "postgresql":
        # Another replica's acknowledgment holds the page's row while this replica claims its batch: skipped,
        # not waited for (SKIP LOCKED).
        engine = create_engine(store.url)
        with engine.connect() as connection, connection.begin():
            connection.execute(text("SELECT id FROM pages WHERE id = :id FOR UPDATE"), {"id": held})
            assert paging.fire_due_escalations(store, pager.procedure, pager.clock.now()) == 3
        engine.dispose()
    paging.acknowledge_page(store, pager.procedure, held, "aisha", "on_it", "slack", pager.clock.now())
    paging.fire_due_escalations(store, pager.procedure, pager.clock.now())
    pager.deliver()
    assert step_counts(store, [held, *others]) == {page_id: 1 for page_id in others}
    assert pager.page(held).state == "on_it"
    assert paged(store, held) == []
    assert all(paged(store, page_id) == [("aisha", "sms"), ("aisha", "voice")] for page_id in others[:1])


def test_two_replicas_racing_over_the_same_due_pages_fire_each_step_once(store):
    pager = Pager(store)
    page_ids = [pager.open(f"Ticket {i}").id for i in range(30)]
    pager.clock.advance(timedelta(minutes=46))  # three steps due for every page
    replicas = [Store(store.url), Store(store.url)]  # each its own engine and connections, as two processes
    turn = iter(replicas * 2)
    errors = run_concurrently(lambda: paging.fire_due_escalations(next(turn), pager.procedure, pager.clock.now(),
                                                                  batch=7), 4)
    for replica in replicas:
        replica.dispose()
    assert errors == []
    assert step_counts(store, page_ids) == {page_id: 3 for page_id in page_ids}
    with store.transaction() as tx:
        assert {tx.page(page_id).fired for page_id in page_ids} == {3}
