"""The week's start: the handoff when a week starts, and the reminder before a person's week.

Each runs in one transaction: its claim (once per occasion, however many replicas run it) commits with the
messages it queues, so a crash loses neither and a second replica finds the claim taken."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..domain import keys
from ..domain.handoff import (
    OPEN_PAGES_SHOWN,
    OpenPage,
    handoff_text,
    holder,
    reminder_window,
    thread_link,
    week_reminder_text,
)
from ..domain.paging import TEST_PAGE_SOURCE
from ..domain.procedure import Procedure
from ..domain.team import Team
from ..domain.vocabulary import Channel, MessageKind, PageState, SlackTarget
from ..ports import Store, StoreTx

HANDOFF_JOB = "handoff"
WEEK_REMINDER_JOB = "week_reminder"
OPEN_PAGES_READ = 500  # the newest open pages read for the handoff; a team has a handful


@dataclass(frozen=True)
class Handoff:
    week: date
    recipients: tuple[str, ...]  # the person ids DMed (incoming, outgoing)
    open_pages: tuple[int, ...]  # the pages listed as still open


def _open_before(tx: StoreTx, team: Team, start_at: datetime, workspace_url: str | None) -> list[OpenPage]:
    """The pages opened before `start_at` and not closed (done or dismissed) yet, oldest first; the weekly
    test pages are not support work and are left out."""
    pages = [p for p in tx.pages_listed((PageState.OPEN, PageState.ON_IT), None, OPEN_PAGES_READ)
             if p.created_at < start_at and p.source != TEST_PAGE_SOURCE]

    def name(person_id: str | None) -> str | None:
        person = team.person(person_id)
        return person.name if person else person_id

    return [OpenPage(p.id, p.summary, p.state, name(p.on_it_by),
                     thread_link(p.slack_channel, p.slack_thread_ts, workspace_url))
            for p in sorted(pages, key=lambda p: p.id)]


def send_handoff(store: Store, procedure: Procedure, now: datetime,
                 workspace_url: str | None = None, week: date | None = None) -> Handoff | None:
    """Post the week's handoff in the support channel and DM it to the incoming and outgoing people:
    once per week across replicas. None when this week's handoff was already made. `workspace_url`
    (`https://<workspace>.slack.com/`) makes the links to the pages' threads permalinks; `week` the week
    started (default: the week containing `now`)."""
    window, team, tz = procedure.window, procedure.team, procedure.window.tz
    week = week or window.week_containing(now) or window.week_start_on_or_before(now.astimezone(tz).date())
    start_at, _ = window.bounds(week)
    with store.transaction() as tx:
        if not tx.claim_job_run(HANDOFF_JOB, week.isoformat(), now):
            return None
        current = tx.shift_for_week(week)
        previous = tx.shift_for_week(week - timedelta(days=7))
        following = tx.shift_for_week(week + timedelta(days=7))
        pages = _open_before(tx, team, start_at, workspace_url)
        shown = pages[:OPEN_PAGES_SHOWN]
        text = handoff_text(f"{week:%a %Y-%m-%d}", holder(current, team, tz), holder(previous, team, tz),
                            holder(following, team, tz), shown, more=len(pages) - len(shown))
        tx.add_notification(keys.handoff_post(week), now, kind=MessageKind.CHANNEL, channel=Channel.SLACK,
                            target=SlackTarget.SUPPORT, text=text)
        recipients: list[str] = []
        for shift in (current, previous):
            if shift is not None and shift.person_id not in recipients and team.person(shift.person_id):
                recipients.append(shift.person_id)
                tx.add_notification(keys.handoff_dm(week, shift.person_id), now, kind=MessageKind.REPORT,
                                    channel=Channel.SLACK, person_id=shift.person_id, text=text)
        return Handoff(week, tuple(recipients), tuple(p.id for p in shown))


def send_week_reminders(store: Store, procedure: Procedure, before: timedelta, checklist: Sequence[str],
                        now: datetime) -> list[tuple[date, str]]:
    """DM each person whose week starts within `before` from now: their week, the people before and after
    them, and the checklist. Once per person and week across replicas (a claim keyed by both, so a week
    given to someone else after its reminder reminds its new holder too). Returns (week, person) reminded."""
    team, tz = procedure.team, procedure.window.tz
    reminded: list[tuple[date, str]] = []
    with store.transaction() as tx:
        for shift in tx.shifts_starting_between(*reminder_window(now, before)):
            person = team.person(shift.person_id)
            if person is None:
                continue
            if not tx.claim_job_run(WEEK_REMINDER_JOB, f"{shift.week_start.isoformat()}:{person.id}", now):
                continue
            week = holder(shift, team, tz)
            assert week is not None
            previous = holder(tx.shift_for_week(shift.week_start - timedelta(days=7)), team, tz)
            following = holder(tx.shift_for_week(shift.week_start + timedelta(days=7)), team, tz)
            tx.add_notification(keys.week_reminder(shift.week_start, person.id), now, kind=MessageKind.REPORT,
                                channel=Channel.SLACK, person_id=person.id,
                                text=week_reminder_text(person.name, week, previous, following, before, checklist))
            reminded.append((shift.week_start, person.id))
    return reminded
