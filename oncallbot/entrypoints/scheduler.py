"""Periodic jobs. APScheduler only triggers: deadlines are rows, and once-per-occasion jobs claim a
(job, occasion) row first, so every replica can run the same schedule safely."""

import logging
import threading
import time
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from ..bootstrap import Container, build_user_groups
from ..domain.schedule import PeriodicJob, report_schedule, week_start_schedule
from ..logs import log_event
from ..ports import SentFinder
from ..services.catchup import (
    TEST_PAGE_JOB,
    WEEKLY_REPORT_JOB,
    catch_up_handoff,
    catch_up_test_page,
    catch_up_weekly_report,
)
from ..services.contacts import remind_unverified, request_verifications
from ..services.delivery import deliver_pending, reap_stale_sends
from ..services.oncall_group import update_oncall_group
from ..services.paging import fire_due_done_reminders, fire_due_escalations, next_escalation_at
from ..services.rotation import sync_and_notify
from ..services.swaps import expire_due
from ..services.watch import DispatcherLiveness, beat, watch_bot
from ..services.week_start import HANDOFF_JOB, send_week_reminders

log = logging.getLogger("oncallbot.scheduler")
# The dispatcher sleeps until the earliest step it knows of, woken sooner by a page committed due earlier (this
# process's, or another replica's through PostgreSQL NOTIFY). The poll is the safety net for a lost notice, and
# the period of the done reminders and of reaping interrupted sends.
FIRE_POLL_SECONDS = 5.0
# Rounds begin at most this often: in a storm each round fires a batch, not a page or two (each round costs two
# transactions on every replica). At rest it delays nothing: the last round is long past. 0.05 s since steps
# are fired in bulk (bench/README.md: 10,000 steps due within a minute, p99 692 ms at 0.1 s, 343 ms at 0.05 s).
FIRE_COALESCE_SECONDS = 0.05
FIRE_BEHIND_MAX_SECONDS = 0.2  # the longest wait for a due step this replica could not fire (locked, failing)
DELIVER_INTERVAL_SECONDS = 0.5  # intake and acknowledgments send at once; this catches the rest
RECONCILE_INTERVAL_SECONDS = 1  # an interrupted send is looked up within this of its claim's end
SWAP_EXPIRY_INTERVAL_SECONDS = 30  # a request expires within this of its week's start
WEEK_REMINDER_INTERVAL_SECONDS = 60  # a week's reminder goes out within this of `week_reminder.before`
CATCH_UP_INTERVAL_SECONDS = 30  # a week-start job owed after downtime runs within this (and once at start)
ONCALL_GROUP_INTERVAL_SECONDS = 60  # the on-call user group follows a week start, sync or swap within this
WATCH_INTERVAL_SECONDS = 60  # the heartbeat's period: a dead-man's switch expects a call every minute
VERIFY_INTERVAL_SECONDS = 60  # a new number gets its code, an unverified one its 48-hour reminder, within this


def periodic_jobs(container: Container) -> list[PeriodicJob]:
    """Every job `create_scheduler` runs, as `oncallbot jobs` describes it."""
    settings, window = container.settings, container.procedure.window
    jobs = [
        PeriodicJob("rotation.sync", "sync the rotation calendar", every=settings.rotation.sync_interval),
        PeriodicJob("escalations.fire", "fire each escalation step at its due time (woken by a page due sooner; "
                    "looks at least this often)", every=timedelta(seconds=FIRE_POLL_SECONDS)),
        PeriodicJob("done_reminders", "remind holders of pages left at On It! (with the escalation dispatcher)",
                    every=timedelta(seconds=FIRE_POLL_SECONDS)),
        PeriodicJob("outbox.deliver", "send queued messages", every=timedelta(seconds=DELIVER_INTERVAL_SECONDS)),
        PeriodicJob("outbox.reconcile", "ask the provider about sends interrupted mid-send: sent, send again, or "
                    "report", every=timedelta(seconds=RECONCILE_INTERVAL_SECONDS)),
        PeriodicJob("swaps.expire", "expire undecided swap requests",
                    every=timedelta(seconds=SWAP_EXPIRY_INTERVAL_SECONDS)),
    ]
    if settings.test_page.enabled:
        jobs.append(PeriodicJob("test_page", "the weekly test page at the week's start",
                                weekly=week_start_schedule(window), claim=TEST_PAGE_JOB,
                                grace=settings.test_page.grace))
    if settings.handoff.enabled:
        jobs.append(PeriodicJob("handoff", "the week's handoff in the support channel and by DM",
                                weekly=week_start_schedule(window), claim=HANDOFF_JOB, grace=settings.test_page.grace))
    if settings.week_reminder.enabled:
        jobs.append(PeriodicJob("week_reminder", "the reminder before each person's week",
                                every=timedelta(seconds=WEEK_REMINDER_INTERVAL_SECONDS)))
    jobs.append(PeriodicJob("report.weekly", "last week's report to the approvers", weekly=report_schedule(window),
                            claim=WEEKLY_REPORT_JOB))
    jobs.append(PeriodicJob("contacts.verify", "text a code to new or changed phone numbers; remind once of a "
                            "number unverified after 48 hours", every=timedelta(seconds=VERIFY_INTERVAL_SECONDS)))
    jobs.append(PeriodicJob("watch", "check the bot itself: tell the approvers of a stuck outbox or a failing sync"
                            + ("; call the heartbeat while all is well" if container.heartbeat is not None else ""),
                            every=timedelta(seconds=WATCH_INTERVAL_SECONDS)))
    if settings.slack.oncall_usergroup:
        jobs.append(PeriodicJob("slack.oncall_group", "keep the on-call Slack user group to the person on call",
                                every=timedelta(seconds=ONCALL_GROUP_INTERVAL_SECONDS)))
    return jobs


def run_isolated(name: str, job) -> None:
    """One failing job never stops the scheduler or the other jobs."""
    try:
        job()
    except Exception:
        log.exception("job failed", extra={"fields": {"job": name}})


def sync_job(container: Container) -> None:
    result = sync_and_notify(container.store, container.rotation_source, container.procedure, container.clock.now())
    if result.skipped:
        log_event(log, "rotation sync skipped: another replica is syncing this calendar")
        return
    container.deliver_now()
    log_event(log, "rotation synced", shifts=len(result.shifts), changes=len(result.changes),
              problems=len(result.problems), full=result.full)


def fire_job(container: Container) -> int:
    """The dispatcher's full round: due steps, due done reminders (interrupted sends: outbox.reconcile). Returns
    the steps fired."""
    now = container.clock.now()
    fired = fire_due_escalations(container.store, container.procedure, now, keep_going=container.running)
    fire_due_done_reminders(container.store, container.procedure, now, keep_going=container.running)
    if container.dispatcher is not None:  # a run that raised or hangs never gets here: the heartbeat stops
        container.dispatcher.ran(container.clock.now())
    return fired


class Dispatcher(threading.Thread):
    """This process's escalation dispatcher: fires due steps at their due time and sleeps in between.

    It knows the earliest `next_due_at` of the open pages (read after each round) and waits until then, or until
    the store announces a step due sooner (`DueWakeup`: this process's commits, and on PostgreSQL every
    replica's through LISTEN/NOTIFY), or `poll` seconds at most. Exactly-once does not depend on any of this:
    a step is fired by whichever replica claims its page row (SKIP LOCKED), so an early, late or double wake
    only costs a query."""

    def __init__(self, container: Container, poll: float = FIRE_POLL_SECONDS,
                 coalesce: float = FIRE_COALESCE_SECONDS):
        super().__init__(name="dispatcher", daemon=True)
        self.container, self.poll, self.coalesce = container, poll, coalesce
        self.wakeup = container.database.wakeup
        self.next_due_at: datetime | None = None  # the earliest step this dispatcher knows of
        self.rounds = 0  # finished rounds (full or steps only), for tests waiting on the thread
        self._listener: threading.Thread | None = None  # PostgreSQL only: LISTEN for other replicas' pages
        self._behind = 0  # rounds in a row that left a due step unfired
        self.fired = 0  # steps the last round fired

    def run_round(self, full: bool) -> datetime | None:
        """Fire what is due now (and, on a full round, reap interrupted sends and send done reminders);
        the earliest step still to come."""
        container = self.container
        self.fired = 0

        def fire() -> None:
            self.fired = fire_job(container) if full else fire_due_escalations(
                container.store, container.procedure, container.clock.now(), keep_going=container.running)

        run_isolated("escalations.fire", fire)
        try:
            self.next_due_at = next_escalation_at(container.store)
        except Exception:
            log.exception("could not read the next due step; polling")
            self.next_due_at = None
        self.rounds += 1
        return self.next_due_at

    def seconds_until(self, due_at: datetime | None, full_round_at: float) -> float:
        """How long to sleep: until the step is due, and never past the next full round."""
        until_full = max(0.0, full_round_at - time.monotonic())
        until_due = (due_at - self.container.clock.now()).total_seconds() if due_at is not None else None
        if until_due is None or until_due > 0:
            self._behind = 0
            return until_full if until_due is None else min(until_full, until_due)
        if self.fired:  # a busy moment: this round fired steps and more are due (or held by another replica)
            self._behind = 0
            return 0.0
        # Due, yet this round fired nothing: another replica holds its row, or firing it failed. Look again
        # soon, and less often while it stays so (never a busy loop).
        self._behind += 1
        return min(until_full, FIRE_BEHIND_MAX_SECONDS, self.coalesce * 2 ** min(self._behind, 8))

    def run(self) -> None:
        container = self.container
        self._listener = container.database.listen_for_due(container.stopping)
        full_round_at = 0.0
        while container.running():
            full = time.monotonic() >= full_round_at
            if full:
                full_round_at = time.monotonic() + self.poll
            started = time.monotonic()
            due_at = self.run_round(full)
            self.wakeup.wait(due_at, self.seconds_until(due_at, full_round_at))
            container.stopping.wait(max(0.0, started + self.coalesce - time.monotonic()))

    def stop(self, timeout: float = 30) -> None:
        self.container.stopping.set()
        self.wakeup.interrupt()
        if self.is_alive():
            self.join(timeout)
        if self._listener is not None:
            self._listener.join(timeout)


def reconcile_job(container: Container) -> None:
    """Sends interrupted mid-send, looked up with the provider: its own job, as a lookup may wait on a slow
    provider and must delay neither the next deadline nor the next send."""
    finder = container.deliverer if isinstance(container.deliverer, SentFinder) else None
    if reap_stale_sends(container.store, container.procedure, container.clock.now(), finder):
        container.deliver_now()


def watch_job(container: Container) -> None:
    """Every minute: the heartbeat while every check passes; the approvers told of a stuck outbox or a failing
    sync, sent at once (not left to the outbox job, which may be the part that is stuck)."""
    vitals, failing = container.health()
    now = container.clock.now()
    beat(container.heartbeat, failing)
    result = watch_bot(container.store, container.procedure, vitals, container.settings.rotation.sync_interval, now)
    if result.keys:
        deliver_pending(container.store, container.procedure, container.deliverer, now, keys=result.keys,
                        keep_going=container.running, clock=container.clock.now)


def test_page_job(container: Container) -> None:
    """The week's test page if it is owed: at the week's start, or after downtime within test_page.grace."""
    settings = container.settings.test_page
    page = catch_up_test_page(container.store, container.procedure, settings.window, settings.grace,
                              container.clock.now())
    if page is not None:  # a missed one's message to the approvers goes with the outbox's next tick
        container.deliver_now(page.id)
        log_event(log, "test page sent", page=page.id, person=page.responsible)


def swap_expiry_job(container: Container) -> None:
    """Expire the swap requests whose earliest week has started; the approvers' reminder 48 h before. Once
    across replicas: due requests are claimed with SKIP LOCKED, the reminder by a conditional update."""
    expired = expire_due(container.store, container.procedure, container.clock.now())
    container.deliver_now()
    if expired:
        log_event(log, "swap requests expired", requests=[r.id for r in expired])


def weekly_report_job(container: Container) -> None:
    """Last week's report if it is owed (within the day it is due); missed later on, and the approvers told."""
    if catch_up_weekly_report(container.store, container.procedure, container.clock.now()):
        container.deliver_now()


def handoff_job(container: Container) -> None:
    """The week's handoff if it is owed: at the week's start, or after downtime within test_page.grace; once
    per week across replicas (a claim committed with its messages)."""
    from ..adapters.slack.workspace import workspace_url  # the Slack SDK only where Slack is used

    now = container.clock.now()
    handoff = catch_up_handoff(container.store, container.procedure, container.settings.test_page.grace, now,
                               workspace_url(container.slack_client))
    if handoff is not None:
        container.deliver_now()
        log_event(log, "handoff sent", week=handoff.week.isoformat(), people=list(handoff.recipients),
                  open_pages=list(handoff.open_pages))


def week_reminder_job(container: Container) -> None:
    """The reminder before each person's week: once per person and week across replicas."""
    settings = container.settings.week_reminder
    reminded = send_week_reminders(container.store, container.procedure, settings.before, settings.checklist,
                                   container.clock.now())
    if reminded:
        container.deliver_now()
        log_event(log, "week reminders sent", weeks=[f"{week}:{person}" for week, person in reminded])


def catch_up_job(container: Container) -> None:
    """On start and every CATCH_UP_INTERVAL_SECONDS: whatever week-start job is owed and not yet claimed."""
    if container.settings.test_page.enabled:
        run_isolated("test_page", lambda: test_page_job(container))
    if container.settings.handoff.enabled:
        run_isolated("handoff", lambda: handoff_job(container))
    run_isolated("report.weekly", lambda: weekly_report_job(container))


def verify_contacts_job(container: Container) -> None:
    """Codes to numbers new to the bot (the config's, after a restart with a changed `people`), and the
    one reminder of a number still unverified after 48 hours; once across replicas (claims on the rows)."""
    now = container.clock.now()
    texted = request_verifications(container.store, container.procedure, now)
    reminded = remind_unverified(container.store, container.procedure, now)
    if texted or reminded:
        container.deliver_now()
        log_event(log, "phone verification", texted=texted, reminded=reminded)


def oncall_group_job(container: Container) -> None:
    """The on-call user group's member = the person on call now; Slack is written only when it differs.
    Once at start and every minute: a week's start, a sync or a swap shows within a minute (see
    services.oncall_group for why polling beats a hook in each of them)."""
    groups, group_id = build_user_groups(container), container.settings.slack.oncall_usergroup
    if groups is None or group_id is None:
        return
    update = update_oncall_group(container.store, container.procedure, groups, group_id, container.clock.now())
    if update.outcome in ("refused", "nobody"):
        container.deliver_now()  # the approvers' one message about it, if it is new


def create_scheduler(container: Container) -> BackgroundScheduler:
    tz = container.procedure.window.tz
    scheduler = BackgroundScheduler(timezone=tz, job_defaults={"coalesce": True, "max_instances": 1})
    container.dispatcher = DispatcherLiveness(container.clock.now())
    interval = container.settings.rotation.sync_interval.total_seconds()
    # The first sync runs at once, in the background: a slow or unreachable calendar never delays escalation,
    # which serves from the stored rotation meanwhile.
    scheduler.add_job(run_isolated, "interval", seconds=interval, id="rotation.sync", replace_existing=True,
                      args=["rotation.sync", lambda: sync_job(container)], misfire_grace_time=int(interval),
                      next_run_time=datetime.now(tz))
    # Steps are fired by the `Dispatcher` thread (serve starts it), apart from sending, so a slow provider
    # never delays the next deadline.
    scheduler.add_job(run_isolated, "interval", seconds=DELIVER_INTERVAL_SECONDS, id="outbox.deliver",
                      replace_existing=True, args=["outbox.deliver", container.deliver_now], misfire_grace_time=30)
    scheduler.add_job(run_isolated, "interval", seconds=RECONCILE_INTERVAL_SECONDS, id="outbox.reconcile",
                      replace_existing=True, args=["outbox.reconcile", lambda: reconcile_job(container)],
                      misfire_grace_time=30)
    scheduler.add_job(run_isolated, "interval", seconds=SWAP_EXPIRY_INTERVAL_SECONDS, id="swaps.expire",
                      replace_existing=True, args=["swaps.expire", lambda: swap_expiry_job(container)],
                      misfire_grace_time=SWAP_EXPIRY_INTERVAL_SECONDS * 10)
    if container.settings.test_page.enabled:
        start = container.procedure.window.start
        confirm = int(container.settings.test_page.window.total_seconds())
        scheduler.add_job(run_isolated, "cron", day_of_week=start.weekday, hour=start.at.hour, minute=start.at.minute,
                          timezone=tz, id="test_page", replace_existing=True, misfire_grace_time=confirm,
                          args=["test_page", lambda: test_page_job(container)])
    if container.settings.handoff.enabled:
        start = container.procedure.window.start
        scheduler.add_job(run_isolated, "cron", day_of_week=start.weekday, hour=start.at.hour, minute=start.at.minute,
                          timezone=tz, id="handoff", replace_existing=True,
                          misfire_grace_time=int(container.settings.test_page.grace.total_seconds()),
                          args=["handoff", lambda: handoff_job(container)])
    if container.settings.week_reminder.enabled:
        # A run every minute: whichever replica looks first once a week is `before` away reminds its person.
        scheduler.add_job(run_isolated, "interval", seconds=WEEK_REMINDER_INTERVAL_SECONDS, id="week_reminder",
                          replace_existing=True, args=["week_reminder", lambda: week_reminder_job(container)],
                          misfire_grace_time=WEEK_REMINDER_INTERVAL_SECONDS * 10)
    # Monday morning, after the week's handover; a run missed by a restart still happens within the day
    # (the catch-up job below: APScheduler's in-memory store forgets a run missed while no replica was up).
    scheduler.add_job(run_isolated, "cron", day_of_week="mon", hour=9, minute=0, timezone=tz, id="report.weekly",
                      replace_existing=True, args=["report.weekly", lambda: weekly_report_job(container)],
                      misfire_grace_time=12 * 3600)
    scheduler.add_job(catch_up_job, "interval", seconds=CATCH_UP_INTERVAL_SECONDS, id="catch_up",
                      replace_existing=True, args=[container], misfire_grace_time=CATCH_UP_INTERVAL_SECONDS,
                      next_run_time=datetime.now(tz))
    scheduler.add_job(run_isolated, "interval", seconds=WATCH_INTERVAL_SECONDS, id="watch", replace_existing=True,
                      args=["watch", lambda: watch_job(container)], misfire_grace_time=WATCH_INTERVAL_SECONDS)
    scheduler.add_job(run_isolated, "interval", seconds=VERIFY_INTERVAL_SECONDS, id="contacts.verify",
                      replace_existing=True, args=["contacts.verify", lambda: verify_contacts_job(container)],
                      misfire_grace_time=VERIFY_INTERVAL_SECONDS * 10)
    if container.settings.slack.oncall_usergroup and container.slack_client is not None:
        scheduler.add_job(run_isolated, "interval", seconds=ONCALL_GROUP_INTERVAL_SECONDS, id="slack.oncall_group",
                          replace_existing=True, args=["slack.oncall_group", lambda: oncall_group_job(container)],
                          misfire_grace_time=ONCALL_GROUP_INTERVAL_SECONDS, next_run_time=datetime.now(tz))
    return scheduler
