"""The `oncallbot` command as an operator uses it on the example team."""

import json
from datetime import UTC, datetime

from oncallbot.entrypoints.cli import main
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG, LITERAL_HOLIDAYS, example_data, write_config

NOW = FakeClock(datetime(2026, 11, 23, 20, 0, tzinfo=UTC))
CONFIG = ["--config", str(EXAMPLE_CONFIG)]


def run(capsys, *argv, clock=NOW):
    code = main(list(argv), clock=clock)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_who_json_names_the_person_in_a_dst_week(capsys):
    code, out, _ = run(capsys, "who", "--json", "--at", "2027-03-15T19:00:00-07:00", *CONFIG)
    assert code == 0
    body = json.loads(out)
    assert set(body) == {"at", "timezone", "responsible", "current", "previous", "next"}
    assert body["at"] == "2027-03-15T19:00:00-07:00" and body["timezone"] == "America/Los_Angeles"
    assert body["responsible"] == "oncall"
    assert body["current"] == {"person": {"id": "priya", "name": "Priya Patel"},
                               "start": "2027-03-15T18:01:00-07:00", "end": "2027-03-22T07:00:00-07:00"}
    # The week before spans the DST change: it starts in PST and ends in PDT.
    assert body["previous"]["person"]["id"] == "marcus"
    assert body["previous"]["start"] == "2027-03-08T18:01:00-08:00"
    assert body["previous"]["end"] == "2027-03-15T07:00:00-07:00"
    assert body["next"]["person"]["id"] == "diego"


def test_who_reads_an_offsetless_time_in_the_team_zone(capsys):
    _, out, _ = run(capsys, "who", "--json", "--at", "2027-03-15T19:00", *CONFIG)
    assert json.loads(out)["at"] == "2027-03-15T19:00:00-07:00"


def test_who_in_business_hours_says_the_office_handles_it(capsys):
    code, out, _ = run(capsys, "who", "--at", "2027-03-16T10:00", *CONFIG)
    assert code == 0
    assert "business hours: the office handles pages (on call this week: Priya Patel)" in out
    assert "before:    Marcus Brown" in out and "next:      Diego Ramirez" in out
    assert "Mon 2027-03-22 06:59 PDT" in out  # the week's end as the procedure writes it


def test_who_defaults_to_now(capsys):
    _, out, _ = run(capsys, "who", "--json", *CONFIG, clock=FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC)))
    body = json.loads(out)
    assert body["at"] == "2026-11-23T22:00:00-08:00"
    assert body["responsible"] == "oncall" and body["current"]["person"]["id"] == "aisha"


def test_who_refuses_a_bad_time_with_exit_2(capsys):
    code, out, err = run(capsys, "who", "--at", "next tuesday", *CONFIG)
    assert code == 2 and out == ""
    assert 'error: "next tuesday" is not an ISO-8601 time' in err


def test_rotation_check_lists_the_quarters_gaps_and_exits_1(capsys, tmp_path):
    path = write_config(tmp_path, {**example_data(), **LITERAL_HOLIDAYS})
    code, out, _ = run(capsys, "rotation", "check", "--config", str(path))
    assert code == 1
    assert "Mon 2027-01-18 07:00-18:01, Martin Luther King Jr. Day: office closed and nobody on call" in out
    assert "2027-03-15" not in out  # beyond the coming quarter


def test_rotation_check_exits_0_on_a_clean_quarter(capsys, tmp_path):
    data = example_data()
    data["holidays"] = {}
    path = write_config(tmp_path, data)
    code, out, _ = run(capsys, "rotation", "check", "--config", str(path))
    assert code == 0 and "rotation OK" in out


def test_rotation_check_reports_unknown_people_and_missing_weeks(capsys, tmp_path):
    ics = (EXAMPLE_CONFIG.parent / "rotation.example.ics").read_text().replace("On call: Diego", "On call: Zoe")
    path = write_config(tmp_path, {**example_data(), "holidays": {}}, ics_text=ics)
    code, out, _ = run(capsys, "rotation", "check", "--config", str(path))
    assert code == 1
    assert 'unknown_person  event "On call: Zoe" on Mon 2026-12-28' not in out  # EXDATE'd instance
    assert 'event "On call: Zoe" on Mon 2027-02-08 names nobody on the team' in out
    assert "week of Mon 2027-02-08 missing from the calendar: nobody on call" in out


def test_sync_prints_the_weeks_it_stored(capsys):
    code, out, _ = run(capsys, "sync", *CONFIG)
    assert code == 0 and out.startswith("synced ")


def test_db_upgrade_on_the_embedded_database(capsys, tmp_path):
    code, out, _ = run(capsys, "db", "upgrade", *CONFIG)
    assert code == 0 and "is at the current schema" in out
    assert (tmp_path / "var" / "oncallbot.sqlite3").is_file()


def test_postgres_url_from_the_environment(capsys, monkeypatch, pg_database_url):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", pg_database_url)
    assert run(capsys, "db", "upgrade", *CONFIG)[0] == 0
    code, out, _ = run(capsys, "who", "--json", "--at", "2027-03-15T19:00:00-07:00", *CONFIG)
    assert code == 0 and json.loads(out)["current"]["person"]["id"] == "priya"


def test_page_from_the_command_line_reaches_the_on_call_person(capsys):
    night = FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    code, out, err = run(capsys, "page", "Voicemail from ACME: site down", *CONFIG, clock=night)
    assert code == 0
    assert "page #1 opened: Voicemail from ACME: site down" in out and "responsible: Aisha Khan" in out
    assert "[console notifier: not sent to anyone] slack to #support thread of page 1" in err
    code, out, _ = run(capsys, "page", "again", "--external-id", "vm-1", "--json", *CONFIG, clock=night)
    body = json.loads(out)
    assert body["responsible"] == "aisha" and body["state"] == "open" and body["external_id"] == "vm-1"
    assert [s["notify"] for s in body["escalation_steps"][:3]] == ["oncall", "manager", "senior_managers"]


def test_page_refuses_an_empty_summary(capsys):
    code, _, err = run(capsys, "page", "   ", *CONFIG)
    assert code == 2 and "summary is empty" in err


def test_report_shows_response_times_per_person(capsys, tmp_path):
    from datetime import timedelta

    from oncallbot import bootstrap
    from oncallbot.config import load_settings
    from oncallbot.services import paging

    clock = FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    run(capsys, "sync", *CONFIG, clock=clock)
    container = bootstrap.build(load_settings(str(EXAMPLE_CONFIG)), clock=clock)
    first, _ = paging.open_page(container.store, container.procedure, paging.NewPage("one", "api"), clock.now())
    second, _ = paging.open_page(container.store, container.procedure, paging.NewPage("two", "api"), clock.now())
    clock.advance(timedelta(minutes=4))
    paging.acknowledge_page(container.store, container.procedure, first.id, "aisha", "on_it", "slack", clock.now())
    clock.advance(timedelta(minutes=30))
    paging.acknowledge_page(container.store, container.procedure, second.id, "omar", "done", "sms", clock.now())
    code, out, _ = run(capsys, "report", "--week", "2026-11-25", "--json", *CONFIG, clock=clock)
    body = json.loads(out)
    assert code == 0 and body["week_start"] == "2026-11-23"
    [aisha] = body["people"]
    assert aisha == {"responsible": "aisha", "pages": 2, "median_to_on_it_seconds": 1140.0,
                     "p90_to_on_it_seconds": 1860.0, "share_within_window": 0.5, "missed": 1}
    code, out, _ = run(capsys, "report", "--week", "2026-11-25", *CONFIG, clock=clock)
    assert "Aisha Khan" in out and "50%" in out
    assert run(capsys, "report", "--week", "soon", *CONFIG)[0] == 2
