"""Watching the watcher: is the bot itself working? Pure checks over what the store and the process report.

- The heartbeat (a dead-man's switch outside the bot) is called only while every check passes, so a bot that
  dies or wedges falls silent and someone outside is told.
- A stuck outbox or a failing calendar sync is told to the approvers, once per episode and once when it ends.
  An episode is named by a value that stays the same while it lasts (the last send, the last good sync), so
  every replica and every tick names it alike and the store's claim lets exactly one of them tell it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

DISPATCHER_SILENCE = timedelta(minutes=1)  # "the dispatcher ran in the last minute"
OUTBOX_STALL = timedelta(minutes=5)  # "nothing sent for 5 minutes while messages wait"
SYNC_FAILING = timedelta(hours=1)  # "a calendar sync failing for an hour"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # names an episode when there is no last send or sync to name it by


class Check(StrEnum):
    DATABASE = "database"  # the database answers
    DISPATCHER = "dispatcher"  # this process's escalation dispatcher ran lately
    OUTBOX = "outbox"  # the outbox is moving
    SYNC = "sync"  # the last successful calendar sync is recent


@dataclass(frozen=True)
class OutboxState:
    """Messages not yet sent (pending, or being sent), the oldest of them, and the latest send of any."""

    waiting: int
    oldest_waiting_at: datetime | None
    last_sent_at: datetime | None

    def oldest_age(self, now: datetime) -> timedelta | None:
        return now - self.oldest_waiting_at if self.oldest_waiting_at is not None else None


@dataclass(frozen=True)
class Vitals:
    """What the checks look at. `outbox` and `last_sync_at` are read from the database (shared by every
    replica); `dispatcher_ran_at` and `watching_since` belong to this process."""

    database: bool
    outbox: OutboxState | None  # None when the database did not answer
    last_sync_at: datetime | None  # the last successful sync of the rotation calendar
    dispatcher_ran_at: datetime | None  # None: it has not finished a run in this process yet
    watching_since: datetime | None  # when this process started its dispatcher; None: it runs none

    def sync_threshold(self, sync_interval: timedelta) -> timedelta:
        """A sync older than this is failing: an hour, or two intervals when syncs are rarer than that."""
        return max(SYNC_FAILING, 2 * sync_interval)


def episode_name(at: datetime | None) -> str:
    """An instant in UTC, ISO: names of later episodes sort after earlier ones."""
    return (at or EPOCH).astimezone(UTC).isoformat()


def outbox_stalled(outbox: OutboxState, now: datetime) -> str | None:
    """The episode's name when the outbox is stuck (messages waited 5 minutes and nothing was sent for as
    long), else None. Named by the last send, which cannot change while it is stuck."""
    oldest = outbox.oldest_waiting_at
    if not outbox.waiting or oldest is None or now - oldest < OUTBOX_STALL:
        return None
    if outbox.last_sent_at is not None and now - outbox.last_sent_at < OUTBOX_STALL:
        return None
    return episode_name(outbox.last_sent_at)


def sync_failing(last_sync_at: datetime | None, since: datetime | None, now: datetime,
                 threshold: timedelta) -> str | None:
    """The episode's name when no sync has succeeded for `threshold` (counted from `since`, this process's
    start, when none ever did), else None. Named by the last good sync."""
    baseline = last_sync_at or since
    if baseline is None or now - baseline < threshold:
        return None
    return episode_name(last_sync_at)


def failing_checks(vitals: Vitals, now: datetime, sync_interval: timedelta) -> tuple[Check, ...]:
    """Every check that does not pass now, in a fixed order; empty: all is well (the heartbeat may go)."""
    if not vitals.database or vitals.outbox is None:
        return (Check.DATABASE,)  # the others read the database: they cannot be judged
    failing: list[Check] = []
    if vitals.watching_since is not None:
        last_run = vitals.dispatcher_ran_at or vitals.watching_since
        if now - last_run > DISPATCHER_SILENCE:
            failing.append(Check.DISPATCHER)
    if outbox_stalled(vitals.outbox, now) is not None:
        failing.append(Check.OUTBOX)
    if sync_failing(vitals.last_sync_at, vitals.watching_since, now,
                    vitals.sync_threshold(sync_interval)) is not None:
        failing.append(Check.SYNC)
    return tuple(failing)


def process_failing(failing: tuple[Check, ...]) -> bool:
    """Whether the process itself is broken (what a restart may fix): its database or its dispatcher. The
    outbox and the sync depend on the world outside too; they are reported, not restarted."""
    return Check.DATABASE in failing or Check.DISPATCHER in failing
