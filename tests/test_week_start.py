"""Issue 10, items 4 and 5: the handoff when a week starts (this week's, last week's and next week's people,
and the pages still open from before the week), and the reminder before a person's week. The rotation seen
is the one in effect (an override laid over the calendar); exactly once across replicas."""

from datetime import datetime, time, timedelta

import pytest

from oncallbot.bootstrap import build_procedure
from oncallbot.domain.handoff import DEFAULT_CHECKLIST
from oncallbot.domain.rotation import OverrideKind, RotationOverride
from oncallbot.entrypoints.scheduler import create_scheduler, handoff_job, week_reminder_job
from oncallbot.errors import ConfigError
from oncallbot.services import paging
from oncallbot.services.delivery import deliver_pending
from oncallbot.services.overrides import apply_override
from oncallbot.services.rotation import sync_rotation
from oncallbot.services.week_start import send_handoff, send_week_reminders
from tests.harness.clock import FakeClock
from tests.harness.config import example_settings
from tests.harness.pager import RecordingDeliverer, run_concurrently
from tests.harness.rotation import FIRST_WEEK, LA, ListSource, week_event
from tests.harness.slack import SUPPORT, SlackHarness

W1, W2, W3, W4 = (FIRST_WEEK + timedelta(weeks=n) for n in range(4))  # Mondays from 2027-01-04
# Kelly, Marcus, then a week nobody has (a gap), then Priya.
WEEKS = [week_event(W1, "kelly"), week_event(W2, "marcus"), week_event(W4, "priya")]
BEFORE = timedelta(hours=24)


def start_of(week) -> datetime:
    return datetime.combine(week, time(18, 1), LA)


class Team:
    """The real services and store over a rotation of our own, a clock moved by hand, a recording deliverer."""

    def __init__(self, store, now: datetime, **sections):
        self.store, self.clock = store, FakeClock(now)
        self.settings = example_settings(**sections)
        self.procedure = build_procedure(self.settings)
        self.deliverer = RecordingDeliverer()
        sync_rotation(store, ListSource(WEEKS), self.procedure, self.clock.now())

    def deliver(self):
        return deliver_pending(self.store, self.procedure, self.deliverer, self.clock.now())

    def handoff(self):
        handoff = send_handoff(self.store, self.procedure, self.clock.now())
        self.deliver()
        return handoff

    def remind(self):
        reminded = send_week_reminders(self.store, self.procedure, BEFORE, DEFAULT_CHECKLIST, self.clock.now())
        self.deliver()
        return reminded

    def post(self) -> str:
        posts = [m for m in self.deliverer.of_kind("channel") if m.target == "support"]
        assert len(posts) == 1, posts
        return posts[0].text

    def dms(self, kind="report") -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for m in self.deliverer.of_kind(kind):
            if m.person:
                found.setdefault(m.person.id, []).append(m.text)
        return found


@pytest.fixture
def team(store):
    return Team(store, start_of(W2))


# --- the handoff --------------------------------------------------------------------------------------

def test_the_handoff_names_this_week_the_one_before_and_the_next_with_their_dates(team):
    handoff = team.handoff()
    text = team.post()
    assert "On-call handoff for the week of Mon 2027-01-11" in text
    assert "This week: Marcus Brown (Mon 2027-01-11 18:01 – Mon 2027-01-18 06:59 PST)" in text
    assert "Before: Kelly Nguyen (Mon 2027-01-04 18:01 – Mon 2027-01-11 06:59 PST)" in text
    assert "Next: nobody yet" in text  # W3 is a gap
    assert handoff is not None and set(handoff.recipients) == {"marcus", "kelly"}
    assert team.dms() == {"marcus": [text], "kelly": [text]}


def test_the_handoff_follows_a_swap_and_names_nobody_around_a_gap(store):
    team = Team(store, start_of(W1) + timedelta(days=1))
    apply_override(store, team.procedure, RotationOverride(
        W2, "marcus", "diego", OverrideKind.SWAP, "family visit", "marcus", "dana", team.clock.now()),
        team.clock.now())
    team.deliver()
    team.clock.set(start_of(W2))
    team.handoff()
    text = team.post()
    assert "This week: Diego Ramirez (Mon 2027-01-11" in text and "Marcus" not in text
    assert set(team.dms()) == {"diego", "kelly"}  # the incoming (by the swap) and the outgoing person
    team.deliverer.sent.clear()
    team.clock.set(start_of(W3))  # the gap week: nobody is on call
    team.handoff()
    assert "This week: nobody (a gap in the rotation" in team.post()
    assert "Before: Diego Ramirez (Mon 2027-01-11" in team.post() and "Next: Priya Patel" in team.post()
    assert set(team.dms()) == {"diego"}
    team.deliverer.sent.clear()
    team.clock.set(start_of(W4))  # after the gap: nobody before, nobody published after
    team.handoff()
    assert "This week: Priya Patel" in team.post() and "Before: nobody" in team.post()
    assert "Next: nobody yet" in team.post()
    assert set(team.dms()) == {"priya"}


def test_the_handoff_lists_the_pages_still_open_from_last_week_with_links_to_their_threads(store):
    team = Team(store, start_of(W1) + timedelta(days=1, hours=4))  # Tuesday 22:01: Kelly is on call
    now = team.clock.now()

    def page(summary, **kw):
        opened, _ = paging.open_page(store, team.procedure, paging.NewPage(summary=summary, **kw), now)
        return opened.id

    waiting = page("Voicemail from ACME: server down", source="api")
    taken = page("Printer on fire", source="slack", slack_channel=SUPPORT, slack_ts="1799000000.000100")
    finished = page("Password reset", source="api")
    dismissed = page("Lunch order", source="slack", slack_channel=SUPPORT, slack_ts="1799000000.000200")
    paging.acknowledge_page(store, team.procedure, taken, "kelly", "on_it", "slack", now)
    paging.acknowledge_page(store, team.procedure, finished, "kelly", "on_it", "slack", now)
    paging.acknowledge_page(store, team.procedure, finished, "kelly", "done", "slack", now)
    paging.dismiss_page(store, team.procedure, dismissed, "kelly", "slack", now)
    team.deliver()  # the cards are posted: each page has its Slack thread
    team.clock.set(start_of(W2))
    handoff = team.handoff()
    text = team.post()
    assert handoff is not None and handoff.open_pages == (waiting, taken)
    assert "Still open from before this week (2):" in text
    assert f"Page #{waiting} (no On It! yet): Voicemail from ACME: server down" in text
    assert (f"Page #{taken} (On It! with Kelly Nguyen): Printer on fire "
            f"<https://slack.com/app_redirect?channel={SUPPORT}&message_ts=1799000000.000100|thread>") in text
    assert f"Page #{finished}" not in text and f"Page #{dismissed}" not in text
    with store.reading() as tx:
        thread = tx.page(waiting).slack_thread_ts
    assert f"message_ts={thread}|thread>" in text  # a page from the API: its card's thread


def test_one_handoff_however_many_replicas_run_it(team):
    results = []
    errors = run_concurrently(lambda: results.append(send_handoff(team.store, team.procedure, team.clock.now())), 4)
    assert errors == [] and len([r for r in results if r is not None]) == 1
    team.deliver()
    team.post()  # exactly one channel post
    assert {p: len(t) for p, t in team.dms().items()} == {"marcus": 1, "kelly": 1}
    assert team.handoff() is None  # a later run of the same week (a restart) does nothing


# --- the reminder before a person's week -------------------------------------------------------------

def test_the_reminder_goes_a_day_before_the_week_with_its_dates_the_neighbours_and_the_checklist(store):
    team = Team(store, start_of(W2) - BEFORE - timedelta(minutes=1))
    assert team.remind() == []  # not yet
    team.clock.advance(timedelta(minutes=1))
    assert team.remind() == [(W2, "marcus")]
    [text] = team.dms()["marcus"]
    assert text.startswith("Marcus Brown, your on-call week starts in 1d: "
                           "Mon 2027-01-11 18:01 – Mon 2027-01-18 06:59 PST.")
    assert "Before you: Kelly Nguyen (Mon 2027-01-04 18:01 – Mon 2027-01-11 06:59 PST)." in text
    assert "After you: nobody yet." in text
    for item in DEFAULT_CHECKLIST:
        assert f"• {item}" in text
    team.clock.advance(timedelta(hours=3))
    assert team.remind() == []  # once
    assert list(team.dms()) == ["marcus"]


def test_the_reminder_follows_a_swap_and_a_gap(store):
    team = Team(store, start_of(W1) + timedelta(days=1))
    apply_override(store, team.procedure, RotationOverride(
        W2, "marcus", "diego", OverrideKind.SWAP, "family visit", "marcus", "dana", team.clock.now()),
        team.clock.now())
    team.clock.set(start_of(W2) - timedelta(hours=2))  # down until 2 h before: still reminded
    assert team.remind() == [(W2, "diego")]
    assert "marcus" not in team.dms()
    team.clock.set(start_of(W3) - timedelta(hours=1))
    assert team.remind() == []  # a gap week reminds nobody
    team.clock.set(start_of(W4) - timedelta(hours=5))
    assert team.remind() == [(W4, "priya")]
    [text] = team.dms()["priya"]
    assert "Before you: nobody. After you: nobody yet." in text


def test_a_started_week_is_not_reminded(store):
    team = Team(store, start_of(W2) + timedelta(minutes=1))
    assert team.remind() == []


def test_one_reminder_however_many_replicas_run_it(store):
    team = Team(store, start_of(W2) - timedelta(hours=12))
    results = []
    errors = run_concurrently(lambda: results.append(send_week_reminders(
        store, team.procedure, BEFORE, DEFAULT_CHECKLIST, team.clock.now())), 4)
    assert errors == [] and sorted(r for batch in results for r in batch) == [(W2, "marcus")]
    team.deliver()
    assert {p: len(t) for p, t in team.dms().items()} == {"marcus": 1}


# --- configuration ------------------------------------------------------------------------------------

def test_the_week_reminder_config_has_defaults_and_refuses_bad_values():
    settings = example_settings()
    assert settings.week_reminder.before == timedelta(hours=24) and settings.handoff.enabled
    assert len(settings.week_reminder.checklist) == 4
    custom = example_settings(week_reminder={"before": "36h", "checklist": ["VPN works"]})
    assert custom.week_reminder.before == timedelta(hours=36) and custom.week_reminder.checklist == ("VPN works",)
    with pytest.raises(ConfigError) as bad:
        example_settings(week_reminder={"before": "8d", "checklist": [""], "when": "soon"})
    assert {line.split(":")[0] for line in bad.value.problems} == {
        "week_reminder.before", "week_reminder.checklist[0]", "week_reminder.when"}


# --- through the scheduler and the fake Slack ----------------------------------------------------------

def test_the_scheduler_jobs_post_and_dm_through_slack(tmp_path, fake):
    harness = SlackHarness(f"sqlite:///{tmp_path}/slack.sqlite3", fake)
    try:
        container = harness.container
        assert {"handoff", "week_reminder"} <= {job.id for job in create_scheduler(container).get_jobs()}
        # The example rotation: Aisha has the week of Mon 2026-11-23, Diego had the one before, Tom the next.
        harness.clock.set(datetime(2026, 11, 22, 18, 1, tzinfo=LA))
        week_reminder_job(container)
        week_reminder_job(container)
        [reminder] = fake.dms_to("U01AISHA00")
        assert reminder["text"].startswith("Aisha Khan, your on-call week starts in 1d: Mon 2026-11-23 18:01")
        assert "Before you: Diego Ramirez" in reminder["text"] and "After you: Tom Becker" in reminder["text"]
        harness.clock.set(datetime(2026, 11, 20, 22, 0, tzinfo=LA))  # Diego's week: a ticket in the channel
        ticket = harness.say("Customer ACME: the portal is down")
        harness.clock.set(datetime(2026, 11, 23, 18, 1, tzinfo=LA))
        handoff_job(container)
        handoff_job(container)
        [post] = [m for m in fake.messages(SUPPORT) if m["text"].startswith("On-call handoff")]
        assert "This week: Aisha Khan" in post["text"] and "Before: Diego Ramirez" in post["text"]
        assert "Next: Tom Becker" in post["text"]
        page_id = harness.page_of(ticket).id
        permalink = f"https://fake.slack.com/archives/{SUPPORT}/p{ticket['ts'].replace('.', '')}"
        assert (f"Page #{page_id} (no On It! yet): Customer ACME: the portal is down <{permalink}|thread>"
                in post["text"])
        assert [m["text"] for m in fake.dms_to("U01DIEGO00")] == [post["text"]]
        assert [m["text"] for m in fake.dms_to("U01AISHA00")][1:] == [post["text"]]
    finally:
        harness.close()
