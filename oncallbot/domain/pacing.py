"""Pacing Slack to its published limits (issue 14, item 3).

Slack allows `chat.postMessage` about one message per second per channel (a DM is a channel), with short
bursts over it. In a storm the bot would otherwise post thousands of thread lines and DMs that Slack answers
with 429s and that arrive minutes late. So each destination gets a token bucket; what fits is sent, and what
backs up is grouped: the thread lines of one page become one post, the plain DMs to one person one digest DM,
the redraws of one page's card one redraw (it shows the page as it stands anyway). What still does not fit
waits for its token, in order, so a page's card is never overtaken by its own thread.

Pure: the buckets go in and come out; time is a parameter.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .vocabulary import MessageKind, SlackTarget


@dataclass(frozen=True)
class SlackPace:
    per_second: float = 1.0  # Slack: about one chat.postMessage per second per channel
    # "Bursts allowed" (Slack gives no number): what an idle channel may take at once. Large enough that a
    # day's ordinary traffic (a week's start, a run of reports) is never held back; a storm is.
    burst: int = 20


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: datetime


@dataclass(frozen=True)
class Queued:
    """One outbox row waiting for Slack. `destination`: the channel or person it posts to (None: not paced,
    e.g. a card redraw, which is chat.update); `group`: rows with the same group may be sent as one message
    when they back up (None: never grouped, e.g. a card or a DM with buttons); `reserved`: it waited for a
    slot that an earlier round already counted against its destination, so it goes without another."""

    id: int
    destination: str | None
    group: str | None
    reserved: bool = False


@dataclass(frozen=True)
class Unit:
    """One message to send now: the row `id`, carrying the rows `folded` into it (sent as part of it)."""

    id: int
    folded: tuple[int, ...] = ()


@dataclass(frozen=True)
class PacingPlan:
    send: tuple[Unit, ...]
    # Rows left waiting, each with its slot: the destination's token for it is already counted, so when it
    # comes back at that time (marked `reserved`) it is sent, not deferred again.
    defer: tuple[tuple[int, datetime], ...]
    buckets: Mapping[str, Bucket]


def refill(bucket: Bucket | None, pace: SlackPace, now: datetime) -> Bucket:
    """Tokens come back at `per_second` up to `burst`; below zero, they are slots promised to waiting rows."""
    if bucket is None:
        return Bucket(float(pace.burst), now)
    if now <= bucket.at:  # a round that began before the last one (senders run in parallel): no time passed
        return bucket
    elapsed = (now - bucket.at).total_seconds()
    return Bucket(min(float(pace.burst), bucket.tokens + elapsed * pace.per_second), now)


def _units(rows: Sequence[Queued], backed_up: bool) -> list[tuple[Unit, bool]]:
    """In order of their first row; grouped rows join the unit of the first of their group. Each unit with
    whether it holds a slot already (any of its rows does)."""
    if not backed_up:
        return [(Unit(r.id), r.reserved) for r in rows]
    order: list[int] = []
    members: dict[int, list[Queued]] = {}
    first_of_group: dict[str, int] = {}
    for row in rows:
        if row.group is not None and row.group in first_of_group:
            members[first_of_group[row.group]].append(row)
            continue
        if row.group is not None:
            first_of_group[row.group] = row.id
        order.append(row.id)
        members[row.id] = [row]
    return [(Unit(first, tuple(r.id for r in members[first][1:])), any(r.reserved for r in members[first]))
            for first in order]


def pace_slack(queued: Sequence[Queued], buckets: Mapping[str, Bucket], pace: SlackPace,
               now: datetime) -> PacingPlan:
    """What to send now, grouped, and what to leave waiting (with its slot), per destination, rows in the
    given order."""
    send: list[Unit] = []
    defer: list[tuple[int, datetime]] = []
    after = dict(buckets)
    by_destination: dict[str | None, list[Queued]] = {}
    for row in queued:
        by_destination.setdefault(row.destination, []).append(row)
    for destination, rows in by_destination.items():
        if destination is None:  # not paced; several redraws of one card are still one redraw
            send.extend(unit for unit, _ in _units(rows, backed_up=True))
            continue
        bucket = refill(after.get(destination), pace, now)
        tokens = bucket.tokens
        fresh = sum(1 for row in rows if not row.reserved)
        for unit, reserved in _units(rows, backed_up=fresh > max(0, math.floor(tokens))):
            if reserved:
                send.append(unit)
            elif tokens >= 1:
                send.append(unit)
                tokens -= 1
            else:
                tokens -= 1  # its slot: when the bucket would have refilled to this token
                until = bucket.at + timedelta(seconds=(-tokens) / pace.per_second)
                defer.extend((row_id, until) for row_id in (unit.id, *unit.folded))
        after[destination] = Bucket(tokens, bucket.at)
    return PacingPlan(tuple(send), tuple(defer), after)


# Plain-text DMs that can be read as one digest; a DM with buttons (a reminder, a swap, a verification, the
# test page's Confirm) stays its own message.
_DM_GROUPED = (MessageKind.PAGE, MessageKind.DIGEST, MessageKind.REPORT)


def queued_for_slack(row_id: int, kind: str, target: str | None, person_id: str | None,
                     page_id: int | None, confirm: bool = False) -> Queued:
    """Where a Slack outbox row posts and what it may be grouped with."""
    if kind == MessageKind.CARD_UPDATE:  # chat.update, not a post; one redraw shows the page as it stands
        return Queued(row_id, None, f"card:{page_id}")
    if kind in (MessageKind.CARD, MessageKind.THREAD, MessageKind.CHANNEL):
        channel = f"channel:{target or SlackTarget.SUPPORT}"
        if kind == MessageKind.THREAD and page_id is not None:
            return Queued(row_id, channel, f"thread:{page_id}")
        return Queued(row_id, channel, channel if kind == MessageKind.CHANNEL else None)
    if kind == MessageKind.SWAP_UPDATE:  # redraws of DMs already sent (chat.update)
        return Queued(row_id, None, None)
    destination = f"dm:{person_id}"
    return Queued(row_id, destination, destination if kind in _DM_GROUPED and not confirm else None)
