"""Issue 7, item 6: one sync of a calendar at a time, across replicas. A sync claims its calendar in the
database first; a second one that finds the claim held skips quietly, and says so."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot import bootstrap
from oncallbot.config import load_settings
from oncallbot.domain.rotation import CalendarEvent
from oncallbot.entrypoints.cli import main
from oncallbot.errors import IntegrationError
from oncallbot.services.rotation import SYNC_CLAIM, CalendarFetch, sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG
from tests.harness.pager import run_concurrently
from tests.harness.rotation import PROCEDURE, on_call

NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
WEEKS = [date(2027, 1, 4) + timedelta(weeks=i) for i in range(13)]


def week_event(week_start: date, person_id: str) -> CalendarEvent:
    start, end = PROCEDURE.window.bounds(week_start)
    return CalendarEvent(f"{person_id}-{week_start}", f"On call: {person_id}", start, end)


class SlowSource:
    """A calendar whose fetch waits until `release` is set, so two syncs overlap for certain."""

    key = "test:slow"

    def __init__(self, person_id: str = "kelly"):
        self.person_id = person_id
        self.release = threading.Event()
        self.fetches = 0
        self.during_fetch = None  # called inside the fetch: another replica's sync, say

    def fetch(self, sync_token, start_at, end_at):
        self.fetches += 1
        if self.during_fetch:
            self.during_fetch()
        else:
            assert self.release.wait(timeout=5), "the other sync never finished"
        return CalendarFetch(full=True, events=[week_event(w, self.person_id) for w in WEEKS], removed_ids=[])


def test_two_replicas_syncing_at_the_same_moment_sync_once(store):
    source = SlowSource()
    results = []

    def replica():
        result = sync_rotation(store, source, PROCEDURE, NOW)
        results.append(result)
        if result.skipped:
            source.release.set()  # the one that got the claim may finish now

    errors = run_concurrently(replica, threads=2)

    assert errors == []
    assert sorted(r.skipped for r in results) == [False, True]
    assert source.fetches == 1
    synced = next(r for r in results if not r.skipped)
    assert len(synced.shifts) == len(WEEKS)
    assert on_call(store, datetime(2027, 1, 5, 22, 0, tzinfo=PROCEDURE.window.tz)) == "kelly"
    # The claim is given back: the next sync runs.
    source.release.set()
    assert not sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=10)).skipped


def test_a_claim_left_by_a_replica_that_died_expires(store):
    source = SlowSource()
    source.release.set()
    with store.transaction() as tx:  # a replica claimed the calendar, then was killed mid-fetch
        assert tx.claim_sync(source.key, "dead-replica", NOW, NOW + SYNC_CLAIM)

    assert sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=1)).skipped
    assert source.fetches == 0
    assert not sync_rotation(store, source, PROCEDURE, NOW + SYNC_CLAIM).skipped
    assert source.fetches == 1


def test_a_sync_whose_claim_expired_mid_fetch_does_not_overwrite_the_one_that_took_over(store):
    slow, fresh = SlowSource("kelly"), SlowSource("marcus")
    fresh.release.set()
    fresh.key = slow.key  # the same calendar, read again by another replica
    taken_over = []
    slow.during_fetch = lambda: taken_over.append(sync_rotation(store, fresh, PROCEDURE, NOW + SYNC_CLAIM))

    late = sync_rotation(store, slow, PROCEDURE, NOW)

    assert [r.skipped for r in taken_over] == [False]
    assert late.skipped
    assert on_call(store, datetime(2027, 1, 5, 22, 0, tzinfo=PROCEDURE.window.tz)) == "marcus"


def test_a_failed_fetch_gives_the_claim_back(store):
    class Unreachable:
        key = "test:slow"

        def fetch(self, sync_token, start_at, end_at):
            raise IntegrationError("calendar unreachable")

    with pytest.raises(IntegrationError):
        sync_rotation(store, Unreachable(), PROCEDURE, NOW)
    source = SlowSource()
    source.release.set()
    assert not sync_rotation(store, source, PROCEDURE, NOW).skipped


def test_sync_command_says_plainly_that_another_sync_is_running(capsys, tmp_path):
    clock = FakeClock(NOW)
    container = bootstrap.build(load_settings(str(EXAMPLE_CONFIG)), clock=clock)
    container.store.ensure_schema()
    with container.store.transaction() as tx:  # `serve` is in the middle of a sync
        tx.claim_sync(container.rotation_source.key, "serve", NOW, NOW + SYNC_CLAIM)
    container.store.dispose()

    code = main(["sync", "--config", str(EXAMPLE_CONFIG)], clock=clock)

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("skipped: another sync of ") and "is running" in out
