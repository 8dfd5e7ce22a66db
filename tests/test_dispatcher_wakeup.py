"""Issue 14, item 4: the dispatcher wakes at the next due time instead of polling every 0.2 s. It sleeps until
the earliest step it knows of; a page committed due sooner wakes it (in process on SQLite, through PostgreSQL
LISTEN/NOTIFY from another replica); a slow poll stays as the safety net. The threaded tests give the
dispatcher an hour-long poll, so only a wake-up can make it fire in time."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from oncallbot import bootstrap
from oncallbot.adapters.db import Store
from oncallbot.adapters.db.wakeup import DueWakeup
from oncallbot.domain.paging import EscalationPlan, PlannedStep
from oncallbot.entrypoints.scheduler import FIRE_BEHIND_MAX_SECONDS, FIRE_POLL_SECONDS, Dispatcher
from oncallbot.services.paging import plan_to_json
from tests.harness.clock import FakeClock
from tests.harness.config import example_settings
from tests.harness.e2e import wait_until as harness_wait_until

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # a night: the example team's on-call person is paged
HOUR = 3600.0


def add_due_page(store: Store, due_at: datetime, summary: str = "Voicemail from ACME: server down") -> int:
    """A page whose first step (Slack to aisha) falls due at `due_at`, committed as any intake commits one."""
    plan = EscalationPlan(due_at, (PlannedStep("oncall", ("aisha",), ("slack",), timedelta(0)),),
                          timedelta(minutes=15), 0)
    with store.transaction() as tx:
        page = tx.add_page(summary=summary, source="api", state="open", responsible="aisha",
                           created_at=due_at - timedelta(minutes=15), deadline_at=due_at, plan=plan_to_json(plan),
                           fired=0, next_due_at=due_at)
        assert page is not None
        return page.id


def fired(store: Store, page_id: int) -> int:
    with store.reading() as tx:
        page = tx.page(page_id)
        assert page is not None
        return page.fired


def wait_until(condition, timeout: float = 20.0) -> bool:
    """The harness's poll with a deadline (the threads run on their own)."""
    return bool(harness_wait_until(condition, timeout, "the dispatcher thread", interval=0.01))


def container_on(database_url: str, clock: FakeClock) -> bootstrap.Container:
    return bootstrap.build(example_settings(), bootstrap.Environment(database_url=database_url), clock=clock)


# --- the wake-up itself -------------------------------------------------------------------------------------------

def test_a_step_announced_sooner_than_the_known_one_wakes_the_waiter():
    wakeup = DueWakeup()
    wakeup.announce(NOW + timedelta(minutes=1))
    assert wakeup.wait(NOW + timedelta(minutes=5), timeout=HOUR) is True  # returns at once, not in an hour


def test_a_step_announced_later_than_the_known_one_does_not_wake_it():
    wakeup = DueWakeup()
    wakeup.announce(NOW + timedelta(minutes=10))
    assert wakeup.wait(NOW + timedelta(minutes=5), timeout=0) is False


def test_an_announcement_made_while_the_dispatcher_was_busy_is_not_lost():
    wakeup = DueWakeup()
    wakeup.announce(NOW)  # while the round runs, before the dispatcher waits
    assert wakeup.wait(None, timeout=HOUR) is True
    assert wakeup.wait(None, timeout=0) is False  # seen once, then forgotten


def test_a_commit_announces_its_earliest_step_and_a_rollback_announces_nothing(database_url):
    store = Store(database_url)
    try:
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.add_page(summary="rolled back", source="api", state="open", responsible="aisha", created_at=NOW,
                        deadline_at=NOW, plan="{}", fired=0, next_due_at=NOW - timedelta(hours=1))
            raise RuntimeError("the intake failed")
        assert store.wakeup.wait(NOW + timedelta(days=1), timeout=0) is False
        add_due_page(store, NOW + timedelta(minutes=3))
        add_due_page(store, NOW + timedelta(minutes=2))
        assert store.wakeup.wait(NOW + timedelta(minutes=2, seconds=30), timeout=0) is True
    finally:
        store.dispose()


# --- how long it sleeps (the injected clock) ----------------------------------------------------------------------

def test_the_dispatcher_sleeps_until_the_next_step_and_never_past_its_safety_poll(database_url):
    clock = FakeClock(NOW)
    container = container_on(database_url, clock)
    try:
        dispatcher = Dispatcher(container, poll=HOUR)
        add_due_page(container.database, NOW + timedelta(seconds=42))
        full_round_at = time.monotonic() + HOUR
        assert dispatcher.run_round(full=True) == NOW + timedelta(seconds=42)
        assert dispatcher.seconds_until(dispatcher.next_due_at, full_round_at) == pytest.approx(42, abs=0.5)
        assert Dispatcher(container).seconds_until(None, time.monotonic() + FIRE_POLL_SECONDS) <= FIRE_POLL_SECONDS
        clock.advance(timedelta(seconds=42))
        assert dispatcher.run_round(full=False) is None  # fired: nothing else is due
    finally:
        container.database.dispose()


def test_a_step_left_due_is_looked_at_again_less_often_not_in_a_busy_loop(database_url):
    container = container_on(database_url, FakeClock(NOW))
    try:
        dispatcher = Dispatcher(container, poll=5.0, coalesce=0.02)
        overdue, full_round_at = NOW - timedelta(seconds=1), time.monotonic() + HOUR
        waits = [dispatcher.seconds_until(overdue, full_round_at) for _ in range(10)]
        assert waits[0] > 0 and waits == sorted(waits) and waits[-1] == FIRE_BEHIND_MAX_SECONDS
        dispatcher.fired = 3  # a round that fired steps and left more due (another replica's): look again soon
        assert dispatcher.seconds_until(overdue, full_round_at) == 0
    finally:
        container.database.dispose()


# --- real threads: a page due now is fired although the poll is an hour -------------------------------------------

def test_a_page_opened_in_this_process_wakes_its_dispatcher(database_url):
    clock = FakeClock(NOW)
    container = container_on(database_url, clock)
    dispatcher = Dispatcher(container, poll=HOUR)
    try:
        add_due_page(container.database, NOW + timedelta(hours=2))  # what it knows of: a step in two hours
        dispatcher.start()
        assert wait_until(lambda: dispatcher.rounds >= 1 and dispatcher.next_due_at is not None)
        rounds = dispatcher.rounds
        page_id = add_due_page(container.database, NOW)  # due now: must not wait two hours (or the poll)
        assert wait_until(lambda: fired(container.database, page_id) == 1)
        assert wait_until(lambda: dispatcher.rounds > rounds)
    finally:
        dispatcher.stop()
        container.database.dispose()
    assert not dispatcher.is_alive()


def test_a_page_opened_by_another_replica_wakes_this_one_through_postgresql(pg_url):
    clock = FakeClock(NOW)
    container = container_on(pg_url, clock)
    dispatcher = Dispatcher(container, poll=HOUR)
    other_replica = Store(pg_url)  # another process's store: its commits reach us only through NOTIFY
    try:
        dispatcher.start()
        assert wait_until(lambda: dispatcher._listener is not None and dispatcher._listener.listening.is_set())
        assert wait_until(lambda: dispatcher.rounds >= 1)
        page_id = add_due_page(other_replica, NOW)
        assert wait_until(lambda: fired(other_replica, page_id) == 1)
        with other_replica.reading() as tx:
            steps = [e for e in tx.events_of(page_id) if e.kind == "step"]
        assert len(steps) == 1  # fired once
    finally:
        dispatcher.stop()
        other_replica.dispose()
        container.database.dispose()


def test_two_dispatchers_woken_together_fire_each_step_once(pg_url):
    clock = FakeClock(NOW)
    replicas = [container_on(pg_url, clock) for _ in range(2)]
    dispatchers = [Dispatcher(c, poll=HOUR) for c in replicas]
    writer = Store(pg_url)
    try:
        for dispatcher in dispatchers:
            dispatcher.start()
        assert wait_until(lambda: all(d._listener is not None and d._listener.listening.is_set()
                                      for d in dispatchers))
        page_ids = [add_due_page(writer, NOW, f"Ticket {n}") for n in range(30)]
        assert wait_until(lambda: all(fired(writer, p) == 1 for p in page_ids))
        with writer.reading() as tx:
            steps = {p: sum(1 for e in tx.events_of(p) if e.kind == "step") for p in page_ids}
        assert set(steps.values()) == {1}
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        writer.dispose()
        for container in replicas:
            container.database.dispose()
