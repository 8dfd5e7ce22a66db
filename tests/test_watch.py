"""Issue 13, item 9: watching the watcher. The heartbeat (a loopback dead-man's switch) is called every minute
only while the bot's own checks pass; a stuck outbox and a failing calendar sync are told to the approvers
once, and once when they end. The bot as `serve` wires it (its scheduler's jobs, run by hand on a fake
clock), the real slack_sdk and twilio clients talking to the loopback fakes."""

import shutil
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from oncallbot import bootstrap
from oncallbot.domain.watch import Check, OutboxState, Vitals, failing_checks, outbox_stalled, sync_failing
from oncallbot.entrypoints import scheduler
from oncallbot.entrypoints.http import create_app
from oncallbot.errors import ConfigError
from oncallbot.services import paging
from tests.fakes import FakeHeartbeat, FakeSlack, FakeTwilio
from tests.fakes.heartbeat import PING_PATH
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG, example_data, example_settings
from tests.harness.twilio import NIGHT, build_bot

DANA_PHONE, OMAR_PHONE = "+14155550110", "+14155550111"  # the approvers
DANA_SLACK, OMAR_SLACK = "U01DANA000", "U01OMAR000"
MINUTE = timedelta(minutes=1)


class Bot:
    """The harness's bot with a heartbeat, its calendar a file of its own, and the scheduler `serve` starts."""

    def __init__(self, database_url: str, slack: FakeSlack, twilio: FakeTwilio, heartbeat: FakeHeartbeat,
                 tmp_path):
        self.slack, self.twilio, self.heartbeat = slack, twilio, heartbeat
        self.calendar = tmp_path / "rotation.ics"
        shutil.copy(EXAMPLE_CONFIG.parent / "rotation.example.ics", self.calendar)
        self.served = build_bot(database_url, twilio, slack, heartbeat={"url": heartbeat.ping_url},
                                rotation={"source": "ical", "ical": str(self.calendar)})
        self.container, self.clock, self.store = self.served.container, self.served.clock, self.served.store
        self.http = self.served.client
        self.jobs = scheduler.create_scheduler(self.container)  # not started: its jobs are run by hand

    def minute(self, dispatcher: bool = True, outbox: bool = True) -> None:
        """One minute of `serve`: the dispatcher and the outbox job (unless stopped), then the watch job."""
        self.clock.advance(MINUTE)
        if dispatcher:
            scheduler.run_isolated("escalations.fire", lambda: scheduler.fire_job(self.container))
        if outbox:
            self.container.deliver_now()
        scheduler.run_isolated("watch", lambda: scheduler.watch_job(self.container))

    def open_page(self) -> int:
        page, _ = paging.open_page(self.store, self.container.procedure,
                                   paging.NewPage(summary="Voicemail from ACME: server down", source="api"),
                                   self.clock.now())
        return page.id

    def told(self, phone: str) -> list[str]:
        return [m["body"] for m in self.twilio.sms_to(phone)]

    def dms(self, slack_id: str) -> list[str]:
        return [m["text"] for m in self.slack.dms_to(slack_id)]

    def support_posts(self) -> list[dict]:
        return self.slack.messages(self.container.settings.slack.support_channel)

    def close(self) -> None:
        self.served.close()


@pytest.fixture
def bot(database_url, fakes, tmp_path):
    twilio, slack = fakes
    with FakeHeartbeat() as heartbeat:
        bot = Bot(database_url, slack, twilio, heartbeat, tmp_path)
        yield bot
        bot.close()


# --- the rules, time passed in ------------------------------------------------------------------------

def test_an_outbox_is_stuck_when_messages_waited_five_minutes_and_nothing_was_sent_for_as_long():
    now = NIGHT
    waiting = OutboxState(3, now - timedelta(minutes=5), now - timedelta(minutes=9))
    assert outbox_stalled(waiting, now) == (now - timedelta(minutes=9)).isoformat()
    assert outbox_stalled(OutboxState(3, now - timedelta(minutes=4, seconds=59), None), now) is None
    busy = OutboxState(300, now - timedelta(minutes=12), now - timedelta(seconds=2))  # a storm, draining
    assert outbox_stalled(busy, now) is None
    assert outbox_stalled(OutboxState(0, None, now - timedelta(hours=3)), now) is None  # nothing to send


def test_a_sync_fails_after_an_hour_or_two_intervals_when_the_calendar_is_synced_less_often():
    now = NIGHT
    assert sync_failing(now - timedelta(minutes=59), None, now, timedelta(hours=1)) is None
    assert sync_failing(now - timedelta(minutes=61), None, now, timedelta(hours=1)) is not None
    vitals = Vitals(True, OutboxState(0, None, None), now - timedelta(minutes=90), now, now)
    assert failing_checks(vitals, now, timedelta(minutes=10)) == (Check.SYNC,)
    assert failing_checks(vitals, now, timedelta(hours=1)) == ()  # synced every hour: due within two
    never = Vitals(True, OutboxState(0, None, None), None, now, now - timedelta(minutes=30))
    assert failing_checks(never, now, timedelta(minutes=10)) == ()  # started 30 min ago, no sync yet
    assert failing_checks(Vitals(False, None, None, now, now), now, timedelta(minutes=10)) == (Check.DATABASE,)


# --- the heartbeat -----------------------------------------------------------------------------------

def test_the_heartbeat_goes_every_minute_and_a_stopped_dispatcher_stops_it(bot):
    bot.minute()
    bot.minute()
    assert len(bot.heartbeat.beats()) == 2
    assert bot.http.get("/healthz").json() == {"status": "ok"}

    bot.minute(dispatcher=False)  # 60 s since its last run: still within the minute
    assert len(bot.heartbeat.beats()) == 3
    bot.clock.advance(timedelta(seconds=1))
    bot.minute(dispatcher=False)
    bot.minute(dispatcher=False)
    assert len(bot.heartbeat.beats()) == 3  # silent: someone outside is told
    health = bot.http.get("/healthz")
    assert health.status_code == 503 and health.json() == {"status": "failing", "failing": ["dispatcher"]}

    bot.minute()  # the dispatcher runs again
    assert len(bot.heartbeat.beats()) == 4
    assert bot.http.get("/healthz").json() == {"status": "ok"}


def test_a_heartbeat_receiver_that_fails_or_hangs_changes_nothing_else(bot):
    bot.heartbeat.inject(PING_PATH, status=500)
    bot.minute()
    bot.container.heartbeat.timeout = 0.2  # the timeout is what stops a hanging receiver
    bot.heartbeat.inject(PING_PATH, delay=1.0)
    bot.minute()  # returns after the timeout, not after the receiver's answer
    bot.open_page()
    bot.minute()
    assert len(bot.support_posts()) == 1  # the bot goes on paging
    # the hung call (answered after the bot gave up) and the next one: polled, never slept for
    bot.heartbeat.wait_for(lambda r: r.path == PING_PATH and r.status == 200, count=2, timeout=5)


# --- what the approvers are told ---------------------------------------------------------------------

def test_a_stuck_outbox_is_told_to_the_approvers_once_on_every_channel_and_once_when_it_moves(bot):
    bot.minute()
    beats = len(bot.heartbeat.beats())
    bot.open_page()  # its card waits: the outbox job has stopped
    for _ in range(4):
        bot.minute(outbox=False)
    assert bot.told(DANA_PHONE) == []  # four minutes: not yet
    bot.minute(outbox=False)
    stuck = bot.told(DANA_PHONE)
    assert len(stuck) == 1 and "nothing was sent yet, and 1 message is waiting (the oldest for 5 min)" in stuck[0]
    assert bot.told(OMAR_PHONE) == stuck and bot.dms(DANA_SLACK) == stuck and bot.dms(OMAR_SLACK) == stuck
    assert bot.support_posts() == []  # the watch sent its own alarm, not the stuck card
    assert bot.http.get("/healthz").json() == {"status": "degraded", "failing": ["outbox"]}

    bot.minute(outbox=False)
    bot.minute(outbox=False)
    assert bot.told(DANA_PHONE) == stuck  # once
    assert len(bot.heartbeat.beats()) == beats + 4  # the four minutes before it was stuck for 5

    bot.minute()  # the outbox job runs again
    assert len(bot.support_posts()) == 1
    told = bot.told(DANA_PHONE)
    assert len(told) == 2 and told[1].startswith("oncallbot: resolved: messages are being sent again")
    bot.minute()
    assert len(bot.told(DANA_PHONE)) == 2 and len(bot.dms(DANA_SLACK)) == 2
    assert len(bot.heartbeat.beats()) == beats + 6


def test_a_calendar_sync_failing_for_an_hour_is_told_once_and_once_when_it_syncs_again(bot):
    synced_at = bot.clock.now()
    saved = bot.calendar.read_bytes()
    bot.calendar.unlink()  # the calendar is gone: every sync fails
    for minute in range(1, 60):
        if minute % 10 == 0:
            scheduler.run_isolated("rotation.sync", lambda: scheduler.sync_job(bot.container))
        bot.minute()
    assert bot.told(DANA_PHONE) == []
    beats = len(bot.heartbeat.beats())
    assert beats == 59
    bot.minute()  # an hour without a good sync
    [failing] = bot.told(DANA_PHONE)
    last = synced_at.astimezone(bot.container.procedure.window.tz)
    assert failing.startswith("oncallbot: the rotation calendar has not synced for over 1h "
                              f"(the last good sync was at {last:%a %Y-%m-%d %H:%M %Z})")
    assert bot.dms(OMAR_SLACK) == [failing]
    assert len(bot.heartbeat.beats()) == beats  # withheld
    for _ in range(5):
        bot.minute()
    assert bot.told(DANA_PHONE) == [failing]

    bot.calendar.write_bytes(saved)
    scheduler.run_isolated("rotation.sync", lambda: scheduler.sync_job(bot.container))
    bot.minute()
    bot.minute()
    told = bot.told(DANA_PHONE)
    assert len(told) == 2 and told[1].startswith("oncallbot: resolved: the rotation calendar synced again at")
    assert len(bot.heartbeat.beats()) == beats + 2


def test_an_approver_who_texted_stop_is_told_on_slack_only(bot):
    with bot.store.transaction() as tx:
        tx.opt_out("dana", "sms", bot.clock.now(), "STOP")
    bot.open_page()
    for _ in range(5):
        bot.minute(outbox=False)
    assert bot.told(DANA_PHONE) == [] and len(bot.dms(DANA_SLACK)) == 1 and len(bot.told(OMAR_PHONE)) == 1


def test_every_job_listed_includes_the_watch(tmp_path):
    settings = example_settings(heartbeat={"url": "https://hc-ping.com/abc"})
    container = bootstrap.build(settings, bootstrap.Environment(database_url=f"sqlite:///{tmp_path}/x.db"),
                                clock=FakeClock(NIGHT))
    [watch] = [job for job in scheduler.periodic_jobs(container) if job.name == "watch"]
    assert watch.every == MINUTE and "heartbeat" in watch.description
    assert example_data()["swaps"]["approvers"] == ["dana", "omar"]


def test_a_second_replica_does_not_tell_the_same_stuck_outbox_again(bot):
    bot.open_page()
    for _ in range(5):
        bot.minute(outbox=False)
    assert len(bot.told(DANA_PHONE)) == 1
    replica = bootstrap.build(bot.container.settings, bot.container.env, clock=bot.clock)
    scheduler.create_scheduler(replica)
    try:
        scheduler.watch_job(replica)
    finally:
        replica.store.dispose()
    assert len(bot.told(DANA_PHONE)) == 1 and len(bot.dms(OMAR_SLACK)) == 1


@pytest.mark.parametrize("heartbeat, problem", [
    ({"url": "hc-ping.com/abc"}, "heartbeat.url"),
    ({"url": "https://hc-ping.com/abc", "timeout": "2m"}, "heartbeat.timeout: must be under 1m"),
    ({"url": "https://hc-ping.com/abc", "method": "put"}, "heartbeat.method"),
])
def test_a_bad_heartbeat_setting_is_refused_naming_its_key(heartbeat, problem):
    with pytest.raises(ConfigError) as caught:
        example_settings(heartbeat=heartbeat)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_when_the_database_does_not_answer_healthz_says_so_and_the_heartbeat_is_withheld():
    with FakeHeartbeat() as heartbeat:
        closed_port = bootstrap.Environment(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
        container = bootstrap.build(example_settings(heartbeat={"url": heartbeat.ping_url}), closed_port,
                                    clock=FakeClock(NIGHT))
        scheduler.create_scheduler(container)
        scheduler.watch_job(container)
        assert heartbeat.beats() == []
        response = TestClient(create_app(container)).get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"error": "database unreachable", "failing": ["database"]}
        container.store.dispose()


def test_the_heartbeat_url_can_come_from_the_environment_instead_of_the_config(tmp_path):
    """A dead-man's switch URL is a secret (anyone holding it can fake the bot's heartbeat): the environment wins."""
    container = bootstrap.build(example_settings(), bootstrap.Environment.from_env({
        "ONCALLBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "ONCALLBOT_HEARTBEAT_URL": "https://hc-ping.com/secret"}),
        clock=FakeClock(NIGHT))
    assert container.heartbeat is not None and container.heartbeat.url == "https://hc-ping.com/secret"
    [watch] = [job for job in scheduler.periodic_jobs(container) if job.name == "watch"]
    assert "heartbeat" in watch.description
    without = bootstrap.build(example_settings(), bootstrap.Environment(database_url=f"sqlite:///{tmp_path}/y.db"),
                              clock=FakeClock(NIGHT))
    assert without.heartbeat is None
