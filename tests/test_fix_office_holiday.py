"""Issue 7 item 26: `shift.on_office_holiday` says who covers the office's hours of a holiday that falls
on the changeover day (Martin Luther King Jr. Day, Monday 2027-01-18): nobody (the procedure read
literally), the outgoing person until the next week starts, or the incoming person from opening time.
`who`, the paging responsibility and the rotation check all follow it."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncallbot.bootstrap import build_procedure
from oncallbot.domain.responsibility import coverage_gaps, responsible_at
from oncallbot.domain.rotation import Shift, neighbours_at
from oncallbot.entrypoints.cli import main
from oncallbot.errors import ConfigError
from oncallbot.services import paging
from oncallbot.services.rotation import check_rotation, sync_rotation, who_is_on_call
from tests.harness.clock import FakeClock
from tests.harness.config import example_data, example_settings, write_config
from tests.harness.rotation import ListSource, week_event

LA = ZoneInfo("America/Los_Angeles")


def procedure(rule: str):
    return build_procedure(example_settings(shift={"start": "Mon 18:01", "end": "Mon 06:59",
                                                   "on_office_holiday": rule}))


PROCEDURES = {rule: procedure(rule) for rule in ("nobody", "previous", "next")}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LA)


def shift(week_start: date, person: str) -> Shift:
    start, end = PROCEDURES["nobody"].window.bounds(week_start)
    return Shift(week_start, person, start, end)


KELLY, MARCUS, PRIYA = (shift(date(2027, 1, 4), "kelly"), shift(date(2027, 1, 11), "marcus"),
                        shift(date(2027, 1, 18), "priya"))
ROTATION = [KELLY, MARCUS, PRIYA]


def who(rule: str, at: datetime, shifts=ROTATION) -> tuple[str, str | None]:
    p = PROCEDURES[rule]
    current = neighbours_at(at, p.shifts_in_effect(shifts)).current
    result = responsible_at(at, current, p.hours, p.window, p.holiday_on)
    return result.responsible, result.shift.person_id if result.responsible == "oncall" else None


@pytest.mark.parametrize("rule,at,expected", [
    ("nobody", local(2027, 1, 18, 6, 59, 59), ("oncall", "marcus")),
    ("nobody", local(2027, 1, 18, 7, 0), ("nobody", None)),
    ("nobody", local(2027, 1, 18, 18, 0, 59), ("nobody", None)),
    ("nobody", local(2027, 1, 18, 18, 1), ("oncall", "priya")),
    ("previous", local(2027, 1, 18, 7, 0), ("oncall", "marcus")),
    ("previous", local(2027, 1, 18, 12, 0), ("oncall", "marcus")),
    ("previous", local(2027, 1, 18, 18, 0, 59), ("oncall", "marcus")),
    ("previous", local(2027, 1, 18, 18, 1), ("oncall", "priya")),
    ("next", local(2027, 1, 18, 6, 59, 59), ("oncall", "marcus")),
    ("next", local(2027, 1, 18, 7, 0), ("oncall", "priya")),
    ("next", local(2027, 1, 18, 12, 0), ("oncall", "priya")),
    ("next", local(2027, 1, 18, 18, 1), ("oncall", "priya")),
    # An ordinary Monday is the office's whatever the rule.
    ("previous", local(2027, 1, 11, 7, 0), ("office", None)),
    ("next", local(2027, 1, 11, 7, 0), ("office", None)),
    ("next", local(2027, 1, 11, 6, 59, 59), ("oncall", "kelly")),
])
def test_who_covers_a_monday_holiday(rule, at, expected):
    assert who(rule, at) == expected


@pytest.mark.parametrize("rule,shifts,at,expected", [
    # The outgoing week is missing: `previous` has nobody to keep; `next` still starts the incoming at 07:00.
    ("previous", [PRIYA], local(2027, 1, 18, 9, 0), ("nobody", None)),
    ("next", [PRIYA], local(2027, 1, 18, 9, 0), ("oncall", "priya")),
    # The incoming week is missing: `previous` keeps the outgoing person until 18:01 only.
    ("previous", [KELLY, MARCUS], local(2027, 1, 18, 9, 0), ("oncall", "marcus")),
    ("previous", [KELLY, MARCUS], local(2027, 1, 18, 18, 1), ("nobody", None)),
    ("next", [KELLY, MARCUS], local(2027, 1, 18, 9, 0), ("nobody", None)),
])
def test_a_missing_neighbour_week(rule, shifts, at, expected):
    assert who(rule, at, shifts) == expected


@pytest.mark.parametrize("rule,gaps", [
    ("nobody", ["Mon 2027-01-18 07:00-18:01, Martin Luther King Jr. Day: office closed and nobody on call"]),
    ("previous", []),
    ("next", []),
])
def test_coverage_gaps_follow_the_rule(rule, gaps):
    p = PROCEDURES[rule]
    found = coverage_gaps(local(2027, 1, 4, 18, 1), local(2027, 1, 25, 7, 0), p.shifts_in_effect(ROTATION),
                          p.hours, p.window, p.holiday_on)
    assert [g.message for g in found] == gaps


NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)


def stored_rotation(store, rule):
    p = PROCEDURES[rule]
    events = [week_event(date(2027, 1, 4) + timedelta(weeks=i), person)
              for i, person in enumerate(["kelly", "marcus", "priya", "diego", "aisha", "tom"] * 3)]
    sync_rotation(store, ListSource(events), p, NOW)
    return p


@pytest.mark.parametrize("rule,person", [("previous", "marcus"), ("next", "priya"), ("nobody", "nobody")])
def test_who_paging_and_the_check_agree(store, rule, person):
    p = stored_rotation(store, rule)
    at = local(2027, 1, 18, 9, 30)

    report = who_is_on_call(store, p, at)
    page, _ = paging.open_page(store, p, paging.NewPage("Voicemail: printer on fire", "api"), at)
    gaps = [g for g in check_rotation(store, p, NOW) if g.day == date(2027, 1, 18)]

    said = report.neighbours.current.person_id if report.responsibility.responsible == "oncall" else "nobody"
    assert (said, page.responsible, bool(gaps)) == (person, person, person == "nobody")
    # The same rule also holds while the holiday is under way.
    assert bool([g for g in check_rotation(store, p, local(2027, 1, 18, 8, 0)) if g.day == date(2027, 1, 18)]) \
        == (person == "nobody")


def test_who_under_next_still_names_the_weeks_around(store):
    p = stored_rotation(store, "next")
    report = who_is_on_call(store, p, local(2027, 1, 18, 9, 30))
    assert (report.neighbours.previous.person_id, report.neighbours.current.person_id,
            report.neighbours.next.person_id) == ("marcus", "priya", "diego")
    assert report.neighbours.current.start_at == local(2027, 1, 18, 7, 0)


def test_an_unknown_rule_is_refused_with_its_key_path():
    with pytest.raises(ConfigError) as raised:
        example_settings(shift={"on_office_holiday": "whoever"})
    (problem,) = raised.value.problems
    assert problem.startswith("shift.on_office_holiday: ") and "previous" in problem and "nobody" in problem


def test_the_default_is_the_procedure_read_literally():
    data = example_data()
    data["shift"] = {"start": "Mon 18:01", "end": "Mon 06:59"}
    assert build_procedure(example_settings(shift=data["shift"])).office_holiday == "nobody"


def run(capsys, *argv, now=datetime(2026, 11, 23, 20, 0, tzinfo=UTC)):
    code = main(list(argv), clock=FakeClock(now))
    out = capsys.readouterr()
    return code, out.out


@pytest.mark.parametrize("rule,person,check_exit", [("previous", "tom", 0), ("next", "kelly", 0),
                                                    ("nobody", None, 1)])
def test_cli_who_and_rotation_check_on_a_monday_holiday(capsys, tmp_path, rule, person, check_exit):
    data = example_data()
    data["shift"] = {**data["shift"], "on_office_holiday": rule}
    config = ["--config", str(write_config(tmp_path, data))]

    code, out = run(capsys, "who", "--json", "--at", "2027-01-18T09:30", *config)
    body = json.loads(out)
    assert code == 0
    assert (body["responsible"], (body["current"] or {}).get("person", {}).get("id")) == (
        ("oncall", person) if person else ("nobody", None))

    code, out = run(capsys, "rotation", "check", *config)
    assert code == check_exit
    assert ("Martin Luther King Jr. Day" in out) == (person is None)
