"""Pacing Slack to its published limits (issue 14, item 3).

Slack allows `chat.postMessage` about one message per second per channel (a DM is a channel), with short
bursts over it. In a storm the bot would otherwise post thousands of thread lines and DMs that Slack answers
with 429s and that arrive minutes late. So each destination gets a token bucket; what fits is sent, and what
backs up is grouped: the thread lines of one page become one post, the plain DMs to one person one digest DM,
the redraws of one page's card one redraw (it shows the page as it stands anyway). What still does not fit
waits for its token, in order, so a page's card is never overtaken by its own thread. A row whose group
already has rows waiting for a slot joins them there (up to GROUPED_MAX_CHARS), rather than take a slot of its
own: in a storm that lasts, a person's DMs and a thread's lines are one message a slot, not a queue that
grows by one a row.

Cards too (`SlackPace.group_cards`): when the cards of a channel back up, the ones that still have a token are
posted as cards and the rest are folded into one storm message, which waits for the channel's next token;
every card that backs up meanwhile joins it. So a storm of 5,000 pages is about one storm message a second
while it lasts, not 83 minutes of cards, and a page opened after it (the channel has tokens again) gets its
own card. A folded page's thread lines go to the storm message's thread, and never before it is posted.

Pure: the buckets go in and come out; time is a parameter.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .vocabulary import MessageKind, SlackTarget

# The words one grouped message may carry, well within the 40,000 characters Slack takes before it truncates
# (its advice for one message is 4,000: a digest is read as a list, not a message); a group that outgrows this
# takes another slot.
GROUPED_MAX_CHARS = 12_000


@dataclass(frozen=True)
class SlackPace:
    per_second: float = 1.0  # Slack: about one chat.postMessage per second per channel
    # "Bursts allowed" (Slack gives no number): what an idle channel may take at once. Large enough that a
    # day's ordinary traffic (a week's start, a run of reports) is never held back; a storm is.
    burst: int = 20
    group_cards: bool = True  # cards that back up are folded into one storm message per send


@dataclass(frozen=True)
class WaitingGroup:
    """Rows of one group left waiting for one slot, and the words they carry so far."""

    until: datetime
    chars: int


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: datetime
    storm_at: datetime | None = None  # the slot of the storm message waiting for this channel: cards join it
    waiting: Mapping[str, WaitingGroup] = field(default_factory=dict)  # by group: later rows of it join them


@dataclass(frozen=True)
class Queued:
    """One outbox row waiting for Slack. `destination`: the channel or person it posts to (None: not paced,
    e.g. a card redraw, which is chat.update); `group`: rows with the same group may be sent as one message
    when they back up (None: never grouped, e.g. a DM with buttons; a card has `card` instead); `reserved`: it
    waited for a slot that an earlier round already counted against its destination, so it goes without
    another."""

    id: int
    destination: str | None
    group: str | None
    reserved: bool = False
    card: bool = False  # a page's card: folded into a storm message when the channel's cards back up
    page_id: int | None = None  # a thread line's page: it waits while that page's card is being folded
    chars: int = 0  # its words' length: a grouped message stays under GROUPED_MAX_CHARS


@dataclass(frozen=True)
class Unit:
    """One message to send now: the row `id`, carrying the rows `folded` into it (sent as part of it);
    `storm`: cards, sent as one storm message."""

    id: int
    folded: tuple[int, ...] = ()
    storm: bool = False


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
    return Bucket(min(float(pace.burst), bucket.tokens + elapsed * pace.per_second), now, bucket.storm_at,
                  bucket.waiting)


def _units(rows: Sequence[Queued], backed_up: bool) -> list[tuple[Unit, bool]]:
    """In order of their first row; grouped rows join the unit of the first of their group (when the
    destination is backed up, or when both waited for a slot: a group deferred together holds one slot, so it
    comes back as one message, not one each). Each unit with whether it holds a slot already (any of its rows
    does)."""
    order: list[int] = []
    members: dict[int, list[Queued]] = {}
    first_of_group: dict[str, int] = {}
    for row in rows:
        first = first_of_group.get(row.group) if row.group is not None else None
        if first is not None and (backed_up or (row.reserved and members[first][0].reserved)) \
                and sum(r.chars for r in members[first]) + row.chars <= GROUPED_MAX_CHARS:
            members[first].append(row)
            continue
        if row.group is not None:  # the first of its group, or the first once the last one is full
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
        backed_up = fresh > max(0, math.floor(tokens))
        # The storm message of this round: sent now when one of its cards' slot came (it holds a token
        # already), else it waits for the slot of the one already waiting, or takes the next slot.
        storm: list[int] = []
        storm_pages: set[int] = set()
        storm_now = pace.group_cards and any(row.reserved and row.card for row in rows)
        storm_at = bucket.storm_at if bucket.storm_at is not None and bucket.storm_at > now else None
        waiting = {group: w for group, w in bucket.waiting.items() if w.until > now}
        by_id = {row.id: row for row in rows}
        for unit, reserved in _units(rows, backed_up):
            first = by_id[unit.id]
            if pace.group_cards and first.card and (storm_now or storm or storm_at or (backed_up and tokens < 1)):
                if not storm and not storm_now and storm_at is None:
                    tokens -= 1  # the storm message's slot
                    storm_at = bucket.at + timedelta(seconds=(-tokens) / pace.per_second)
                storm.append(unit.id)
                if first.page_id is not None:
                    storm_pages.add(first.page_id)
                continue
            waits_for_card = first.page_id is not None and first.page_id in storm_pages
            if reserved and not waits_for_card:
                send.append(unit)
            elif tokens >= 1 and not waits_for_card:
                send.append(unit)
                tokens -= 1
            else:
                chars = first.chars + sum(by_id[i].chars for i in unit.folded)
                joins = waiting.get(first.group) if first.group is not None else None
                if joins is not None and joins.chars + chars <= GROUPED_MAX_CHARS:
                    until = joins.until  # its group waits already: it goes with them, in their slot
                    chars += joins.chars
                else:
                    tokens -= 1  # its slot: when the bucket would have refilled to this token
                    until = bucket.at + timedelta(seconds=(-tokens) / pace.per_second)
                if first.group is not None:
                    waiting[first.group] = WaitingGroup(until, chars)
                defer.extend((row_id, until) for row_id in (unit.id, *unit.folded))
        if storm and storm_now:
            send.append(Unit(storm[0], tuple(storm[1:]), storm=True))
            storm_at = None
        elif storm:
            assert storm_at is not None
            defer.extend((row_id, storm_at) for row_id in storm)
        after[destination] = Bucket(tokens, bucket.at, storm_at, waiting)
    return PacingPlan(tuple(send), tuple(defer), after)


# Plain-text DMs that can be read as one digest; a DM with buttons (a reminder, a swap, a verification, the
# test page's Confirm) stays its own message.
_DM_GROUPED = (MessageKind.PAGE, MessageKind.DIGEST, MessageKind.REPORT)


def queued_for_slack(row_id: int, kind: str, target: str | None, person_id: str | None,
                     page_id: int | None, confirm: bool = False, storm_thread: str | None = None) -> Queued:
    """Where a Slack outbox row posts and what it may be grouped with. `storm_thread`: a thread line of a page
    folded into a storm message goes to that message's thread (its ts), with the other folded pages' lines."""
    if kind == MessageKind.CARD_UPDATE:  # chat.update, not a post; one redraw shows the page as it stands
        return Queued(row_id, None, f"card:{page_id}")
    if kind in (MessageKind.CARD, MessageKind.THREAD, MessageKind.CHANNEL):
        channel = f"channel:{target or SlackTarget.SUPPORT}"
        if kind == MessageKind.THREAD and storm_thread is not None:
            return Queued(row_id, channel, f"storm:{storm_thread}", page_id=page_id)
        if kind == MessageKind.THREAD and page_id is not None:
            return Queued(row_id, channel, f"thread:{page_id}", page_id=page_id)
        if kind == MessageKind.CARD:
            return Queued(row_id, channel, None, card=True, page_id=page_id)
        return Queued(row_id, channel, channel if kind == MessageKind.CHANNEL else None)
    if kind == MessageKind.SWAP_UPDATE:  # redraws of DMs already sent (chat.update)
        return Queued(row_id, None, None)
    destination = f"dm:{person_id}"
    return Queued(row_id, destination, destination if kind in _DM_GROUPED and not confirm else None)
