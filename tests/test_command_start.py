"""Issue 14, item 8: `oncallbot who` starts without what it does not use. Timings are measured in `make bench`,
never asserted; what a test can hold is which packages the command loads: none of the vendors' SDKs, not the
web server; on a database already at the current schema with no sync due, neither SQLAlchemy nor Alembic (the
rotation is read over the database driver alone), nor the calendar's parser, nor the services `who` does not
call; once the file has passed validation, neither PyYAML nor pydantic nor the holidays package (the copy of
its setup carries them: tests/test_who_setup.py); and, when holidays are looked up, one country's, not all."""

import json
import subprocess
import sys
from datetime import date, timedelta

import holidays
import pytest

from oncallbot.adapters.holiday_calendar import calendar_problem, country_holidays
from oncallbot.bootstrap import Environment, build_rotation_source, rotation_source_key
from oncallbot.errors import ConfigError
from tests.harness.config import EXAMPLE_CONFIG, example_settings

NOT_FOR_WHO = ("slack_bolt", "slack_sdk", "twilio", "googleapiclient", "apscheduler", "starlette", "uvicorn",
               "prometheus_client", "imapclient", "alembic", "icalendar", "holidays.countries.germany",
               "sqlalchemy", "psycopg",  # the example's embedded SQLite is read with the standard library's sqlite3
               # the file passed validation on the first run: the second reads a copy (adapters.who_setup)
               "pydantic", "pydantic_core", "yaml", "phonenumbers", "oncallbot.config",
               "oncallbot.adapters.db.store", "oncallbot.adapters.db.models", "oncallbot.adapters.ical",
               "oncallbot.ports", "oncallbot.services.delivery", "oncallbot.services.pages", "oncallbot.services.watch",
               "oncallbot.domain.watch", "oncallbot.domain.messages", "oncallbot.domain.swaps",
               "oncallbot.domain.phone_line")

RUN_WHO = """
import json, sys
from oncallbot.entrypoints.cli import main
code = main(["who", "--json", "--config", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def who(tmp_path) -> tuple[dict, list[str]]:
    done = subprocess.run([sys.executable, "-c", RUN_WHO, str(EXAMPLE_CONFIG)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *answer, loaded = done.stdout.strip().splitlines()
    result = json.loads(loaded)
    assert result["code"] == 0
    return json.loads("\n".join(answer)), result["modules"]


def test_who_loads_no_vendor_sdk_and_no_migration_tool_once_the_database_is_current(tmp_path):
    first, _ = who(tmp_path)  # creates and migrates the embedded database, and syncs the calendar file
    second, modules = who(tmp_path)
    assert second["current"] == first["current"] and second["current"]["person"]["id"]
    loaded = [name for name in NOT_FOR_WHO if any(m == name or m.startswith(name + ".") for m in modules)]
    assert loaded == []
    assert "holidays" not in modules  # the copy carries the team's holidays of the years around now


def test_the_sync_state_who_reads_is_the_one_the_built_source_keeps(tmp_path, key_file):
    """`who` tells whether a sync is due from the source's key without building the source (no calendar client):
    the key it computes is the key of the source `sync` builds, for both kinds of source."""
    ical = example_settings()
    google = example_settings(rotation={"source": "google",
                                        "google": {"calendar_id": "oncall@group.calendar.google.com"}})
    env = Environment(google_credentials=key_file)
    for settings in (ical, google):
        assert rotation_source_key(settings, env) == build_rotation_source(settings, env).key
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS is not set"):
        rotation_source_key(google, Environment())


@pytest.mark.parametrize("country, subdivision", [("US", "CA"), ("DE", "BY"), ("GB", "ENG"), ("USA", None)])
def test_one_countrys_holidays_are_the_librarys(country, subdivision):
    ours = country_holidays(country, subdivision)
    theirs = holidays.country_holidays(country, subdiv=subdivision)
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(3 * 365)]
    assert [ours.get(day) for day in days] == [theirs.get(day) for day in days]
    assert len(dict(ours)) > 20


def test_a_lowercase_country_code_is_refused_as_the_library_refuses_it():
    assert calendar_problem("us", None) == 'holidays.country: "us" is not a supported country code'


def test_an_unknown_country_or_subdivision_is_still_a_config_problem():
    assert calendar_problem("XX", None) == 'holidays.country: "XX" is not a supported country code'
    with pytest.raises(NotImplementedError, match="does not have subdivision ZZ"):
        country_holidays("US", "ZZ")
