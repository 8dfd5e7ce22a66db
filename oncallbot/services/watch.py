"""The bot watching itself (issue 13, item 9): read its vitals, tell the approvers of a stuck outbox or a
failing calendar sync (once per episode, once when it ends), and call the heartbeat only while all is well.

Per process: whether this replica's dispatcher runs (`DispatcherLiveness`), so the heartbeat of a replica
whose dispatcher stopped falls silent. From the database, shared by every replica: the outbox and the last
sync, so every replica judges them alike and the (job, occasion) claim lets exactly one tell each episode.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain import keys, wording
from ..domain.procedure import Procedure
from ..domain.timelabels import format_duration
from ..domain.vocabulary import Channel, MessageKind
from ..domain.watch import (
    Check,
    Vitals,
    failing_checks,
    outbox_stalled,
    sync_failing,
)
from ..errors import IntegrationError
from ..logs import log_event
from ..ports import Heartbeat, Store, StoreTx

log = logging.getLogger("oncallbot.watch")

OUTBOX_JOB = "watch.outbox"  # job_runs: one row per stuck-outbox episode, and one `.ended` row when it ends
SYNC_JOB = "watch.sync"


class DispatcherLiveness:
    """When this process's escalation dispatcher started and when it last finished a run."""

    def __init__(self, started_at: datetime):
        self.started_at = started_at
        self.ran_at: datetime | None = None

    def ran(self, at: datetime) -> None:
        self.ran_at = at


def read_vitals(store: Store, calendar_key: str, dispatcher: DispatcherLiveness | None) -> Vitals:
    ran_at, since = (dispatcher.ran_at, dispatcher.started_at) if dispatcher else (None, None)
    try:
        with store.reading() as tx:
            outbox = tx.outbox_state(ignoring_prefix=keys.WATCH_PREFIX)  # its own alarms are not "moving"
            _, synced_at = tx.sync_state(calendar_key)
    except Exception as exc:  # whatever the driver raises: the database does not answer
        log_event(log, "database check failed", level=logging.WARNING, error=str(exc)[:300])
        return Vitals(False, None, None, ran_at, since)
    return Vitals(True, outbox, synced_at, ran_at, since)


@dataclass(frozen=True)
class WatchResult:
    failing: tuple[Check, ...]  # the checks that do not pass now
    told: tuple[str, ...]  # the subjects told to the approvers by this call
    keys: tuple[str, ...]  # their outbox rows, to be sent at once


def watch_bot(store: Store, procedure: Procedure, vitals: Vitals, sync_interval: timedelta,
              now: datetime) -> WatchResult:
    """Judge the vitals; queue what the approvers must be told, in the transaction that claims the episode."""
    failing = failing_checks(vitals, now, sync_interval)
    if vitals.outbox is None:  # the database did not answer: nothing can be queued either
        return WatchResult(failing, (), ())
    outbox, tz = vitals.outbox, procedure.window.tz

    def local(at: datetime | None) -> str | None:
        return f"{at.astimezone(tz):%a %Y-%m-%d %H:%M %Z}" if at else None

    def stuck_text() -> str:
        age = outbox.oldest_age(now) or timedelta(0)
        return wording.outbox_stuck_text(outbox.waiting, f"{int(age.total_seconds() // 60)} min",
                                         local(outbox.last_sent_at))

    threshold = vitals.sync_threshold(sync_interval)
    stalled = outbox_stalled(outbox, now)
    failing_sync = sync_failing(vitals.last_sync_at, vitals.watching_since, now, threshold)
    told: list[str] = []
    queued: list[str] = []
    with store.transaction() as tx:
        if subject := _episode(tx, OUTBOX_JOB, Check.OUTBOX, stalled, now):
            text = stuck_text() if stalled else wording.outbox_moving_text(local(now) or "")
            told.append(subject)
            queued += _tell_approvers(tx, procedure, subject, text, now)
        if subject := _episode(tx, SYNC_JOB, Check.SYNC, failing_sync, now):
            text = wording.sync_failing_text(local(vitals.last_sync_at), format_duration(threshold)) \
                if failing_sync else wording.sync_recovered_text(local(vitals.last_sync_at) or "")
            told.append(subject)
            queued += _tell_approvers(tx, procedure, subject, text, now)
    for subject in told:
        log_event(log, "the bot told the approvers about itself", level=logging.WARNING, subject=subject)
    return WatchResult(failing, tuple(told), tuple(queued))


def _episode(tx: StoreTx, job: str, check: Check, episode: str | None, now: datetime) -> str | None:
    """The subject to tell now, if any: a new episode, or the end of the latest one (each claimed once)."""
    if episode is not None:
        return keys.watch_alert(check, episode) if tx.claim_job_run(job, episode, now) else None
    last = tx.last_job_run(job)
    if last is None:
        return None
    ended = tx.last_job_run(f"{job}.ended")
    if ended is not None and ended.occasion >= last.occasion:
        return None
    if not tx.claim_job_run(f"{job}.ended", last.occasion, now):
        return None
    return keys.watch_alert(check, last.occasion, ended=True)


def _tell_approvers(tx: StoreTx, procedure: Procedure, subject: str, text: str, now: datetime) -> list[str]:
    """Every approver, on every channel they have (Slack, and SMS unless they texted STOP): whichever still
    works carries it."""
    queued: list[str] = []
    for approver in procedure.team.approvers:
        channels = ([Channel.SLACK] if approver.slack_id else []) + \
                   ([Channel.SMS] if approver.phone and not tx.opted_out(approver.id, Channel.SMS) else [])
        for channel in channels:
            key = keys.watch_alert_on(subject, approver.id, channel)
            if tx.add_notification(key, now, kind=MessageKind.REPORT, channel=channel, person_id=approver.id,
                                   text=text):
                queued.append(key)
    return queued


def beat(heartbeat: Heartbeat | None, failing: tuple[Check, ...]) -> bool:
    """Call the dead-man's switch only while every check passes; its silence is the alarm. True: called."""
    if heartbeat is None:
        return False
    if failing:
        log_event(log, "heartbeat withheld", level=logging.WARNING, failing=[str(c) for c in failing])
        return False
    try:
        heartbeat.beat()
    except IntegrationError as exc:
        log_event(log, "heartbeat could not be sent", level=logging.WARNING, error=str(exc))
        return False
    return True

