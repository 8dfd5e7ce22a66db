"""Issue 10, item 3: the week-start test page and the weekly report run once per occasion even when no replica
was up at the minute they were due; past the grace they are skipped and the approvers told once."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from oncallbot import bootstrap
from oncallbot.adapters.db.models import JobRunRow, NotificationRow, PageRow
from oncallbot.config import ConfigError
from oncallbot.domain.rotation import ShiftWindow
from oncallbot.domain.schedule import (
    Due,
    occasion_due,
    report_occasion,
    report_schedule,
    reported_week,
    week_start_schedule,
)
from oncallbot.domain.timelabels import WeeklyTime
from oncallbot.entrypoints import scheduler
from oncallbot.entrypoints.scheduler import catch_up_job, create_scheduler, weekly_report_job
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import example_settings
from tests.harness.pager import LA

WINDOW = ShiftWindow(WeeklyTime.parse("Mon 18:01"), WeeklyTime.parse("Mon 06:59"), "America/Los_Angeles")
LAST_WEEK = datetime(2026, 11, 16, 18, 1, tzinfo=LA)  # the previous week's test page ran
WEEK_START = datetime(2026, 11, 23, 18, 1, tzinfo=LA)  # Aisha's week
TWO_HOURS = timedelta(hours=2)


# --- the pure decision ------------------------------------------------------------------------------------

def test_the_occasion_is_due_within_the_grace_and_missed_past_it():
    schedule = week_start_schedule(WINDOW)
    last = date(2026, 11, 16)
    assert occasion_due(schedule, last, WEEK_START - timedelta(seconds=1), TWO_HOURS) is None
    due = occasion_due(schedule, last, datetime(2026, 11, 23, 19, 0, tzinfo=LA), TWO_HOURS)
    assert due is not None and due.due is Due.RUN and due.day == date(2026, 11, 23) and due.at == WEEK_START
    assert occasion_due(schedule, last, WEEK_START + TWO_HOURS, TWO_HOURS).due is Due.RUN
    missed = occasion_due(schedule, last, WEEK_START + TWO_HOURS + timedelta(seconds=1), TWO_HOURS)
    assert missed is not None and missed.due is Due.MISSED and missed.day == date(2026, 11, 23)
    assert occasion_due(schedule, date(2026, 11, 23), WEEK_START + timedelta(days=1), TWO_HOURS) is None
    # A new installation owes nothing from before it existed, and tells nobody of it.
    assert occasion_due(schedule, None, WEEK_START + timedelta(days=1), TWO_HOURS) is None
    assert occasion_due(schedule, None, WEEK_START, TWO_HOURS).due is Due.RUN


@pytest.mark.parametrize(("day", "utc"), [
    (date(2027, 3, 8), datetime(2027, 3, 9, 2, 1, tzinfo=UTC)),  # PST
    (date(2027, 3, 15), datetime(2027, 3, 16, 1, 1, tzinfo=UTC)),  # PDT: the week after the change
    (date(2026, 10, 26), datetime(2026, 10, 27, 1, 1, tzinfo=UTC)),  # PDT
    (date(2026, 11, 2), datetime(2026, 11, 3, 2, 1, tzinfo=UTC)),  # PST: the week after the change
])
def test_the_test_page_occasion_is_the_week_start_in_the_team_zone_across_dst(day, utc):
    schedule = week_start_schedule(WINDOW)
    assert schedule.occurrence(day) == utc == WINDOW.bounds(day)[0]
    assert schedule.latest(utc) == day and schedule.latest(utc - timedelta(seconds=1)) == day - timedelta(days=7)
    due = occasion_due(schedule, day - timedelta(days=7), utc + timedelta(hours=1, minutes=59), TWO_HOURS)
    assert due is not None and due.due is Due.RUN and due.day == day
    assert occasion_due(schedule, day - timedelta(days=7), utc + timedelta(hours=2, minutes=1),
                        TWO_HOURS).due is Due.MISSED


def test_the_report_occasion_covers_the_week_that_ended_and_is_owed_within_the_day():
    schedule = report_schedule(WINDOW)
    monday = date(2026, 11, 30)
    assert reported_week(WINDOW, schedule, monday) == date(2026, 11, 23)
    assert report_occasion(WINDOW, schedule, date(2026, 11, 23)) == monday
    assert schedule.rest_of_day(monday) == timedelta(hours=15)
    assert schedule.rest_of_day(date(2027, 3, 15)) == timedelta(hours=15)  # wall-clock, after the change


def test_the_grace_is_validated():
    assert example_settings().test_page.grace == TWO_HOURS
    assert example_settings(test_page={"grace": "30m"}).test_page.grace == timedelta(minutes=30)
    for bad, message in (("0m", "greater than"), ("1d", "shorter than a day"), ("soon", "not a duration")):
        with pytest.raises(ConfigError) as caught:
            example_settings(test_page={"grace": bad})
        assert any("test_page.grace" in p and message in p for p in caught.value.problems), caught.value.problems


# --- replicas of the bot on one database, driven by the injected clock ------------------------------------

def replica(database_url: str, at: datetime, name: str, **sections) -> bootstrap.Container:
    settings = example_settings(**sections)
    container = bootstrap.build(settings, bootstrap.Environment(database_url=database_url), clock=FakeClock(at))
    container.store.replica = name
    return container


@pytest.fixture
def replicas(database_url):
    opened = []

    def make(at: datetime, name: str = "host-a:1", **sections) -> bootstrap.Container:
        container = replica(database_url, at, name, **sections)
        if not opened:
            sync_rotation(container.store, container.rotation_source, container.procedure, at)
        opened.append(container)
        return container

    yield make
    for container in opened:
        container.store.dispose()


def sent_test_pages(container) -> list[PageRow]:
    with container.store.reading() as tx:
        return list(tx.session.scalars(select(PageRow).where(PageRow.source == "test")))


def missed_notices(container, job: str) -> list[str]:
    with container.store.reading() as tx:
        return sorted(n.person_id for n in tx.session.scalars(select(NotificationRow))
                      if n.key.startswith(f"report:job-missed:{job}:"))


def runs(container, job: str) -> list[tuple[str, str, str | None]]:
    with container.store.reading() as tx:
        return [(r.occasion, r.outcome, r.replica) for r in tx.session.scalars(
            select(JobRunRow).where(JobRunRow.job == job).order_by(JobRunRow.occasion))]


def test_down_at_1801_and_back_at_1900_sends_the_test_page_once(replicas):
    bot = replicas(LAST_WEEK)
    scheduler.test_page_job(bot)  # last week's, on time
    bot.clock.set(WEEK_START - timedelta(minutes=1))  # down from here ...
    bot.clock.set(datetime(2026, 11, 23, 19, 0, tzinfo=LA))  # ... back an hour after the week started
    catch_up_job(bot)
    catch_up_job(bot)  # the next tick
    pages = [p for p in sent_test_pages(bot) if p.external_id == "test:2026-11-23"]
    assert [(p.responsible, p.created_at) for p in pages] == [("aisha", datetime(2026, 11, 24, 3, 0, tzinfo=UTC))]
    assert runs(bot, "test_page")[-1] == ("2026-11-23", "ran", "host-a:1")
    assert missed_notices(bot, "test_page") == []


def test_back_the_next_day_sends_no_test_page_and_tells_the_approvers_once(replicas):
    bot = replicas(LAST_WEEK)
    scheduler.test_page_job(bot)
    bot.clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=LA))
    catch_up_job(bot)
    catch_up_job(bot)
    other = replicas(bot.clock.now() + timedelta(minutes=1), "host-b:2")
    catch_up_job(other)
    assert [p.external_id for p in sent_test_pages(bot)] == ["test:2026-11-16"]
    assert missed_notices(bot, "test_page") == ["dana", "omar"]
    with bot.store.reading() as tx:
        [text] = {n.text for n in tx.session.scalars(select(NotificationRow))
                  if n.key.startswith("report:job-missed:test_page:")}
    assert "weekly test page due Mon 2026-11-23 18:01 PST was not sent" in text and "2h" in text
    assert runs(bot, "test_page")[-1] == ("2026-11-23", "missed", "host-a:1")
    bot.clock.set(datetime(2026, 11, 30, 18, 30, tzinfo=LA))  # the next week is on time again
    catch_up_job(bot)
    assert [p.external_id for p in sent_test_pages(bot)][-1] == "test:2026-11-30"


def test_two_replicas_starting_together_send_one_test_page(replicas):
    first = replicas(LAST_WEEK)
    scheduler.test_page_job(first)
    back = datetime(2026, 11, 23, 18, 30, tzinfo=LA)
    bots = [first, *(replicas(back, f"host-{n}:{n}") for n in "bcd")]
    first.clock.set(back)
    barrier = threading.Barrier(len(bots))
    errors: list[Exception] = []

    def start(bot):
        try:
            barrier.wait()
            catch_up_job(bot)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(bot,)) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.external_id for p in sent_test_pages(first)] == ["test:2026-11-16", "test:2026-11-23"]
    assert [occasion for occasion, _, _ in runs(first, "test_page")] == ["2026-11-16", "2026-11-23"]


def test_the_test_page_after_downtime_across_the_november_dst_change(replicas):
    last = datetime(2026, 10, 26, 18, 1, tzinfo=LA)  # PDT
    bot = replicas(last)
    scheduler.test_page_job(bot)
    bot.clock.set(datetime(2026, 11, 2, 20, 0, tzinfo=LA))  # PST, 1h59 after the week's start
    catch_up_job(bot)
    assert [p.external_id for p in sent_test_pages(bot)] == ["test:2026-10-26", "test:2026-11-02"]


def test_the_test_page_after_downtime_across_the_march_dst_change(replicas):
    bot = replicas(datetime(2027, 3, 8, 18, 1, tzinfo=LA))  # PST
    scheduler.test_page_job(bot)
    bot.clock.set(datetime(2027, 3, 15, 20, 2, tzinfo=LA))  # PDT, 2h01 after the week's start: missed
    catch_up_job(bot)
    assert [p.external_id for p in sent_test_pages(bot)] == ["test:2027-03-08"]
    assert missed_notices(bot, "test_page") == ["dana", "omar"]


def test_a_disabled_test_page_is_never_caught_up(replicas):
    bot = replicas(LAST_WEEK, test_page={"enabled": False})
    bot.clock.set(WEEK_START + timedelta(minutes=5))
    catch_up_job(bot)
    assert sent_test_pages(bot) == []


REPORT_MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=LA)


def weekly_dms(container) -> list[str]:
    with container.store.reading() as tx:
        return sorted(n.key for n in tx.session.scalars(select(NotificationRow)) if n.key.startswith("report:weekly:"))


def test_the_weekly_report_is_sent_later_the_same_day_and_missed_the_next(replicas):
    bot = replicas(REPORT_MONDAY - timedelta(days=7))
    weekly_report_job(bot)  # the report of the week of Nov 16, on time
    assert runs(bot, "weekly_report") == [("2026-11-16", "ran", "host-a:1")]
    bot.clock.set(datetime(2026, 11, 30, 23, 30, tzinfo=LA))  # down at 09:00, back before midnight
    catch_up_job(bot)
    catch_up_job(bot)
    assert weekly_dms(bot) == [f"report:weekly:{w}:{a}" for w in ("2026-11-16", "2026-11-23")
                               for a in ("dana", "omar")]
    assert runs(bot, "weekly_report")[-1] == ("2026-11-23", "ran", "host-a:1")
    bot.clock.set(datetime(2026, 12, 8, 0, 30, tzinfo=LA))  # down all of Monday Dec 7
    catch_up_job(bot)
    catch_up_job(replicas(bot.clock.now(), "host-b:2"))
    assert len(weekly_dms(bot)) == 4
    assert missed_notices(bot, "weekly_report") == ["dana", "omar"]
    assert runs(bot, "weekly_report")[-1] == ("2026-11-30", "missed", "host-a:1")


def test_two_replicas_starting_together_send_one_weekly_report(replicas):
    first = replicas(REPORT_MONDAY - timedelta(days=7))
    weekly_report_job(first)
    back = REPORT_MONDAY + timedelta(hours=3)
    bots = [first, *(replicas(back, f"host-{n}:{n}") for n in "bc")]
    first.clock.set(back)
    barrier = threading.Barrier(len(bots))
    errors: list[Exception] = []

    def start(bot):
        try:
            barrier.wait()
            weekly_report_job(bot)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(bot,)) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert weekly_dms(first) == [f"report:weekly:{w}:{a}" for w in ("2026-11-16", "2026-11-23")
                                 for a in ("dana", "omar")]


def test_the_scheduler_catches_up_at_start_and_every_30_seconds(replicas):
    bot = replicas(LAST_WEEK)
    job = create_scheduler(bot).get_job("catch_up")
    assert job is not None and job.trigger.interval == timedelta(seconds=30)
    assert job.next_run_time is not None  # at once, on start


# --- the week's handoff, caught up like the test page -------------------------------------------------------

def handoff_posts(container) -> list[str]:
    with container.store.reading() as tx:
        return sorted(n.text for n in tx.session.scalars(select(NotificationRow)) if n.key.endswith(":channel")
                      and n.key.startswith("handoff:"))


def test_down_at_1801_and_back_at_1900_posts_the_handoff_once(replicas):
    bot = replicas(LAST_WEEK)
    scheduler.handoff_job(bot)  # last week's, on time
    bot.clock.set(WEEK_START - timedelta(minutes=1))  # down from here ...
    bot.clock.set(datetime(2026, 11, 23, 19, 0, tzinfo=LA))  # ... back an hour after the week started
    catch_up_job(bot)
    catch_up_job(bot)
    catch_up_job(replicas(bot.clock.now(), "host-b:2"))  # another replica's tick
    posts = handoff_posts(bot)
    assert len(posts) == 2
    assert sum("week of Mon 2026-11-23" in p and "This week: Aisha Khan" in p for p in posts) == 1
    assert runs(bot, "handoff") == [("2026-11-16", "ran", "host-a:1"), ("2026-11-23", "ran", "host-a:1")]
    assert missed_notices(bot, "handoff") == []


def test_back_the_next_day_posts_no_handoff_and_tells_the_approvers_once(replicas):
    bot = replicas(LAST_WEEK)
    scheduler.handoff_job(bot)
    bot.clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=LA))
    catch_up_job(bot)
    catch_up_job(replicas(bot.clock.now() + timedelta(minutes=1), "host-b:2"))
    assert len(handoff_posts(bot)) == 1
    assert missed_notices(bot, "handoff") == ["dana", "omar"]
    assert runs(bot, "handoff")[-1] == ("2026-11-23", "missed", "host-a:1")
    with bot.store.reading() as tx:
        [text] = {n.text for n in tx.session.scalars(select(NotificationRow))
                  if n.key.startswith("report:job-missed:handoff:")}
    assert "week's handoff due Mon 2026-11-23 18:01 PST was not sent" in text


def test_a_disabled_handoff_is_never_caught_up(replicas):
    bot = replicas(LAST_WEEK, handoff={"enabled": False})
    bot.clock.set(WEEK_START + timedelta(minutes=5))
    catch_up_job(bot)
    assert handoff_posts(bot) == []
