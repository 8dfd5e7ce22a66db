"""Issue 14, item 8: GET /api/v1/oncall answers from a copy of the rotation in memory. A change made on another
replica (a sync, an approved swap, an override) raises the rotation's version in the database, and the next
answer here already names the new person: a stale answer is the bug a user would notice."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from oncallbot import bootstrap
from oncallbot.adapters.db import Store
from oncallbot.domain.rotation import OverrideKind, RotationOverride
from oncallbot.entrypoints.http import create_app
from oncallbot.services import swaps
from oncallbot.services.overrides import apply_override
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import example_settings
from tests.harness.swaps import NOW, W1, W2, W3, W4, Swaps


@pytest.fixture
def replicas(database_url):
    """Replica "b" changes the rotation through its own store; replica "a" serves /oncall from its container."""
    other = Swaps(Store(database_url))  # syncs the published weeks: kelly, marcus, priya, diego, ...
    container = bootstrap.build(example_settings(), bootstrap.Environment(database_url=database_url),
                                clock=FakeClock(NOW))
    with TestClient(create_app(container)) as client:
        yield client, other
    container.store.dispose()
    other.store.dispose()


def on_call(client: TestClient, other: Swaps, week) -> str:
    at = other.procedure.window.bounds(week)[0] + timedelta(days=1, hours=12)  # a Tuesday night of the week
    response = client.get("/api/v1/oncall", params={"at": at.isoformat()})
    assert response.status_code == 200
    return response.json()["current"]["person"]["id"]


def test_a_sync_on_another_replica_is_answered_at_once(replicas):
    client, other = replicas
    assert on_call(client, other, W1) == "kelly"
    assert on_call(client, other, W1) == "kelly"  # answered from memory: the rotation did not change
    other.source.owners[W1] = "aisha"  # someone edits the calendar; the other replica's sync stores it
    other.sync()
    assert on_call(client, other, W1) == "aisha"


def test_a_swap_approved_on_another_replica_is_answered_at_once(replicas):
    client, other = replicas
    assert (on_call(client, other, W2), on_call(client, other, W3)) == ("marcus", "priya")
    request = other.request_swap("marcus", "priya", W2.isoformat(), W3.isoformat()).request
    other.accept(request.id, "priya")
    assert (on_call(client, other, W2), on_call(client, other, W3)) == ("marcus", "priya")  # not approved yet
    other.approve(request.id, "dana")
    assert (on_call(client, other, W2), on_call(client, other, W3)) == ("priya", "marcus")


def test_an_override_on_another_replica_is_answered_at_once(replicas):
    client, other = replicas
    assert on_call(client, other, W4) == "diego"
    apply_override(other.store, other.procedure, RotationOverride(
        W4, "diego", "tom", OverrideKind.REASSIGNMENT, "Diego is ill", requested_by="dana", approved_by="dana",
        applied_at=NOW), NOW)
    assert on_call(client, other, W4) == "tom"
    other.sync()  # the calendar still names Diego; the override holds, here too
    assert on_call(client, other, W4) == "tom"


def test_a_change_that_failed_changes_no_answer(replicas):
    """A change that rolls back must not raise the version for good: nothing changed, nothing reloads wrongly."""
    client, other = replicas
    assert on_call(client, other, W1) == "kelly"
    with pytest.raises(RuntimeError), other.store.transaction() as tx:
        tx.replace_shifts([])
        raise RuntimeError("the sync failed half-way")
    assert on_call(client, other, W1) == "kelly"


def test_oncall_still_answers_when_the_database_dropped_its_connections(replicas, database_url):
    """A PostgreSQL restart or failover closes every connection: the version read retries on a new one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop connections")
    client, other = replicas
    assert on_call(client, other, W1) == "kelly"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        dropped = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    admin.dispose()
    assert dropped
    other.source.owners[W1] = "aisha"
    other.sync()
    assert on_call(client, other, W1) == "aisha"


def test_a_swap_approved_while_a_sync_runs_both_land_and_are_answered(replicas):
    """The version is raised last in each transaction: a swap (locking its two weeks) and a sync (replacing
    every week) at the same moment take turns instead of deadlocking, and /oncall shows the outcome of both."""
    client, other = replicas
    request = other.request_swap("marcus", "priya", W2.isoformat(), W3.isoformat()).request
    other.accept(request.id, "priya")
    other.source.owners[W1] = "aisha"
    barrier, errors = threading.Barrier(2), []

    def at_once(work):
        barrier.wait()
        try:
            work()
        except Exception as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=at_once, args=(work,)) for work in (
        lambda: swaps.approve(other.store, other.procedure, request.id, "dana", now=NOW),
        lambda: sync_rotation(other.store, other.source, other.procedure, NOW))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [on_call(client, other, w) for w in (W1, W2, W3)] == ["aisha", "priya", "marcus"]

