"""Issue 10, item 6: a Slack user group whose one member is the person on call now (overrides included),
kept through the real WebClient against the fake Slack; refusals told to the approvers once, then retried
quietly until a fix makes it work."""

from datetime import datetime, time, timedelta

import pytest

from oncallbot.adapters.slack.notifier import build_web_client
from oncallbot.adapters.slack.usergroup import SlackUserGroups
from oncallbot.bootstrap import build_procedure
from oncallbot.domain.rotation import OverrideKind, RotationOverride
from oncallbot.entrypoints.scheduler import create_scheduler, oncall_group_job, periodic_jobs
from oncallbot.errors import ConfigError
from oncallbot.services.delivery import deliver_pending
from oncallbot.services.oncall_group import GroupOutcome, update_oncall_group
from oncallbot.services.overrides import apply_override
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import example_data, example_settings
from tests.harness.pager import RecordingDeliverer
from tests.harness.rotation import FIRST_WEEK, LA, ListSource, week_event
from tests.harness.slack import SlackHarness

GROUP = "S01ONCALL0"
W1, W2, W3 = (FIRST_WEEK + timedelta(weeks=n) for n in range(3))
WEEKS = [week_event(W1, "kelly"), week_event(W2, "marcus")]  # then a week nobody has
KELLY, MARCUS, DIEGO = "U01KELLY00", "U01MARCUS0", "U01DIEGO00"


def start_of(week) -> datetime:
    return datetime.combine(week, time(18, 1), LA)


class Group:
    def __init__(self, store, fake):
        self.store, self.fake = store, fake
        self.clock = FakeClock(start_of(W1) + timedelta(hours=1))
        self.procedure = build_procedure(example_settings(slack={"oncall_usergroup": GROUP}))
        self.groups = SlackUserGroups(build_web_client("xoxb-test", fake.url))  # the real client, its timeout
        self.deliverer = RecordingDeliverer()
        sync_rotation(store, ListSource(WEEKS), self.procedure, self.clock.now())
        fake.put_usergroup(GROUP, ["U01SOMEONE"])

    def update(self):
        return update_oncall_group(self.store, self.procedure, self.groups, GROUP, self.clock.now())

    def reports(self) -> list[tuple[str, str]]:
        deliver_pending(self.store, self.procedure, self.deliverer, self.clock.now())
        return [(m.person.id, m.text) for m in self.deliverer.of_kind("report")]


def test_the_group_follows_the_rotation_across_a_week_start_and_a_swap(store, fake):
    group = Group(store, fake)
    assert group.update().outcome == GroupOutcome.UPDATED
    assert fake.usergroup_members(GROUP) == [KELLY]
    assert fake.usergroup_updates() == [{"usergroup": GROUP, "users": KELLY}]
    # Nothing changed: the members are read, never written again.
    assert group.update().outcome == GroupOutcome.UNCHANGED
    assert len(fake.usergroup_updates()) == 1
    # The week's start: Marcus.
    group.clock.set(start_of(W2) - timedelta(minutes=1))  # Monday between the weeks: Kelly stays
    assert group.update().outcome == GroupOutcome.BETWEEN
    group.clock.set(start_of(W2))
    assert group.update().outcome == GroupOutcome.UPDATED
    assert fake.usergroup_members(GROUP) == [MARCUS]
    # A swap of the current week: Diego takes it over.
    apply_override(store, group.procedure, RotationOverride(
        W2, "marcus", "diego", OverrideKind.SWAP, "family visit", "marcus", "dana", group.clock.now()),
        group.clock.now())
    assert group.update().outcome == GroupOutcome.UPDATED
    assert fake.usergroup_members(GROUP) == [DIEGO]
    assert group.update().outcome == GroupOutcome.UNCHANGED
    # A group edited by hand is put right.
    fake.put_usergroup(GROUP, [DIEGO, KELLY])
    assert group.update().outcome == GroupOutcome.UPDATED and fake.usergroup_members(GROUP) == [DIEGO]
    assert group.reports() == []


def test_a_week_nobody_has_keeps_the_last_member_and_tells_the_approvers_once(store, fake):
    group = Group(store, fake)
    group.clock.set(start_of(W2) + timedelta(hours=1))
    group.update()
    group.clock.set(start_of(W3) + timedelta(hours=1))
    assert group.update().outcome == GroupOutcome.NOBODY
    assert group.update().outcome == GroupOutcome.NOBODY
    assert fake.usergroup_members(GROUP) == [MARCUS]  # Slack groups cannot be empty
    reports = group.reports()
    assert sorted(p for p, _ in reports) == ["dana", "omar"]
    assert all("nobody is on call" in text and GROUP in text for _, text in reports)


@pytest.mark.parametrize(("method", "error", "says"), [
    ("list", "missing_scope", "usergroups:write"),
    ("update", "missing_scope", "usergroups:write"),
    ("list", "paid_teams_only", "paid plan"),
    ("list", "not_allowed_token_type", "paid plan"),
    ("list", "no_such_subteam", "does not know this user group"),
])
def test_each_refusal_tells_the_approvers_once_and_a_fix_makes_it_work(store, fake, method, error, says):
    group = Group(store, fake)
    fake.usergroup_errors[method] = error
    for _ in range(3):  # the job keeps running: every run refused, nothing raised
        update = group.update()
        assert update.outcome == GroupOutcome.REFUSED and update.error == error
    reports = group.reports()
    assert sorted(p for p, _ in reports) == ["dana", "omar"]  # one message each, not one per run
    assert all(says in text and GROUP in text for _, text in reports)
    assert fake.usergroup_members(GROUP) == ["U01SOMEONE"]
    del fake.usergroup_errors[method]  # fixed
    assert group.update().outcome == GroupOutcome.UPDATED
    assert fake.usergroup_members(GROUP) == [KELLY]
    assert group.reports() == reports  # nothing more


def test_an_unknown_slack_error_is_retried_quietly(store, fake):
    group = Group(store, fake)
    fake.usergroup_errors["list"] = "internal_error"
    assert group.update().outcome == GroupOutcome.REFUSED
    assert group.reports() == []
    fake.usergroup_errors.clear()
    assert group.update().outcome == GroupOutcome.UPDATED


def test_the_config_takes_a_group_id_and_refuses_a_handle():
    assert example_settings().slack.oncall_usergroup is None
    assert example_settings(slack={"oncall_usergroup": GROUP}).slack.oncall_usergroup == GROUP
    with pytest.raises(ConfigError) as bad:
        example_settings(slack={"oncall_usergroup": "@support-oncall"})
    assert [line.split(":")[0] for line in bad.value.problems] == ["slack.oncall_usergroup"]


def test_the_scheduler_job_keeps_the_group_through_slack(tmp_path, fake):
    slack = {**example_data()["slack"], "oncall_usergroup": GROUP}
    harness = SlackHarness(f"sqlite:///{tmp_path}/slack.sqlite3", fake, example_settings(slack=slack))
    try:
        container = harness.container
        assert "slack.oncall_group" in {job.id for job in create_scheduler(container).get_jobs()}
        assert "slack.oncall_group" in {job.name for job in periodic_jobs(container)}
        fake.usergroup_errors["update"] = "missing_scope"
        fake.put_usergroup(GROUP, [])
        oncall_group_job(container)  # at start: refused, the approvers told by DM, nothing raised
        oncall_group_job(container)
        assert len(fake.dms_to("U01DANA000")) == 1 and len(fake.dms_to("U01OMAR000")) == 1
        assert "usergroups:write" in fake.dms_to("U01DANA000")[0]["text"]
        fake.usergroup_errors.clear()
        oncall_group_job(container)  # Aisha Khan has the week of Mon 2026-11-23
        oncall_group_job(container)
        assert fake.usergroup_members(GROUP) == ["U01AISHA00"]
        assert len(fake.usergroup_updates()) == 3  # two refused, one accepted, none when nothing changed
    finally:
        harness.close()


def test_without_the_setting_there_is_no_job(tmp_path, fake):
    harness = SlackHarness(f"sqlite:///{tmp_path}/slack.sqlite3", fake)
    try:
        assert "slack.oncall_group" not in {job.id for job in create_scheduler(harness.container).get_jobs()}
        oncall_group_job(harness.container)
        assert fake.usergroup_calls == []
    finally:
        harness.close()
