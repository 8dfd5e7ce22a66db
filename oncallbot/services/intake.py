"""Intake: a voicemail or ticket becomes a page (from Slack, the CLI, the API), and the weekly test page.

Each use case is one transaction; its notifications are queued in the outbox and sent after commit."""

from datetime import datetime, timedelta

from ..domain import keys, wording
from ..domain.paging import (
    API_SOURCES,
    TEST_PAGE_SOURCE,
    plan_escalation,
    plan_test_page,
)
from ..domain.procedure import Procedure
from ..domain.responsibility import Responsibility, responsible_at
from ..domain.rotation import neighbours_at
from ..domain.vocabulary import PageEventKind
from ..errors import BadInput
from ..ports import PageRecord, Store, StoreTx
from .delivery import Claimed, SlackPacer, claim_pending, notify_approvers
from .escalation import fire_due_steps
from .pages import NewPage, PageSnapshot, plan_to_json, queue_card, snapshot

SUMMARY_LIMIT = 500


def open_page(store: Store, procedure: Procedure, new: NewPage, now: datetime,
              with_timeline: bool = True, inbound_key: str | None = None) -> tuple[PageSnapshot, bool]:
    """Record a voicemail or ticket and who was responsible when it came in. Idempotent on
    (source, external_id): each source's ids are its own, so no source can swallow another's page.
    `inbound_key` (the event that brought it, e.g. a Slack event id) is recorded as handled in the same
    transaction, so a retry of a delivery that committed is skipped before any work.

    Returns the page and whether it was created now."""
    summary = _summary(new)
    with store.transaction() as tx:
        if inbound_key is not None:
            # Seen or not, (source, external_id) is what keeps a retry from opening a second page; the record
            # only lets the next retry be skipped early.
            tx.first_time_seen(inbound_key, now)
        page, created = open_ticket_in(tx, procedure, new, summary, now)
        return snapshot(tx, page, with_timeline), created


def _summary(new: NewPage) -> str:
    if new.source == TEST_PAGE_SOURCE:
        raise BadInput("only the scheduler opens the weekly test page")
    summary = " ".join(new.summary.split())
    if not summary:
        raise BadInput("summary is empty")
    return summary if len(summary) <= SUMMARY_LIMIT else summary[:SUMMARY_LIMIT - 1] + "…"


def open_ticket_in(tx: StoreTx, procedure: Procedure, new: NewPage, summary: str,
                   now: datetime) -> tuple[PageRecord, bool]:
    """open_page inside the caller's transaction (the mailbox records the email with its page): idempotent on
    (source, external_id). Returns the page and whether it was created now."""
    if new.external_id:
        existing = tx.page_by_external_id(new.source, new.external_id)
        if existing:
            return existing, False
    page = open_page_in(tx, procedure, new, summary, now)
    if page is None:  # the same ticket, opened concurrently by another request
        concurrent = tx.page_by_external_id(new.source, new.external_id) if new.external_id else None
        if concurrent is None:
            raise BadInput("the page could not be stored")
        return concurrent, False
    return page, True


def responsibility_at(tx: StoreTx, procedure: Procedure, at: datetime) -> tuple[Responsibility, str]:
    """Who handled a page arriving at `at` (`responsible_at`, on the rotation in effect), and the page's
    `responsible`: the on-call person's id, "office" or "nobody"."""
    current = neighbours_at(at, procedure.shifts_in_effect(tx.shifts_around(at))).current
    responsibility = responsible_at(at, current, procedure.hours, procedure.window, procedure.holiday_on)
    responsible = current.person_id if current and responsibility.responsible == "oncall" \
        else responsibility.responsible
    return responsibility, responsible


def open_page_in(tx: StoreTx, procedure: Procedure, new: NewPage, summary: str, now: datetime,
                 arrived_at: datetime | None = None) -> PageRecord | None:
    """open_page inside the caller's transaction: the page on the clock, responsible as at `arrived_at`
    (default now), its card queued and its first due step fired. None when its (source, external_id) exists."""
    responsibility, responsible = responsibility_at(tx, procedure, arrived_at or now)
    plan = plan_escalation(responsibility, procedure.escalation, procedure.team, now, procedure.ack_window)
    page = tx.add_page(summary=summary, source=new.source, external_id=new.external_id, details=new.details,
                       state="open", responsible=responsible, created_at=now,
                       deadline_at=now + procedure.ack_window, plan=plan_to_json(plan), fired=0,
                       next_due_at=plan.due_at(0), slack_channel=new.slack_channel,
                       slack_thread_ts=new.slack_ts)
    if page is None:
        return None
    detail = {"oncall": "on call", "office": "business hours: the office",
              "nobody": f"nobody ({responsibility.cause}): the approvers are paged at once"}[
        responsibility.responsible]
    tx.add_event(page.id, now, PageEventKind.OPENED,
                 responsible if responsibility.responsible == "oncall" else None, new.source, detail)
    queue_card(tx, page, now)
    _, page = fire_due_steps(tx, page, procedure, now)
    return page


def open_api_page(store: Store, procedure: Procedure, new: NewPage, now: datetime) -> tuple[PageSnapshot, bool]:
    """A page from the paging API: its source must be one of API_SOURCES."""
    _check_api_source(new)
    # Without its timeline: the API answers with the page as it stands once its card is sent, read then; reading
    # the timeline here would only lengthen the transaction every intake waits on.
    return open_page(store, procedure, new, now, with_timeline=False)


def _check_api_source(new: NewPage) -> None:
    if new.source not in API_SOURCES:
        raise BadInput(f'source: "{new.source}" is not one of: {", ".join(API_SOURCES)}')


def open_api_page_claiming(store: Store, procedure: Procedure, new: NewPage, now: datetime,
                           pacer: SlackPacer | None = None) -> tuple[PageSnapshot, bool, Claimed | None]:
    """open_api_page, with what the new page queued (its card, a step fired at once) claimed for sending in the
    same transaction: sending it (`deliver_pending(..., claimed=...)`) needs no transaction of its own to claim
    it first, one commit fewer before the card is posted. A crash between this commit and the send leaves the
    rows as a crash mid-send does (`sending`, looked up with the provider once their deadline passes).

    The third value is None when the page existed already (nothing was queued)."""
    _check_api_source(new)
    summary = _summary(new)
    with store.transaction() as tx:
        page, created = open_ticket_in(tx, procedure, new, summary, now)
        claimed = claim_pending(tx, procedure, now, page.id, pacer=pacer) if created else None
        return snapshot(tx, page, with_timeline=False), created, claimed


def open_test_page(store: Store, procedure: Procedure, confirm_window: timedelta, now: datetime) -> PageSnapshot | None:
    """Check that calls really reach this week's on-call person. Once per week, however many replicas."""
    tz = procedure.window.tz
    with store.transaction() as tx:
        current = neighbours_at(now, tx.shifts_around(now)).current
        week = procedure.window.week_containing(now) or now.astimezone(tz).date()
        if not tx.claim_job_run("test_page", week.isoformat(), now):
            return None
        if current is None:
            notify_approvers(tx, procedure, keys.test_page_nobody(week), now,
                             wording.test_page_nobody_text(f"{week:%a %Y-%m-%d}"))
            return None
        person = procedure.team.person(current.person_id)
        if person is None:  # the sync only stores team members' weeks
            raise BadInput(f"{current.person_id}, on call in the calendar, is not on the team")
        plan = plan_test_page(person.id, procedure.team, confirm_window, now)
        page = tx.add_page(summary=wording.test_page_summary(person.name), source=TEST_PAGE_SOURCE,
                           external_id=f"test:{week}",
                           state="open", responsible=person.id, created_at=now, deadline_at=now + confirm_window,
                           plan=plan_to_json(plan), fired=0, next_due_at=plan.due_at(0))
        if page is None:  # this week's test page exists already (the job run above makes this unlikely)
            return None
        tx.add_event(page.id, now, PageEventKind.OPENED, person.id, "test", "weekly test page")
        queue_card(tx, page, now)
        _, page = fire_due_steps(tx, page, procedure, now)
        return snapshot(tx, page)
