"""Issue 10, item 9: `oncallbot jobs [--json]`: every periodic job, its schedule, last run and replica, next run
in the team's zone, and whether a missed run is pending."""

import json
from datetime import datetime, timedelta

from oncallbot import bootstrap
from oncallbot.entrypoints import scheduler
from oncallbot.entrypoints.cli import main
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG, example_settings
from tests.harness.pager import LA

CONFIG = ["--config", str(EXAMPLE_CONFIG)]
LAST_WEEK = datetime(2026, 11, 16, 18, 1, tzinfo=LA)
JOB_NAMES = ["rotation.sync", "escalations.fire", "done_reminders", "outbox.deliver", "outbox.reconcile",
             "swaps.expire", "test_page",
             "handoff", "week_reminder", "report.weekly", "contacts.verify", "watch"]


def seed(database_url: str) -> None:
    """Last week's test page and report, claimed by replica host-a:17."""
    container = bootstrap.build(example_settings(), bootstrap.Environment(database_url=database_url),
                                clock=FakeClock(LAST_WEEK))
    container.store.replica = "host-a:17"
    sync_rotation(container.store, container.rotation_source, container.procedure, LAST_WEEK)
    scheduler.test_page_job(container)
    container.clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=LA))
    scheduler.weekly_report_job(container)
    container.store.dispose()


def run(capsys, monkeypatch, database_url, at, *argv):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)
    code = main(["jobs", *argv, *CONFIG], clock=FakeClock(at))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_jobs_json_shows_each_job_its_last_run_and_replica_and_the_next_run_in_the_team_zone(
        capsys, monkeypatch, database_url):
    seed(database_url)
    code, out, _ = run(capsys, monkeypatch, database_url, datetime(2026, 11, 23, 17, 0, tzinfo=LA), "--json")
    assert code == 0
    body = json.loads(out)
    assert set(body) == {"at", "timezone", "jobs"}
    assert body["at"] == "2026-11-23T17:00:00-08:00" and body["timezone"] == "America/Los_Angeles"
    assert [j["name"] for j in body["jobs"]] == JOB_NAMES
    jobs = {j["name"]: j for j in body["jobs"]}
    assert all(set(j) == {"name", "description", "schedule", "every_seconds", "weekly", "grace_seconds",
                          "last_run", "next_run", "missed_pending", "pending_occasion"} for j in body["jobs"])
    assert jobs["test_page"]["schedule"] == "every Mon at 18:01 (America/Los_Angeles)"
    assert jobs["test_page"]["weekly"] == "Mon 18:01" and jobs["test_page"]["grace_seconds"] == 7200
    assert jobs["test_page"]["last_run"] == {"occasion": "2026-11-16", "at": "2026-11-16T18:01:00-08:00",
                                             "replica": "host-a:17", "outcome": "ran"}
    assert jobs["test_page"]["next_run"] == "2026-11-23T18:01:00-08:00"
    assert jobs["test_page"]["missed_pending"] is False and jobs["test_page"]["pending_occasion"] is None
    assert jobs["report.weekly"]["last_run"]["occasion"] == "2026-11-16"
    assert jobs["report.weekly"]["last_run"]["replica"] == "host-a:17"
    assert jobs["report.weekly"]["next_run"] == "2026-11-30T09:00:00-08:00"
    assert jobs["escalations.fire"]["every_seconds"] == 5.0 and jobs["escalations.fire"]["last_run"] is None
    assert jobs["escalations.fire"]["next_run"] is None
    assert jobs["rotation.sync"]["schedule"] == "every 10m"
    assert jobs["rotation.sync"]["last_run"]["at"] == "2026-11-16T18:01:00-08:00"
    assert jobs["rotation.sync"]["last_run"]["replica"] is None


def test_jobs_shows_a_missed_run_pending_while_no_replica_is_up(capsys, monkeypatch, database_url):
    seed(database_url)
    at = datetime(2026, 11, 23, 19, 0, tzinfo=LA)  # the week started at 18:01 and nothing ran it
    _, out, _ = run(capsys, monkeypatch, database_url, at, "--json")
    test_page = {j["name"]: j for j in json.loads(out)["jobs"]}["test_page"]
    assert test_page["missed_pending"] is True
    assert test_page["pending_occasion"] == "2026-11-23T18:01:00-08:00"
    assert test_page["next_run"] == "2026-11-30T18:01:00-08:00"

    code, text, _ = run(capsys, monkeypatch, database_url, at)
    assert code == 0
    assert text.startswith("jobs at Mon 2026-11-23 19:00 PST\n")
    assert "test_page: the weekly test page at the week's start\n  schedule: every Mon at 18:01" in text
    assert "  last run: Mon 2026-11-16 18:01 PST on host-a:17, occasion 2026-11-16\n" in text
    assert "  next run: Mon 2026-11-30 18:01 PST\n  MISSED RUN PENDING: due Mon 2026-11-23 18:01 PST" in text
    assert ("escalations.fire: fire each escalation step at its due time (woken by a page due sooner; looks at "
            "least this often)\n  schedule: every 5s\n  last run: not recorded") in text


def test_jobs_after_a_missed_run_shows_it_skipped_and_nothing_pending(capsys, monkeypatch, database_url):
    seed(database_url)
    container = bootstrap.build(example_settings(), bootstrap.Environment(database_url=database_url),
                                clock=FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=LA)))
    container.store.replica = "host-b:9"
    scheduler.catch_up_job(container)
    container.store.dispose()
    _, out, _ = run(capsys, monkeypatch, database_url, datetime(2026, 11, 24, 9, 5, tzinfo=LA), "--json")
    test_page = {j["name"]: j for j in json.loads(out)["jobs"]}["test_page"]
    assert test_page["last_run"] == {"occasion": "2026-11-23", "at": "2026-11-24T09:00:00-08:00",
                                     "replica": "host-b:9", "outcome": "missed"}
    assert test_page["missed_pending"] is False


def test_jobs_without_the_test_page_lists_no_test_page(capsys, monkeypatch, tmp_path, database_url):
    from tests.harness.config import example_data, write_config

    path = write_config(tmp_path, {**example_data(), "test_page": {"enabled": False}})
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)
    code = main(["jobs", "--json", "--config", str(path)], clock=FakeClock(LAST_WEEK + timedelta(days=1)))
    names = [j["name"] for j in json.loads(capsys.readouterr().out)["jobs"]]
    assert code == 0 and "test_page" not in names and "report.weekly" in names
