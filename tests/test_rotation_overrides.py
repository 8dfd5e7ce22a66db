"""Issue 8, item 4: the rotation is the calendar's weeks with the changes made in the bot laid over them.
An override gives one week to someone else; `who`, paging and the person's own list of weeks follow it,
a calendar sync does not undo it, and every change of a week's person lands in the audit trail."""

from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.domain.audit import RotationChangeKind
from oncallbot.domain.rotation import (
    CalendarEvent,
    OverrideKind,
    RotationOverride,
    Shift,
    build_rotation,
    lay_overrides,
    override_refusal,
)
from oncallbot.errors import BadInput
from oncallbot.services import paging
from oncallbot.services.overrides import apply_override, rotation_history
from oncallbot.services.rotation import CalendarFetch, sync_rotation, upcoming_shifts
from tests.harness.rotation import LA, PROCEDURE, night_of, on_call

NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
WEEK = date(2027, 1, 18)  # Priya's week in the calendar below
OWNERS = {date(2027, 1, 4): "kelly", date(2027, 1, 11): "marcus", WEEK: "priya", date(2027, 1, 25): "diego"}


def week_event(week_start: date, who: str) -> CalendarEvent:
    start, end = PROCEDURE.window.bounds(week_start)
    return CalendarEvent(f"{who}-{week_start}", f"On call: {who}", start.astimezone(LA), end.astimezone(LA))


class ListSource:
    key = "test:list"

    def __init__(self, owners: dict[date, str]):
        self.owners = dict(owners)

    def fetch(self, sync_token, start_at, end_at):
        return CalendarFetch(full=True, events=[week_event(w, p) for w, p in self.owners.items()], removed_ids=[])


def override(week: date = WEEK, from_person: str = "priya", to_person: str = "tom",
             kind: OverrideKind = OverrideKind.REASSIGNMENT, applied_at: datetime = NOW, id: int | None = None):
    return RotationOverride(week, from_person, to_person, kind, "Priya is in hospital", requested_by="dana",
                            approved_by="dana", applied_at=applied_at, id=id)


def shift(week: date, person: str) -> Shift:
    return Shift(week, person, *PROCEDURE.window.bounds(week), event_id=f"{person}-{week}")


# -- the pure rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("calendar_person", "overrides", "in_effect", "by"), [
    ("priya", [("priya", "tom", 1)], "tom", 1),  # the calendar as approved: the override holds
    ("tom", [("priya", "tom", 1)], "tom", 1),  # the write-back landed: still the swapped week
    ("aisha", [("priya", "tom", 1)], "aisha", None),  # edited in the calendar since: the newer decision wins
    ("priya", [("priya", "tom", 1), ("tom", "diego", 2)], "diego", 2),  # handed on again
    ("priya", [("priya", "tom", 1), ("tom", "priya", 2)], "priya", 2),  # and back
    ("tom", [("priya", "tom", 1), ("tom", "diego", 2)], "diego", 2),  # first write-back landed, second not yet
])
def test_overrides_are_laid_over_the_calendar_week_in_order(calendar_person, overrides, in_effect, by):
    made = [override(from_person=f, to_person=t, applied_at=NOW + timedelta(minutes=i), id=i) for f, t, i in overrides]
    (week,) = lay_overrides([shift(WEEK, calendar_person)], reversed(made))
    assert (week.person_id, week.override_id, week.overridden) == (in_effect, by, by is not None)
    assert (week.start_at, week.end_at, week.event_id) == PROCEDURE.window.bounds(WEEK) + (f"{calendar_person}-{WEEK}",)


def test_an_override_never_brings_back_a_week_the_calendar_dropped():
    assert lay_overrides([shift(WEEK - timedelta(weeks=1), "marcus")], [override(id=1)]) == [
        shift(WEEK - timedelta(weeks=1), "marcus")]


def test_build_rotation_is_the_calendar_weeks_with_the_overrides():
    events = [week_event(w, p) for w, p in OWNERS.items()]
    rotation = build_rotation(events, [override(id=7)], PROCEDURE.team, PROCEDURE.window)
    assert {s.week_start: (s.person_id, s.override_id) for s in rotation.shifts} == {
        **{w: (p, None) for w, p in OWNERS.items()}, WEEK: ("tom", 7)}
    assert rotation.problems == ()


@pytest.mark.parametrize(("week", "change", "refusal"), [
    (None, override(), "the week of Mon 2027-01-18 is not in the rotation"),
    (shift(WEEK, "aisha"), override(), "the week of Mon 2027-01-18 is Aisha Khan's now, not priya's"),
    (shift(WEEK, "priya"), override(to_person="zed"), "zed (to) is not on the team"),
    (shift(WEEK, "priya"), override(to_person="priya"), "the week of Mon 2027-01-18 is already priya's"),
    (shift(WEEK, "priya"), override(), None),
])
def test_an_override_is_refused_unless_the_week_is_still_with_the_person_it_is_taken_from(week, change, refusal):
    assert override_refusal(week, change, PROCEDURE.team) == refusal


# -- the service, on SQLite and PostgreSQL ---------------------------------------------------------------


def synced(store) -> ListSource:
    source = ListSource(OWNERS)
    sync_rotation(store, source, PROCEDURE, NOW)
    return source


def test_who_and_paging_follow_an_applied_override(store):
    synced(store)
    applied = apply_override(store, PROCEDURE, override(), NOW)

    assert on_call(store, night_of(WEEK)) == "tom"
    assert (applied.shift.person_id, applied.shift.override_id) == ("tom", applied.override.id)
    assert not applied.writeback_queued  # these events carry no calendar version: nothing to write back
    page, _ = paging.open_page(store, PROCEDURE, paging.NewPage("Voicemail: site down", "cli"), night_of(WEEK))
    assert page.responsible == "tom"
    assert WEEK in [s.week_start for s in upcoming_shifts(store, "tom", NOW)]
    assert WEEK not in [s.week_start for s in upcoming_shifts(store, "priya", NOW)]
    with store.reading() as tx:
        week = tx.shift_for_week(WEEK)
        calendar = [s for s in tx.calendar_shifts_between(*PROCEDURE.window.bounds(WEEK)) if s.week_start == WEEK]
    assert (week.person_id, week.overridden) == ("tom", True)
    assert [s.person_id for s in calendar] == ["priya"]  # the calendar's part is as the calendar says


def test_a_following_sync_keeps_the_override_and_reports_no_change(store):
    source = synced(store)
    apply_override(store, PROCEDURE, override(), NOW)

    again = sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=10))
    assert again.changes == []
    assert on_call(store, night_of(WEEK)) == "tom"

    source.owners[WEEK] = "tom"  # the calendar catches up (the write-back, or someone by hand)
    caught_up = sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=20))
    assert caught_up.changes == []
    assert on_call(store, night_of(WEEK)) == "tom"


def test_a_later_calendar_edit_of_the_week_wins_and_is_recorded(store):
    source = synced(store)
    apply_override(store, PROCEDURE, override(), NOW)

    source.owners[WEEK] = "aisha"
    result = sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=10))

    assert [(c.week_start, c.before, c.after) for c in result.changes] == [(WEEK, "tom", "aisha")]
    assert on_call(store, night_of(WEEK)) == "aisha"
    history = rotation_history(store, WEEK)
    assert [(h.kind, h.before, h.after, h.actor) for h in history] == [
        (RotationChangeKind.OVERRIDE_APPLIED, "priya", "tom", "dana"),
        (RotationChangeKind.CALENDAR_CHANGED, "tom", "aisha", None)]
    assert history[0].reason == "Priya is in hospital" and history[0].override_kind == "reassignment"


def test_a_stale_override_is_refused_and_changes_nothing(store):
    synced(store)
    with pytest.raises(BadInput, match="Priya Patel's now, not kelly's"):
        apply_override(store, PROCEDURE, override(from_person="kelly"), NOW)
    with pytest.raises(BadInput, match="not in the rotation"):
        apply_override(store, PROCEDURE, override(week=date(2027, 6, 7)), NOW)

    assert on_call(store, night_of(WEEK)) == "priya"
    assert rotation_history(store) == []
    with store.reading() as tx:
        assert tx.overrides_between(date(2027, 1, 1), date(2027, 12, 31)) == []


def test_two_overrides_of_one_week_chain(store):
    synced(store)
    apply_override(store, PROCEDURE, override(), NOW)
    with pytest.raises(BadInput, match="Tom Becker's now"):  # taken from Priya again: she no longer has it
        apply_override(store, PROCEDURE, override(to_person="diego"), NOW)
    second = apply_override(store, PROCEDURE, override(from_person="tom", to_person="diego",
                                                       kind=OverrideKind.HANDOVER), NOW + timedelta(hours=1))

    assert on_call(store, night_of(WEEK)) == "diego"
    with store.reading() as tx:
        assert tx.shift_for_week(WEEK).override_id == second.override.id
    assert [(h.before, h.after) for h in rotation_history(store)] == [("priya", "tom"), ("tom", "diego")]


def test_sync_changes_are_recorded_in_the_history(store):
    source = synced(store)
    source.owners[date(2027, 1, 25)] = "kelly"
    sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=10))

    (change,) = rotation_history(store)
    assert (change.week_start, change.kind, change.before, change.after, change.at) == (
        date(2027, 1, 25), RotationChangeKind.CALENDAR_CHANGED, "diego", "kelly", NOW + timedelta(minutes=10))
    assert rotation_history(store, WEEK) == []


def test_rotation_history_is_the_most_recent_changes_oldest_first(store):
    source = synced(store)
    for minutes, person in enumerate(["kelly", "marcus", "aisha"], start=1):
        source.owners[date(2027, 1, 25)] = person
        sync_rotation(store, source, PROCEDURE, NOW + timedelta(minutes=minutes))

    assert [c.after for c in rotation_history(store, limit=2)] == ["marcus", "aisha"]
    assert [c.after for c in rotation_history(store)] == ["kelly", "marcus", "aisha"]


def test_the_write_back_goes_through_the_outbox_when_the_calendar_can_take_it(store):
    synced(store)
    with store.transaction() as tx:  # as a Google sync stores it: with the event's version
        event = tx.calendar_event(f"priya-{WEEK}")
        tx.upsert_calendar_events([CalendarEvent(event.event_id, event.summary, event.start_at, event.end_at,
                                                 etag='"v1"')])

    applied = apply_override(store, PROCEDURE, override(), NOW)

    assert applied.writeback_queued
    with store.reading() as tx:
        (writeback,) = [n for n in tx.session.query(NotificationRow) if n.kind == "writeback"]
    assert (writeback.target, writeback.person_id, writeback.etag, writeback.text) == (
        f"priya-{WEEK}", "tom", '"v1"', "On call: Tom Becker")
