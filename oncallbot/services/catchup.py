"""Catching up after downtime: the week-start test page and handoff, and the weekly report, run once per
occasion even when no replica was up at the minute they were due; past their grace they are skipped and the
approvers told once. And what `oncallbot jobs` shows: every periodic job, its last claimed run, its next run,
a missed run pending.

A replica calls the catch-ups on start and at every tick; `domain.schedule.occasion_due` decides, the claim in
job_runs (one row per job and occasion) makes it once across replicas."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..domain import keys, wording
from ..domain.procedure import Procedure
from ..domain.schedule import (
    Due,
    Occasion,
    PeriodicJob,
    WeeklySchedule,
    occasion_due,
    report_occasion,
    report_schedule,
    reported_week,
    week_start_schedule,
)
from ..domain.swaps import local_label
from ..domain.timelabels import format_duration
from ..ports import JobRun, Store, StoreTx
from .delivery import notify_approvers
from .intake import open_test_page
from .pages import PageSnapshot
from .reports import send_weekly_report
from .week_start import HANDOFF_JOB, Handoff, send_handoff

TEST_PAGE_JOB = "test_page"  # the job_runs names the claims already use
WEEKLY_REPORT_JOB = "weekly_report"


def _day(occasion: str) -> date | None:
    try:
        return date.fromisoformat(occasion)
    except ValueError:
        return None


def _last_week_start(tx: StoreTx, job: str) -> date | None:
    """The week-start jobs (test page, handoff) claim their runs under the week's start day."""
    run = tx.last_job_run(job)
    return _day(run.occasion) if run else None


def _last_test_page(tx: StoreTx) -> date | None:
    return _last_week_start(tx, TEST_PAGE_JOB)


def _last_report(tx: StoreTx, procedure: Procedure) -> date | None:
    """Report runs are claimed under the week they cover; as an occasion, the day the report was due."""
    run = tx.last_job_run(WEEKLY_REPORT_JOB)
    week = _day(run.occasion) if run else None
    return report_occasion(procedure.window, report_schedule(procedure.window), week) if week else None


def report_grace(schedule: WeeklySchedule, now: datetime) -> timedelta:
    """The weekly report is owed within the day it is due."""
    return schedule.rest_of_day(schedule.latest(now))


def _missed(store: Store, procedure: Procedure, job: str, claim: str, occasion: Occasion, what: str,
            grace: timedelta, now: datetime) -> None:
    with store.transaction() as tx:
        if tx.claim_job_run(job, claim, now, outcome=Due.MISSED):
            notify_approvers(tx, procedure, keys.job_missed(job, occasion.day), now,
                             wording.job_missed_text(what, local_label(occasion.at, procedure.window.timezone),
                                                     format_duration(grace)))


def catch_up_test_page(store: Store, procedure: Procedure, confirm_window: timedelta, grace: timedelta,
                       now: datetime) -> PageSnapshot | None:
    """The week's test page if it is owed (within `grace` of the week's start and not yet claimed); past the
    grace, the approvers are told once that it was missed. The page opened, if any."""
    with store.reading() as tx:
        last = _last_test_page(tx)
    occasion = occasion_due(week_start_schedule(procedure.window), last, now, grace)
    if occasion is None:
        return None
    if occasion.due is Due.MISSED:
        _missed(store, procedure, TEST_PAGE_JOB, occasion.day.isoformat(), occasion, "weekly test page", grace, now)
        return None
    return open_test_page(store, procedure, confirm_window, now)


def catch_up_handoff(store: Store, procedure: Procedure, grace: timedelta, now: datetime,
                     workspace_url: str | None = None) -> Handoff | None:
    """The week's handoff if it is owed (within `grace` of the week's start, the test page's grace, and not
    yet claimed); past the grace, the approvers are told once that it was missed. The handoff made, if any."""
    with store.reading() as tx:
        last = _last_week_start(tx, HANDOFF_JOB)
    occasion = occasion_due(week_start_schedule(procedure.window), last, now, grace)
    if occasion is None:
        return None
    if occasion.due is Due.MISSED:
        _missed(store, procedure, HANDOFF_JOB, occasion.day.isoformat(), occasion, "week's handoff", grace, now)
        return None
    return send_handoff(store, procedure, now, workspace_url, week=occasion.day)


def catch_up_weekly_report(store: Store, procedure: Procedure, now: datetime) -> bool:
    """Last week's report if it is owed today and not yet sent; missed on a later day. True when sent."""
    schedule = report_schedule(procedure.window)
    with store.reading() as tx:
        last = _last_report(tx, procedure)
    grace = report_grace(schedule, now)
    occasion = occasion_due(schedule, last, now, grace)
    if occasion is None:
        return False
    if occasion.due is Due.MISSED:
        week = reported_week(procedure.window, schedule, occasion.day)
        _missed(store, procedure, WEEKLY_REPORT_JOB, week.isoformat(), occasion, "weekly report", grace, now)
        return False
    return send_weekly_report(store, procedure, now)


# --- `oncallbot jobs` --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobStatus:
    job: PeriodicJob
    last_run: JobRun | None  # the latest claimed run (weekly jobs only: interval jobs claim no runs)
    next_run: datetime | None  # UTC; the next weekly occasion (interval jobs run every `every`)
    missed_pending: bool  # an occasion is owed: a replica will run it (within the grace) or report it missed
    pending_occasion: datetime | None


SYNC_JOB = "rotation.sync"


def jobs_status(store: Store, procedure: Procedure, jobs: Sequence[PeriodicJob], now: datetime,
                sync_source: str | None = None) -> list[JobStatus]:
    """Each job with its last run: the claimed run of a weekly job, the last finished sync of the rotation
    (`sync_source`: the calendar's key; any replica, unrecorded); interval jobs claim nothing."""
    statuses = []
    with store.reading() as tx:
        last_report = _last_report(tx, procedure)
        for job in jobs:
            run = tx.last_job_run(job.claim) if job.claim else None
            if job.weekly is None:
                synced_at = tx.sync_state(sync_source)[1] if job.name == SYNC_JOB and sync_source else None
                if synced_at is not None and job.every is not None:
                    statuses.append(JobStatus(job, JobRun(job.name, "", synced_at, None, Due.RUN),
                                              max(synced_at + job.every, now), False, None))
                else:
                    statuses.append(JobStatus(job, run, None, False, None))
                continue
            last = last_report if job.claim == WEEKLY_REPORT_JOB else _last_week_start(tx, job.claim or job.name)
            grace = job.grace if job.grace is not None else report_grace(job.weekly, now)
            owed = occasion_due(job.weekly, last, now, grace)
            statuses.append(JobStatus(job, run, job.weekly.next_after(now), owed is not None,
                                      owed.at if owed else None))
    return statuses
