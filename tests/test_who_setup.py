"""Issue 14, item 8: `oncallbot who` answers from a copy of what it reads of a configuration file that passed
validation (adapters.who_setup), so it starts without PyYAML, pydantic and the config's models. The copy must
never let through what validation would refuse, never answer for another file, and hold no contact details.
The command runs as a user types it (`main`, on the example config and its calendar file, embedded SQLite);
conftest points XDG_CACHE_HOME at the test's own folder."""

import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
from datetime import date

import yaml

from oncallbot.adapters.holiday_calendar import holiday_lookup
from oncallbot.entrypoints.cli import main
from tests.harness.config import EXAMPLE_CONFIG

AT = "2026-12-02T21:00"  # a weeknight: the person on call is responsible


def example_copy(folder):
    folder.mkdir(exist_ok=True)
    for name in ("oncallbot.example.yaml", "rotation.example.ics", "procedure.md"):
        shutil.copy(EXAMPLE_CONFIG.parent / name, folder / name)
    return folder / "oncallbot.example.yaml"


def who(config, capsys) -> tuple[int, dict | None, str]:
    code = main(["who", "--json", "--at", AT, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


def cached_files(tmp_path):
    folder = tmp_path / "cache" / "oncallbot"
    return sorted(folder.glob("who-*.pickle")) if folder.is_dir() else []


def test_the_second_who_answers_the_same_from_the_copy(tmp_path, capsys):
    config = example_copy(tmp_path / "team")
    first = who(config, capsys)
    assert first[0] == 0 and len(cached_files(tmp_path)) == 1
    second = who(config, capsys)
    assert second == first and first[1]["current"]["person"]["name"]


def test_a_file_edited_after_a_cached_run_is_validated_again(tmp_path, capsys):
    config = example_copy(tmp_path / "team")
    code, answer, _ = who(config, capsys)
    person = answer["current"]["person"]
    text = config.read_text()
    config.write_text(text.replace(f"name: {person['name']},", "name: Renamed Person,", 1))
    code, answer, _ = who(config, capsys)
    assert code == 0 and answer["current"]["person"]["name"] == "Renamed Person"  # not the copy's name
    config.write_text(text.replace('start: "Mon 18:01"', 'start: "Mon 25:00"'))
    code, answer, err = who(config, capsys)
    assert code == 2 and "shift.start" in err  # refused, though a copy of the file's last good state exists


def test_the_copy_holds_no_contact_details_and_only_its_owner_reads_it(tmp_path, capsys):
    config = example_copy(tmp_path / "team")
    assert who(config, capsys)[0] == 0
    [kept] = cached_files(tmp_path)
    content = kept.read_bytes()
    people = yaml.safe_load(config.read_text())["people"]
    secrets = [p[key] for p in people for key in ("email", "phone", "slack_id") if p.get(key)]
    assert secrets and [s for s in secrets if s.encode() in content] == []
    assert people[0]["name"].encode() in content  # names are what `who` prints
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700


def test_a_copy_of_another_file_is_never_used(tmp_path, capsys):
    """Two teams' files: the copy taken from one, put where the other's would be, is not taken for it."""
    first, second = example_copy(tmp_path / "one"), example_copy(tmp_path / "two")
    _, answer, _ = who(first, capsys)
    name = answer["current"]["person"]["name"]
    second.write_text(second.read_text().replace(f"name: {name},", "name: Other Team Person,", 1))
    assert who(second, capsys)[1]["current"]["person"]["name"] == "Other Team Person"
    one, two = cached_files(tmp_path)
    for kept in (one, two):  # whichever is whose: each file's copy now lies in the other's place
        shutil.copy(one if kept is two else two, kept.with_suffix(".swap"))
    for kept in (one, two):
        os.replace(kept.with_suffix(".swap"), kept)
    assert who(first, capsys)[1]["current"]["person"]["name"] == name
    assert who(second, capsys)[1]["current"]["person"]["name"] == "Other Team Person"


def test_an_unreadable_or_unwritable_cache_is_no_cache(tmp_path, capsys, monkeypatch):
    config = example_copy(tmp_path / "team")
    expected = who(config, capsys)
    [kept] = cached_files(tmp_path)
    kept.write_bytes(b"not a pickle")
    assert who(config, capsys) == expected
    assert pickle.loads(kept.read_bytes())  # written again, whole
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked / "cache"))  # cannot be made: a file is in the way
    assert who(config, capsys) == expected


def test_a_copied_holiday_lookup_answers_the_same_without_the_holidays_package(tmp_path):
    """A copy carries the country's holidays of the years around the day it was taken: read in a fresh
    interpreter, it answers for those years without importing the package, and loads it for any other year."""
    this_year = date.today().year
    lookup = holiday_lookup("US", "CA", [date(this_year, 12, 24)])
    days = [date(year, month, day) for year in (this_year - 1, this_year, this_year + 2)
            for month, day in ((1, 1), (7, 3), (7, 4), (11, 26), (12, 24), (12, 25), (3, 3))]
    far = date(this_year + 10, 12, 25)
    expected = [lookup(day) for day in [*days, far]]
    (tmp_path / "lookup.pickle").write_bytes(pickle.dumps(lookup))
    read = subprocess.run([sys.executable, "-c", READ_COPY, str(tmp_path / "lookup.pickle"),
                           json.dumps([d.isoformat() for d in days]), far.isoformat()],
                          capture_output=True, text=True, timeout=60, check=True)
    answers, loaded_before_far, far_answer = json.loads(read.stdout)
    assert answers == expected[:-1] and far_answer == expected[-1]
    assert loaded_before_far is False  # the copied years needed no holidays package
    assert "Office closed (team holiday)" in answers and any(a and "Christmas" in a for a in answers)


READ_COPY = """
import json, pickle, sys
from datetime import date
lookup = pickle.loads(open(sys.argv[1], "rb").read())
answers = [lookup(date.fromisoformat(d)) for d in json.loads(sys.argv[2])]
loaded = "holidays" in sys.modules
print(json.dumps([answers, loaded, lookup(date.fromisoformat(sys.argv[3]))]))
"""
