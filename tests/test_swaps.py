"""Issue 9: the swap flow through the service, on SQLite and PostgreSQL: request, accept, approve (both weeks at
once, kept across syncs), decline, reject, cancel, expiry and the approvers' reminder, refusals that change
nothing, redraws of the DMs already sent (no stale buttons), the audit trail, and the races of item 7."""

import threading
from datetime import timedelta

import pytest

from oncallbot.domain.swaps import SwapRefused, SwapState
from oncallbot.services import swaps
from oncallbot.services.rotation import sync_and_notify
from tests.harness.pager import run_concurrently
from tests.harness.swaps import NOW, OWNERS, W1, W2, W3, W4, Swaps


@pytest.fixture
def team(store):
    return Swaps(store)


def states(team):
    return [r.state for r in swaps.list_requests(team.store, include_all=True)]


def test_a_swap_requested_accepted_and_approved_changes_both_weeks_at_once(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11", note="family wedding").request
    assert team.buttons("marcus") == ["swap_accept", "swap_decline"]
    assert "Kelly Nguyen asks you to accept a swap" in team.dms("marcus")[0].text
    assert "family wedding" in team.dms("marcus")[0].text
    assert team.buttons("kelly") == ["swap_cancel"]
    assert team.dms("dana") == []  # approvers hear once the colleague said yes

    team.accept(request.id, "marcus")
    for approver in ("dana", "omar"):
        assert team.buttons(approver) == ["swap_approve", "swap_reject"]
    text = team.dms("dana")[-1].text
    assert "Marcus Brown accepted a swap" in text
    assert "Kelly Nguyen: 1 week(s) in 2027-Q1 after it (now 1)" in text
    assert "no holiday" in text
    assert (team.owner(W1), team.owner(W2)) == ("kelly", "marcus")  # nothing changes before the approval

    outcome = team.approve(request.id, "dana")
    assert outcome.request.state is SwapState.APPLIED
    assert (team.owner(W1), team.owner(W2)) == ("marcus", "kelly")
    # Omar's copy is redrawn: approved by Dana, and no buttons left on anybody's message.
    omar_redraws = team.dms("omar", kind="swap_update")
    assert omar_redraws and omar_redraws[-1].payload.card.status.startswith("Approved by Dana Whitfield")
    assert omar_redraws[-1].payload.card.buttons == ()
    assert all(m.payload.card.buttons == () for m in team.deliverer.of_kind("swap_update")[-3:])
    assert "Approved by Dana Whitfield and applied" in team.dms("kelly")[-1].text

    team.sync()  # the calendar still names the old owners: the swap holds
    assert (team.owner(W1), team.owner(W2)) == ("marcus", "kelly")
    lines = [(h.subject, h.kind, h.actor) for h in swaps.history(team.store)]
    assert [line for line in lines if line[0] == "swap"] == [
        ("swap", "requested", "kelly"), ("swap", "accepted", "marcus"), ("swap", "applied", "dana")]
    assert [line[1] for line in lines if line[0] == "rotation"] == ["override_applied", "override_applied"]


def test_a_holiday_week_is_pointed_out_to_the_approvers(team):
    request = team.request_swap("priya", "diego", "2027-01-18", "2027-01-25").request  # MLK day: Mon 2027-01-18
    team.accept(request.id, "diego")
    assert "holiday week: Martin Luther King Jr. Day (Mon 2027-01-18)" in team.dms("omar")[-1].text


def test_a_handover_moves_one_week(team):
    request = team.request_swap("kelly", "priya", "2027-01-04", None).request
    team.accept(request.id, "priya")
    team.approve(request.id, "omar")
    assert (team.owner(W1), team.owner(W3)) == ("priya", "priya")


def test_four_days_notice_is_refused_naming_the_deadline_and_nothing_is_stored(store):
    team = Swaps(store, now=NOW + timedelta(days=3))  # Thu 2026-12-31: four days before Mon 2027-01-04 18:01
    with pytest.raises(SwapRefused) as refused:
        team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11")
    assert refused.value.rule == "notice"
    assert "had to be made by Wed 2026-12-30 18:01 PST" in str(refused.value)
    assert "Dana Whitfield, Omar Haddad" in str(refused.value)
    assert states(team) == [] and team.deliverer.sent == []


def test_a_week_already_in_a_pending_request_is_refused(team):
    team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11")
    with pytest.raises(SwapRefused, match="already part of a pending request"):
        team.request_swap("marcus", "priya", "2027-01-11", "2027-01-18")
    assert len(states(team)) == 1


def test_a_non_approvers_approve_changes_nothing(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    with pytest.raises(SwapRefused, match="Only Marcus Brown can accept"):
        team.accept(request.id, "priya")
    team.accept(request.id, "marcus")
    with pytest.raises(SwapRefused, match="Only an approver"):
        team.approve(request.id, "priya")
    assert states(team) == [SwapState.ACCEPTED]
    assert (team.owner(W1), team.owner(W2)) == ("kelly", "marcus")


def test_an_approver_who_is_part_of_it_cannot_approve_it(store):
    team = Swaps(store, swaps={"notice": "5d", "approvers": ["kelly", "dana"]})
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    assert team.dms("kelly")[-1].payload.card.buttons[0].action == "swap_cancel"  # no Approve on her own
    with pytest.raises(SwapRefused, match="another approver must approve it \\(Dana Whitfield\\)"):
        team.approve(request.id, "kelly")
    assert states(team) == [SwapState.ACCEPTED]
    assert team.approve(request.id, "dana").request.state is SwapState.APPLIED


def test_decline_tells_the_requester_and_frees_the_weeks(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.decline(request.id, "marcus", reason="I am away that week")
    assert "Marcus Brown declined your swap" in team.dms("kelly")[-1].text
    assert "I am away that week" in team.dms("kelly")[-1].text
    assert team.dms("marcus", kind="swap_update")[-1].payload.card.buttons == ()
    with pytest.raises(SwapRefused, match="Declined by Marcus Brown"):
        team.accept(request.id, "marcus")
    team.request_swap("kelly", "priya", "2027-01-04", "2027-01-18")  # the week is free again


def test_reject_tells_both_people_with_the_reason(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    team.reject(request.id, "omar", reason="Kelly is training that week")
    for person in ("kelly", "marcus"):
        assert "Omar Haddad rejected the swap" in team.dms(person)[-1].text
    assert team.dms("dana", kind="swap_update")[-1].payload.card.status.startswith("Rejected by Omar Haddad")
    assert (team.owner(W1), team.owner(W2)) == ("kelly", "marcus")


def test_cancel_by_the_requester_only(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    with pytest.raises(SwapRefused, match="Only Kelly Nguyen, who asked, can cancel"):
        team.cancel(request.id, "marcus")
    team.cancel(request.id, "kelly")
    assert "Kelly Nguyen cancelled the swap" in team.dms("marcus")[-1].text
    assert team.dms("marcus", kind="swap_update")[-1].payload.card.buttons == ()
    assert states(team) == [SwapState.CANCELLED]


def test_a_request_not_decided_by_its_week_expires_and_the_approvers_are_reminded_once(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    start = team.procedure.window.bounds(W1)[0]
    team.clock.set(start - timedelta(hours=48))
    swaps.expire_due(team.store, team.procedure, team.clock.now())
    swaps.expire_due(team.store, team.procedure, team.clock.now())
    team.deliver()
    reminders = [m for m in team.dms("dana", kind="report") if m.text.startswith("Reminder:")]
    assert len(reminders) == 1 and "expires when the week of Mon 2027-01-04 starts" in reminders[0].text
    team.clock.set(start)
    assert [r.id for r in swaps.expire_due(team.store, team.procedure, team.clock.now())] == [request.id]
    team.deliver()
    assert states(team) == [SwapState.EXPIRED]
    assert "expired" in team.dms("kelly")[-1].text
    assert team.dms("dana", kind="swap_update")[-1].payload.card.buttons == ()
    assert swaps.expire_due(team.store, team.procedure, team.clock.now()) == []


def test_approval_after_the_calendar_changed_is_refused_and_everyone_is_told(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    team.source.owners[W2] = "tom"  # someone edited the calendar meanwhile
    team.sync()
    outcome = team.approve(request.id, "dana")
    assert outcome.request.state is SwapState.REFUSED_ON_APPLY
    assert "The week of Mon 2027-01-11 is now Tom Becker's, not Marcus Brown's" in outcome.message
    for person in ("kelly", "marcus", "omar", "dana"):
        assert "could not be applied" in team.dms(person)[-1].text
    assert (team.owner(W1), team.owner(W2)) == ("kelly", "tom")


def test_a_calendar_edit_after_approval_wins_over_the_swap(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    team.approve(request.id, "dana")
    team.source.owners[W1] = "aisha"  # a human gave the week to a third person afterwards
    sync_and_notify(team.store, team.source, team.procedure, team.clock.now())
    sync_and_notify(team.store, team.source, team.procedure, team.clock.now() + timedelta(minutes=10))
    team.deliver()
    assert (team.owner(W1), team.owner(W2)) == ("aisha", "kelly")
    told = [m.text for m in team.dms("dana", kind="report") if "the calendar is newer and wins" in m.text]
    assert len(told) == 1 and "names Aisha Khan for the week of Mon 2027-01-04" in told[0]


def test_a_reassignment_by_an_approver_needs_a_reason_and_tells_everyone(team):
    with pytest.raises(SwapRefused, match="a reason is required"):
        team.reassign_week("dana", "2027-01-04", "tom", "")
    with pytest.raises(SwapRefused, match="Only an approver"):
        team.reassign_week("kelly", "2027-01-04", "tom", "ill")
    team.clock.set(team.procedure.window.bounds(W1)[0] + timedelta(days=1))  # running: no notice needed
    team.reassign_week("dana", "2027-01-04", "tom", "Kelly is ill")
    assert team.owner(W1) == "tom"
    for person in ("kelly", "tom", "omar"):
        assert "Dana Whitfield reassigned the week of Mon 2027-01-04 to Tom Becker" in team.dms(person)[-1].text
    assert swaps.list_requests(team.store, include_all=True)[0].reason == "Kelly is ill"


# -- races (item 7): real threads on SQLite and PostgreSQL ---------------------------------------------------


def _barrier_run(functions):
    """Run each function on its own thread, released together; their results or exceptions."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(i, f):
        barrier.wait()
        try:
            results[i] = f()
        except Exception as exc:  # returned to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_approvers_at_once_exactly_one_applies(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    now = team.clock.now()
    results = _barrier_run([lambda a=a: swaps.approve(team.store, team.procedure, request.id, a, now)
                            for a in ("dana", "omar")])
    applied = [r for r in results if isinstance(r, swaps.SwapOutcome)]
    refused = [r for r in results if isinstance(r, SwapRefused)]
    assert len(applied) == 1 and len(refused) == 1, results
    assert "Approved by" in str(refused[0]) and "applied" in str(refused[0])
    assert (team.owner(W1), team.owner(W2)) == ("marcus", "kelly")
    with team.store.reading() as tx:
        assert len(tx.overrides_between(W1, W2)) == 2


def test_an_approval_racing_a_reassignment_of_its_week_one_wins_never_half(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    now = team.clock.now()
    results = _barrier_run([
        lambda: swaps.approve(team.store, team.procedure, request.id, "dana", now),
        lambda: swaps.reassign_week(team.store, team.procedure, "omar", "2027-01-11", "tom", "Marcus is ill", now),
    ])
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, SwapRefused)], results
    final = swaps.get_request(team.store, request.id)
    w1, w2 = team.owner(W1), team.owner(W2)
    if final.state is SwapState.APPLIED:  # the approval went first; the reassignment then found Kelly's week
        assert w1 == "marcus" and w2 in ("kelly", "tom")
        reassigned = results[1]
        assert isinstance(reassigned, SwapRefused) or w2 == "tom"
    else:  # the reassignment went first: the approval found the week changed and left both weeks as they were
        assert final.state is SwapState.REFUSED_ON_APPLY
        assert (w1, w2) == ("kelly", "tom")


def test_two_requests_for_one_week_at_once_exactly_one_is_stored(team):
    now = team.clock.now()
    results = _barrier_run([
        lambda: swaps.request_swap(team.store, team.procedure, "kelly", "marcus", "2027-01-04", "2027-01-11", now),
        lambda: swaps.request_swap(team.store, team.procedure, "priya", "kelly", "2027-01-18", "2027-01-04", now),
    ])
    assert sorted(type(r).__name__ for r in results) == ["SwapOutcome", "SwapRefused"], results
    refused = next(r for r in results if isinstance(r, SwapRefused))
    assert refused.rule == "pending"
    assert len(swaps.list_requests(team.store)) == 1


def test_many_concurrent_approvals_never_apply_twice(team):
    request = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(request.id, "marcus")
    now = team.clock.now()
    errors = run_concurrently(lambda: swaps.approve(team.store, team.procedure, request.id, "dana", now), threads=4)
    assert len(errors) == 3 and all(isinstance(e, SwapRefused) for e in errors)
    with team.store.reading() as tx:
        assert len(tx.overrides_between(W1, W4)) == 2
    assert OWNERS[W1] == "kelly" and team.owner(W1) == "marcus"


def test_expiry_and_the_reminder_happen_once_with_replicas_racing(team):
    first = team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11").request
    team.accept(first.id, "marcus")
    second = team.request_swap("priya", "diego", "2027-01-18", "2027-01-25").request
    start = team.procedure.window.bounds(W1)[0]
    team.clock.set(start - timedelta(hours=47))  # the first's reminder is due, the second's not yet
    now = team.clock.now()
    results = _barrier_run([lambda: swaps.expire_due(team.store, team.procedure, now)] * 3)
    assert results == [[], [], []]
    team.deliver()
    assert len([m for m in team.dms("omar", kind="report") if m.text.startswith("Reminder:")]) == 1
    team.clock.set(start)
    now = team.clock.now()
    results = _barrier_run([lambda: swaps.expire_due(team.store, team.procedure, now)] * 3)
    assert sorted(len(r) for r in results) == [0, 0, 1]
    assert [r.state for r in swaps.list_requests(team.store, include_all=True)] == [
        SwapState.EXPIRED, SwapState.REQUESTED]
    history = [h.kind for h in swaps.history(team.store) if h.subject == "swap" and h.subject_id == first.id]
    assert history == ["requested", "accepted", "expired"]
    assert second.id != first.id


def test_the_scheduler_runs_the_swap_expiry_job(tmp_path):
    from oncallbot import bootstrap
    from oncallbot.entrypoints.scheduler import create_scheduler, swap_expiry_job
    from tests.harness.clock import FakeClock
    from tests.harness.config import example_settings

    env = bootstrap.Environment(database_url=f"sqlite:///{tmp_path}/x.sqlite3")
    container = bootstrap.build(example_settings(), env, clock=FakeClock(NOW))
    container.store.upgrade()
    assert "swaps.expire" in [job.id for job in create_scheduler(container).get_jobs()]
    swap_expiry_job(container)  # nothing due: runs, expires nothing
    container.store.dispose()


@pytest.mark.parametrize(("late", "stored"), [(timedelta(0), True), (timedelta(minutes=1), False)])
def test_notice_is_measured_at_the_moment_of_the_request_to_the_minute(store, late, stored):
    from oncallbot.domain.swaps import notice_deadline

    deadline = notice_deadline(W1, Swaps(store).procedure.window, timedelta(days=5))
    team = Swaps(store, now=deadline + late)
    if stored:
        team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11")
    else:
        with pytest.raises(SwapRefused, match="had to be made by Wed 2026-12-30 18:01 PST"):
            team.request_swap("kelly", "marcus", "2027-01-04", "2027-01-11")
    assert len(swaps.list_requests(team.store)) == (1 if stored else 0)
