"""The configuration file: defaults, and one clear line per problem naming the key path (exit 2)."""

from datetime import time, timedelta

import pytest
import yaml

from oncallbot.config import load_settings, parse_settings
from oncallbot.entrypoints.cli import main
from oncallbot.errors import ConfigError
from tests.harness.config import EXAMPLE_CONFIG, example_data, write_config


def problems_for(data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, EXAMPLE_CONFIG.parent)
    return caught.value.problems


def with_changes(**sections) -> dict:
    data = example_data()
    for key, value in sections.items():
        data[key] = value
    return data


def test_example_config_loads_with_the_procedures_defaults():
    settings = load_settings(str(EXAMPLE_CONFIG))
    assert settings.shift.start.at == time(18, 1) and settings.shift.end.at == time(6, 59)
    assert settings.swaps.notice == timedelta(days=5)
    assert settings.acknowledgment.window == timedelta(minutes=15)
    assert [s.notify for s in settings.escalation.steps] == ["oncall", "manager", "senior_managers"]
    assert len([p for p in settings.people if "oncall" in p.roles]) >= 6


def test_omitted_sections_take_defaults():
    data = example_data()
    for key in ("shift", "business_hours", "acknowledgment", "escalation", "holidays", "test_page"):
        data.pop(key)
    settings = parse_settings(data, EXAMPLE_CONFIG.parent)
    assert str(settings.shift.start) == "Mon 18:01" and str(settings.shift.end) == "Mon 06:59"
    assert settings.business_hours.days == (0, 1, 2, 3, 4)
    assert settings.business_hours.start == time(7) and settings.business_hours.end == time(18)
    assert [s.channels for s in settings.escalation.steps][0] == ("sms", "voice")


@pytest.mark.parametrize("sections,expected", [
    ({"shift": {"start": "Mon 25:00"}}, 'shift.start: "Mon 25:00" is not a time'),
    ({"shift": {"end": "Funday 06:59"}}, 'shift.end: "Funday 06:59" is not a time'),
    ({"business_hours": {"start": "7am"}}, 'business_hours.start: "7am" is not a time'),
    ({"business_hours": {"days": ["Mon", "Caturday"]}},
     'business_hours.days[1]: "Caturday" is not a weekday (use Mon, Tue, ... Sun)'),
    ({"acknowledgment": {"window": "15 minutes"}},
     'acknowledgment.window: "15 minutes" is not a duration (use e.g. 30s, 15m, 2h, 5d, 1w)'),
    ({"acknowledgment": {"window": "0m"}}, "acknowledgment.window:"),
    ({"team": {"name": "Support", "timezone": "Mars/Olympus"}},
     'team.timezone: "Mars/Olympus" is not an IANA time zone (e.g. "America/Los_Angeles")'),
    ({"swaps": {"approvers": ["dana"], "notise": "5d"}}, "swaps.notise: is not a known setting"),
    ({"swaps": {"notice": "5d"}}, "swaps.approvers: is required"),
    ({"swaps": {"approvers": ["nobody"]}}, 'swaps.approvers[0]: "nobody" is not a person id in people'),
    ({"escalation": {"steps": [{"notify": "oncall", "channels": ["pigeon"]}]}},
     "escalation.steps[0].channels[0]:"),
    ({"holidays": {"country": "XX"}}, 'holidays.country: "XX" is not a supported country code'),
    ({"rotation": {"source": "ical", "ical": "missing.ics"}}, 'rotation.ical: file "missing.ics" does not exist'),
    ({"rotation": {"source": "google"}}, "rotation.google: required when rotation.source is google"),
])
def test_each_problem_names_its_key_path(sections, expected):
    problems = problems_for(with_changes(**sections))
    assert any(p.startswith(expected) for p in problems), problems


def test_people_problems_point_at_the_person():
    data = example_data()
    data["people"][1]["phone"] = "415-555-0102"
    data["people"][2]["email"] = "priya-at-example"
    problems = problems_for(data)
    assert ("people[1].phone: is not a phone number in E.164 form (e.g. +14155550123; spaces, dashes and brackets "
            "are fine)") in problems
    assert "people[2].email: is not an email address" in problems


def test_references_between_people_are_checked():
    data = example_data()
    data["people"][3]["manager"] = "zed"
    data["people"][4]["id"] = "kelly"
    problems = problems_for(data)
    assert 'people[3].manager: "zed" is not a person id in people' in problems
    assert 'people[4].id: "kelly" is used by more than one person' in problems


def test_all_problems_are_reported_at_once():
    problems = problems_for(with_changes(shift={"start": "Mon 25:00", "end": "x"}, acknowledgment={"window": "soon"}))
    assert len(problems) == 3


def test_missing_file_and_broken_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_settings(str(tmp_path / "nope.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("team: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_settings(str(broken))
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_settings(str(scalar))


def test_secrets_are_not_accepted_in_the_file():
    problems = problems_for(with_changes(slack={"support_channel": "C1", "bot_token": "xoxb-1"}))
    assert "slack.bot_token: is not a known setting" in problems


def test_cli_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path, capsys):
    data = example_data()
    data["shift"] = {"start": "Mon 25:00", "end": "Mon 06:59"}
    path = write_config(tmp_path, data)
    assert main(["who", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == 'shift.start: "Mon 25:00" is not a time'


def test_config_path_comes_from_the_environment(tmp_path, monkeypatch, capsys):
    data = example_data()
    data["team"]["name"] = "Night Desk"
    monkeypatch.setenv("ONCALLBOT_CONFIG", str(write_config(tmp_path, data)))
    assert load_settings().team.name == "Night Desk"
    assert load_settings(str(EXAMPLE_CONFIG)).team.name == "Customer Support"  # --config wins


def test_the_example_file_is_valid_yaml_with_comments_for_each_section():
    text = EXAMPLE_CONFIG.read_text()
    assert yaml.safe_load(text)["team"]["timezone"] == "America/Los_Angeles"
    for section in ("shift:", "business_hours:", "swaps:", "acknowledgment:", "escalation:", "rotation:"):
        assert section in text


def test_grouping_a_storms_cards_is_on_unless_turned_off_and_only_by_a_yes_or_no():
    assert load_settings(str(EXAMPLE_CONFIG)).slack.pace.group_cards is True
    data = example_data()
    data["slack"]["pace"] = {"group_cards": "maybe"}
    assert problems_for(data) == ['slack.pace.group_cards: "maybe" input should be a valid boolean, '
                                  'unable to interpret input']
