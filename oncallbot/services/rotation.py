"""Use cases about the rotation: sync it from the calendar, say who is on call, check it for problems."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..domain.procedure import Procedure
from ..domain.responsibility import GAP_LOOKBACK, Responsibility, coverage_gaps, responsible_at
from ..domain.rotation import (
    CalendarEvent,
    Neighbours,
    RotationChange,
    RotationProblem,
    Shift,
    build_rotation,
    neighbours_at,
    rotation_changes,
)
from ..errors import BadInput
from .delivery import notify_approvers

# The calendar is published a quarter at a time; keep one quarter of history and a year ahead.
SYNC_LOOKBACK = timedelta(weeks=13)
SYNC_HORIZON = timedelta(weeks=53)
QUARTER = timedelta(weeks=13)


@dataclass(frozen=True)
class CalendarFetch:
    """What a rotation source returned: a full set of events, or the changes since `sync_token`."""

    full: bool
    events: list[CalendarEvent]  # full: every event; else: created or changed events
    removed_ids: list[str]
    next_sync_token: str | None = None


class RotationSource(Protocol):
    key: str  # identifies the calendar, for its sync state

    def fetch(self, sync_token: str | None, start_at: datetime, end_at: datetime) -> CalendarFetch: ...


@dataclass(frozen=True)
class SyncResult:
    shifts: list[Shift]
    changes: list[RotationChange]
    problems: list[RotationProblem]
    full: bool


def sync_rotation(store, source: RotationSource, procedure: Procedure, now: datetime,
                  then: Callable[[Any, SyncResult], None] | None = None) -> SyncResult:
    """Apply the calendar to the stored rotation in one transaction: all of it or none of it.

    `then(tx, result)` runs inside that transaction, so what it queues (the sync's notifications) commits
    with the new rotation or not at all."""
    with store.transaction() as tx:
        token, previous_sync_at = tx.sync_state(source.key)
    fetched = source.fetch(token, now - SYNC_LOOKBACK, now + SYNC_HORIZON)
    with store.transaction() as tx:
        old_shifts = tx.all_shifts()
        if fetched.full:
            tx.replace_calendar_events(fetched.events)
        else:
            tx.delete_calendar_events(fetched.removed_ids)
            tx.upsert_calendar_events(fetched.events)
        tx.flush()
        rotation = build_rotation(tx.calendar_events(), procedure.team, procedure.window)
        tx.replace_shifts(list(rotation.shifts))
        tx.set_sync_state(source.key, fetched.next_sync_token, now)
        # Only weeks both syncs looked at have changed; weeks entering the moving horizon are not news.
        changes = [] if previous_sync_at is None else [
            c for c in rotation_changes(old_shifts, list(rotation.shifts))
            if now - SYNC_LOOKBACK <= procedure.window.bounds(c.week_start)[0] < previous_sync_at + SYNC_HORIZON]
        result = SyncResult(list(rotation.shifts), changes, list(rotation.problems), fetched.full)
        if then is not None:
            then(tx, result)
    return result


@dataclass(frozen=True)
class OnCallReport:
    at: datetime
    responsibility: Responsibility
    neighbours: Neighbours


def who_is_on_call(store, procedure: Procedure, at: datetime) -> OnCallReport:
    with store.reading() as tx:
        shifts = procedure.shifts_in_effect(tx.shifts_around(at))
    neighbours = neighbours_at(at, shifts)
    responsibility = responsible_at(at, neighbours.current, procedure.hours, procedure.window, procedure.holiday_on)
    return OnCallReport(at, responsibility, neighbours)


def upcoming_shifts(store, person_id: str, now: datetime, limit: int = 8) -> list[Shift]:
    with store.reading() as tx:
        return tx.shifts_of(person_id, now, limit)


def last_synced_at(store, source_key: str) -> datetime | None:
    with store.reading() as tx:
        return tx.sync_state(source_key)[1]


def check_rotation(store, procedure: Procedure, now: datetime, span: timedelta = QUARTER) -> list[RotationProblem]:
    """Gaps, overlaps, misaligned events and events naming nobody, for [now, now + span)."""
    with store.transaction() as tx:
        return _problems(tx, procedure, now, span)


def _problems(tx, procedure: Procedure, now: datetime, span: timedelta) -> list[RotationProblem]:
    end_at = now + span
    events = [e for e in tx.calendar_events() if e.end_at > now and e.start_at < end_at]
    # From before `now`, so a gap under way is seen from its start; a day past the end, for `next`'s early start.
    shifts = procedure.shifts_in_effect(tx.shifts_between(now - GAP_LOOKBACK, end_at + timedelta(days=1)))
    problems = list(build_rotation(events, procedure.team, procedure.window).problems)
    problems += coverage_gaps(now, end_at, shifts, procedure.hours, procedure.window, procedure.holiday_on)
    return sorted(problems, key=lambda p: (p.day, p.kind))


PUBLISH_REMINDER_LEAD = timedelta(weeks=3)


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sync_and_notify(store, source: RotationSource, procedure: Procedure, now: datetime) -> SyncResult:
    """Sync, and in the same transaction tell each person whose weeks changed, the approvers about each
    rotation problem once (and once more when it is fixed), and about a published rotation that runs out
    within three weeks (at most once a day)."""
    return sync_rotation(store, source, procedure, now, then=lambda tx, result: _notify(tx, procedure, result, now))


def _notify(tx, procedure: Procedure, result: SyncResult, now: datetime) -> None:
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
    _report_problems(tx, procedure, _problems(tx, procedure, now, QUARTER), now)
    shifts = tx.shifts_between(now, now + SYNC_HORIZON)
    ends_at = shifts[-1].end_at if shifts else now
    if ends_at < now + PUBLISH_REMINDER_LEAD:
        notify_approvers(tx, procedure, f"publish-reminder:{now.astimezone(tz).date()}", now,
                f"The published rotation ends {ends_at.astimezone(tz):%a %Y-%m-%d %H:%M}: "
                "publish the next quarter in the calendar.")


def _report_problems(tx, procedure: Procedure, problems: list[RotationProblem], now: datetime) -> None:
    """One message per problem while it lasts (the nights of one missing week are one problem), and one
    when it is fixed. A problem that simply passed (its week is over) is forgotten without a word."""
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


def queue_assignee_change(store, procedure: Procedure, event_id: str, person_id: str, now: datetime) -> None:
    """Write an approved change of assignee back to the rotation calendar, through the outbox: it is
    retried when the calendar fails and reported to the approvers if it keeps failing, never dropped.

    It carries the etag of the event as our last sync saw it, the version the change was approved on: a
    human's edit made since (before or after the approval) makes the calendar refuse the write (412), and
    the approvers are told instead. Reading the etag again just before writing would protect nothing: it
    would be the etag of the human's edit, and the write would overwrite it."""
    person = procedure.team.person(person_id)
    if person is None:
        raise BadInput(f"{person_id} is not on the team")
    with store.transaction() as tx:
        event = tx.calendar_event(event_id)
        if event is None:
            raise BadInput(f"{event_id} is not an event of the rotation calendar (as of the last sync)")
        if event.etag is None:
            raise BadInput(f"{event_id} has not been synced with its version yet: run `oncallbot sync` first")
        tx.add_notification(f"writeback:{event_id}:{person_id}:{now.isoformat()}", now, kind="writeback",
                            channel="calendar", person_id=person_id, target=event_id, etag=event.etag,
                            text=f"On call: {person.name}")
