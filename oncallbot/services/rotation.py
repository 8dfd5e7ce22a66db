"""Use cases about the rotation: sync it from the calendar, say who is on call, check it for problems.
Changing a week (an override) and reading back what changed live in `services.overrides`.

The rotation in effect is the calendar's weeks (stored by the sync) with the overrides laid over them;
the store's shift reads return it, so `who`, paging, /oncall, the check and the reports all see the same."""

from __future__ import annotations

import hashlib
import uuid
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ..domain.audit import (
    RotationChangeKind,
    RotationChangeRecord,
    rotation_change_entry,
)
from ..domain.procedure import Procedure
from ..domain.responsibility import GAP_LOOKBACK, Responsibility, coverage_gaps, responsible_at
from ..domain.rotation import (
    CalendarEvent,
    Neighbours,
    RotationChange,
    RotationProblem,
    Shift,
    calendar_rotation,
    neighbours_at,
    rotation_changes,
)

if TYPE_CHECKING:  # types only: `oncallbot who` starts without the ports' many records
    from ..ports import RotationReads, RotationSource, Store, StoreTx

# The window a sync reads: a quarter back (late edits to past weeks still land) and a year ahead. Weeks
# before it are not forgotten: the stored rotation keeps every week the calendar ever gave us.
SYNC_LOOKBACK = timedelta(weeks=13)
SYNC_HORIZON = timedelta(weeks=53)
QUARTER = timedelta(weeks=13)
# The change feed never brings back the occurrences of a recurring event nobody edited, and a full fetch
# expands an endless series only up to its horizon, so the horizon would stand still while time moves on
# (a year later, the rotation would look unpublished). The sync state keeps the horizon of the last full
# fetch, and a sync fetches in full again once that falls a week behind now + SYNC_HORIZON: about one full
# listing a week, the change feed in between, and no extra job to schedule (it rides on the regular sync).
REEXPAND_AFTER = timedelta(weeks=1)
# A sync holds its calendar's claim at most this long: longer than the slowest fetch (every retry of every
# page), short enough that a replica killed mid-sync holds the others up for minutes, not hours.
SYNC_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class CalendarFetch:
    """What a rotation source returned: a full set of events, or the changes since `sync_token`."""

    full: bool
    events: list[CalendarEvent]  # full: every event; else: created or changed events
    removed_ids: list[str]
    next_sync_token: str | None = None


@dataclass(frozen=True)
class SyncResult:
    shifts: list[Shift]  # the calendar's weeks this sync stored (those inside its window)
    changes: list[RotationChange]  # weeks whose person in effect changed (an override holding stays a non-change)
    problems: list[RotationProblem]
    full: bool
    skipped: bool = False  # another sync of the same calendar was running: this one changed nothing
    # Weeks whose override (a swap, handover, reassignment) the calendar overrode: a person edited the week in
    # the calendar after the change was approved, the calendar is newer and wins. (week, override id, who now)
    dropped_overrides: tuple[tuple[date, int, str], ...] = ()


def skipped_sync() -> SyncResult:
    return SyncResult([], [], [], full=False, skipped=True)


def sync_rotation(store: Store, source: RotationSource, procedure: Procedure, now: datetime,
                  then: Callable[[StoreTx, SyncResult], None] | None = None) -> SyncResult:
    """Apply the calendar to the stored rotation in one transaction: all of it or none of it.

    One sync of a calendar runs at a time, across replicas: it claims the calendar first (a short
    transaction of its own), and a sync that finds the claim held changes nothing and says it skipped.
    Only the weeks wholly inside the window fetched are replaced; the weeks before it (and any beyond
    what was expanded) stay as they were last seen. The sync replaces the calendar's part only: the
    overrides stay and are laid over the new weeks, and each week whose person in effect changed is
    written to the audit trail. `then(tx, result)` runs inside the applying transaction, so what it
    queues (the sync's notifications) commits with the new rotation or not at all."""
    start_at, end_at = now - SYNC_LOOKBACK, now + SYNC_HORIZON
    claim = uuid.uuid4().hex
    with store.transaction() as tx:
        if not tx.claim_sync(source.key, claim, now, now + SYNC_CLAIM):
            return skipped_sync()
        token, previous_sync_at = tx.sync_state(source.key)
        previous_expanded_until = tx.sync_expanded_until(source.key)
    finished = False
    try:
        if previous_expanded_until is None or previous_expanded_until < end_at - REEXPAND_AFTER:
            token = None  # re-expand: a full fetch, which moves the horizon to end_at
        fetched = source.fetch(token, start_at, end_at)
        expanded_until = end_at if fetched.full else previous_expanded_until
        assert expanded_until is not None  # without a horizon the token is dropped: the fetch is a full one
        with store.transaction() as tx:
            if not tx.holds_sync_claim(source.key, claim):
                return skipped_sync()  # our claim ran out during the fetch and a newer sync took over: it wins
            if fetched.full:
                tx.replace_calendar_events(fetched.events)
            else:
                tx.delete_calendar_events(fetched.removed_ids)
                tx.upsert_calendar_events(fetched.events)
            tx.flush()
            rotation = calendar_rotation(tx.calendar_events(), procedure.team, procedure.window)
            weeks_start, weeks_end = _whole_weeks(procedure, start_at, min(end_at, expanded_until))
            shifts = [s for s in rotation.shifts if weeks_start <= s.start_at < weeks_end]
            old_shifts = tx.shifts_starting_between(weeks_start, weeks_end)  # in effect, overrides laid over
            tx.replace_shifts_between(weeks_start, weeks_end, shifts)
            new_shifts = tx.shifts_starting_between(weeks_start, weeks_end)
            tx.finish_sync(source.key, claim, fetched.next_sync_token, now, expanded_until)
            # Only weeks both syncs knew have changed; weeks entering the moving horizon are not news.
            changes = []
            if previous_sync_at is not None:
                known_until = min(previous_sync_at + SYNC_HORIZON,
                                  previous_expanded_until or previous_sync_at + SYNC_HORIZON)
                changes = [c for c in rotation_changes(old_shifts, new_shifts)
                           if procedure.window.bounds(c.week_start)[1] <= known_until]
            for change in changes:
                tx.add_audit_entry(rotation_change_entry(RotationChangeRecord(
                    change.week_start, now, RotationChangeKind.CALENDAR_CHANGED, change.before, change.after)))
            now_by_week = {s.week_start: s for s in new_shifts}
            dropped = tuple((o.week_start, o.override_id, now_by_week[o.week_start].person_id) for o in old_shifts
                            if o.override_id is not None and o.week_start in now_by_week
                            and now_by_week[o.week_start].override_id is None)
            result = SyncResult(shifts, changes, list(rotation.problems), fetched.full, dropped_overrides=dropped)
            if then is not None:
                then(tx, result)
        finished = True
    finally:
        if not finished:
            _give_back(store, source.key, claim)
    return result


def _whole_weeks(procedure: Procedure, start_at: datetime, end_at: datetime) -> tuple[datetime, datetime]:
    """The span of the on-call weeks wholly inside [start_at, end_at): every event naming one of them
    overlaps the window, so the fetch saw it."""
    window = procedure.window
    weeks = [w for w in window.weeks_between(start_at, end_at)
             if window.bounds(w)[0] >= start_at and window.bounds(w)[1] <= end_at]
    if not weeks:
        return start_at, start_at
    return window.bounds(weeks[0])[0], window.bounds(weeks[-1])[1]


def _give_back(store: Store, source_key: str, claim: str) -> None:
    """After a failed sync, so the next one need not wait for the claim to expire. Best effort: the
    claim expires anyway, and the failure that brought us here is the one to report."""
    try:
        with store.transaction() as tx:
            tx.release_sync_claim(source_key, claim)
    except Exception:
        pass


@dataclass(frozen=True)
class OnCallReport:
    at: datetime
    responsibility: Responsibility
    neighbours: Neighbours


def who_is_on_call(store: RotationReads, procedure: Procedure, at: datetime) -> OnCallReport:
    with store.reading() as tx:
        around = tx.shifts_around(at)
    return _on_call_report(procedure, at, around)


def _on_call_report(procedure: Procedure, at: datetime, around: list[Shift]) -> OnCallReport:
    shifts = procedure.shifts_in_effect(around)
    neighbours = neighbours_at(at, shifts)
    responsibility = responsible_at(at, neighbours.current, procedure.hours, procedure.window, procedure.holiday_on)
    return OnCallReport(at, responsibility, neighbours)


@dataclass(frozen=True)
class _RotationCopy:
    version: int
    shifts: tuple[Shift, ...]  # every week in effect, by start
    starts: tuple[datetime, ...]


class RotationReadModel:
    """`who_is_on_call` from a copy of the rotation in memory, for the readers that ask often (GET
    /api/v1/oncall). Each answer first reads the rotation's version (one row, no transaction): every change
    to the rotation raises it in its own transaction, on whichever replica made it, so a copy older than the
    committed rotation is never answered from; it is loaded again, whole (a few hundred weeks a decade)."""

    def __init__(self, store: Store, procedure: Procedure):
        self.store, self.procedure = store, procedure
        self._copy: _RotationCopy | None = None  # replaced whole, never changed: threads share it unlocked

    def who(self, at: datetime) -> OnCallReport:
        copy = self._current()
        # The same weeks the store's shifts_around picks: the two starting at or before `at`, the two after.
        index = bisect_right(copy.starts, at)
        return _on_call_report(self.procedure, at, list(copy.shifts[max(0, index - 2):index + 2]))

    def _current(self) -> _RotationCopy:
        version = self.store.rotation_version()
        copy = self._copy
        if copy is None or copy.version != version:
            with self.store.reading() as tx:
                loaded_version = tx.rotation_version()  # first: the weeks read next are at least this new
                shifts = tuple(tx.all_shifts())
            copy = _RotationCopy(loaded_version, shifts, tuple(s.start_at for s in shifts))
            self._copy = copy
        return copy


def upcoming_shifts(store: Store, person_id: str, now: datetime, limit: int = 8) -> list[Shift]:
    with store.reading() as tx:
        shifts: list[Shift] = tx.shifts_of(person_id, now, limit)
    return shifts


def last_synced_at(store: RotationReads, source_key: str) -> datetime | None:
    with store.reading() as tx:
        synced_at: datetime | None = tx.sync_state(source_key)[1]
    return synced_at


def check_rotation(store: Store, procedure: Procedure, now: datetime,
                   span: timedelta = QUARTER) -> list[RotationProblem]:
    """Gaps, overlaps, misaligned events and events naming nobody, for [now, now + span)."""
    with store.transaction() as tx:
        return _problems(tx, procedure, now, span)


def rotation_problems(store: Store, procedure: Procedure, now: datetime,
                      span: timedelta = QUARTER) -> list[RotationProblem]:
    """What `check_rotation` finds, in a read-only transaction (the web view reads it on every visit)."""
    with store.reading() as tx:
        return _problems(tx, procedure, now, span)


def _problems(tx: StoreTx, procedure: Procedure, now: datetime, span: timedelta) -> list[RotationProblem]:
    end_at = now + span
    events = [e for e in tx.calendar_events() if e.end_at > now and e.start_at < end_at]
    # From before `now`, so a gap under way is seen from its start; a day past the end, for `next`'s early start.
    shifts = procedure.shifts_in_effect(tx.shifts_between(now - GAP_LOOKBACK, end_at + timedelta(days=1)))
    problems = list(calendar_rotation(events, procedure.team, procedure.window).problems)
    problems += coverage_gaps(now, end_at, shifts, procedure.hours, procedure.window, procedure.holiday_on)
    return sorted(problems, key=lambda p: (p.day, p.kind))


PUBLISH_REMINDER_LEAD = timedelta(weeks=3)


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sync_and_notify(store: Store, source: RotationSource, procedure: Procedure, now: datetime) -> SyncResult:
    """Sync, and in the same transaction tell each person whose weeks changed, the approvers about each
    rotation problem once (and once more when it is fixed), and about a published rotation that runs out
    within three weeks (at most once a day). A sync that skipped (another is running) tells nobody: the
    running one does."""
    return sync_rotation(store, source, procedure, now, then=lambda tx, result: _notify(tx, procedure, result, now))


def _notify(tx: StoreTx, procedure: Procedure, result: SyncResult, now: datetime) -> None:
    from .delivery import notify_approvers  # here: the outbox service is heavy, and `who` rarely syncs

    team, tz = procedure.team, procedure.window.tz
    news: dict[str, list[str]] = {}
    for change in result.changes:
        if procedure.window.bounds(change.week_start)[1] <= now:
            continue  # a past week changing is not news to anyone
        before, after = team.person(change.before), team.person(change.after)
        line = (f"week of {change.week_start:%a %Y-%m-%d}: {after.name if after else 'nobody'} "
                f"(was {before.name if before else 'nobody'})")
        for person in (p for p in (before, after) if p):
            news.setdefault(person.id, []).append(line)
    for person_id, lines in news.items():
        digest = "|".join(lines)
        tx.add_notification(f"rotation-change:{person_id}:{hash_text(digest)}", now, kind="report",
                            channel="slack", person_id=person_id,
                            text="Your on-call weeks changed:\n" + "\n".join(f"• {line}" for line in lines))
    for week_start, override_id, person_id in result.dropped_overrides:
        holder = team.person(person_id)
        notify_approvers(tx, procedure, f"override-dropped:{override_id}", now,
                         f"The calendar now names {holder.name if holder else person_id} for the week of "
                         f"{week_start:%a %Y-%m-%d}, edited after the change made in the bot was approved: the "
                         "calendar is newer and wins, so that change no longer applies to the week.")
    _report_problems(tx, procedure, _problems(tx, procedure, now, QUARTER), now)
    shifts = tx.shifts_between(now, now + SYNC_HORIZON)
    ends_at = shifts[-1].end_at if shifts else now
    if ends_at < now + PUBLISH_REMINDER_LEAD:
        notify_approvers(tx, procedure, f"publish-reminder:{now.astimezone(tz).date()}", now,
                f"The published rotation ends {ends_at.astimezone(tz):%a %Y-%m-%d %H:%M}: "
                "publish the next quarter in the calendar.")


def _report_problems(tx: StoreTx, procedure: Procedure, problems: list[RotationProblem], now: datetime) -> None:
    """One message per problem while it lasts (the nights of one missing week are one problem), and one
    when it is fixed. A problem that simply passed (its week is over) is forgotten without a word."""
    from .delivery import notify_approvers

    by_key: dict[str, list[RotationProblem]] = {}
    for problem in problems:
        by_key.setdefault(problem.key, []).append(problem)
    for key, same in by_key.items():
        text = same[0].message
        if len(same) > 1:
            text += f" (and {len(same) - 1} more gap(s) like it: `oncallbot rotation check` lists them)"
        ends_at = max((p.ends_at for p in same if p.ends_at), default=None)
        if tx.first_report_of(key, now, text, ends_at):
            notify_approvers(tx, procedure, f"problem:{key}:{now.isoformat()}", now, f"Rotation problem: {text}")
    for gone in tx.forget_reported_problems_except(list(by_key)):
        if gone.text and gone.ends_at and gone.ends_at > now:
            notify_approvers(tx, procedure, f"problem-resolved:{gone.key}:{gone.reported_at.isoformat()}", now,
                             f"Rotation problem resolved: {gone.text}")
