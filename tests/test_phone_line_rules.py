"""The office line's rules, pure (domain.phone_line), its configuration, and its signed links."""

from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot.bootstrap import build_phone_line
from oncallbot.config import parse_settings
from oncallbot.domain import links
from oncallbot.domain.masking import mask_caller
from oncallbot.domain.phone_line import (
    HangUp,
    PhoneLine,
    Ring,
    TakeMessage,
    duration_label,
    is_message,
    ring_failure,
    route_call,
    step_of_call,
)
from oncallbot.domain.responsibility import Responsibility
from oncallbot.domain.rotation import Shift
from oncallbot.errors import ConfigError
from tests.harness.config import EXAMPLE_CONFIG, example_data, example_settings

TEAM = example_settings().team_model()
LINE = PhoneLine(numbers=("+14155550100",), office_hours_forward="+14155550190", greeting="after hours",
                 office_greeting="office hours")
SHIFT = Shift(date(2026, 11, 23), "aisha", datetime(2026, 11, 24, 2, 1, tzinfo=UTC),
              datetime(2026, 11, 30, 15, 0, tzinfo=UTC), "event")
ON_CALL = Responsibility("oncall", SHIFT, None)


def test_after_hours_rings_the_on_call_person_and_with_try_next_their_manager():
    assert [t.person_id for t in route_call(ON_CALL, LINE, TEAM).targets] == ["aisha"]
    with_manager = PhoneLine(**{**LINE.__dict__, "try_next": "manager"})
    assert [t.person_id for t in route_call(ON_CALL, with_manager, TEAM).targets] == ["aisha", "omar"]
    # The test call proves the one route a customer's call takes: the on-call person only.
    assert [t.person_id for t in route_call(ON_CALL, with_manager, TEAM, "test").targets] == ["aisha"]


def test_business_hours_forward_or_take_the_office_message_and_a_gap_rings_the_approvers():
    office = Responsibility("office", SHIFT, None)
    assert route_call(office, LINE, TEAM).forward_to == "+14155550190"
    voicemail = PhoneLine(**{**LINE.__dict__, "office_hours_forward": "voicemail"})
    step = step_of_call(route_call(office, voicemail, TEAM), 0, False, "customer", voicemail, "+14155550100")
    assert step == TakeMessage("office hours", None, 180, True)
    gap = route_call(Responsibility("nobody", None, "a gap"), LINE, TEAM)
    assert [t.person_id for t in gap.targets] == ["dana", "omar"]


def test_the_call_goes_on_ring_by_ring_then_to_voicemail_and_a_test_call_never_takes_a_message():
    route = route_call(Responsibility("nobody", None, "a gap"), LINE, TEAM)
    first = step_of_call(route, 0, False, "customer", LINE, "+14155550100")
    assert isinstance(first, Ring) and first.target.person_id == "dana" and first.caller_id == "+14155550100"
    after_hours = TakeMessage("after hours", None, 180, True)
    assert step_of_call(route, 2, False, "customer", LINE, "+14155550100") == after_hours
    assert step_of_call(route, 2, False, "test", LINE, "+14155550100") == HangUp()
    assert step_of_call(route, 0, True, "customer", LINE, "+14155550100") == HangUp()


@pytest.mark.parametrize(("status", "answered_by", "failure"), [
    ("no-answer", None, "no answer"), ("busy", None, "busy"), ("failed", None, "failed"),
    ("completed", None, "no keypress"), ("completed", "machine_end_beep", "voicemail"),
    ("completed", "fax", "voicemail"),
])
def test_why_a_ring_was_not_taken(status, answered_by, failure):
    assert ring_failure(status, answered_by) == failure


def test_a_message_is_two_seconds_or_more_and_durations_read_like_a_clock():
    assert not is_message(None) and not is_message(1) and is_message(2)
    assert duration_label(42) == "0:42" and duration_label(185) == "3:05"


def test_callers_are_masked_to_their_last_four_digits_and_withheld_numbers_named():
    assert mask_caller("+16505550142") == "••• ••• 0142"
    assert mask_caller("+266696687") == mask_caller("Anonymous") == mask_caller("") == "a withheld number"


def test_a_link_is_refused_once_expired_for_another_subject_or_with_another_secret():
    now = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    expires, sig = links.sign("secret", "recording:7", now + timedelta(days=7))
    assert links.verify("secret", "recording:7", str(expires), sig, now)
    assert not links.verify("secret", "recording:8", str(expires), sig, now)
    assert not links.verify("other", "recording:7", str(expires), sig, now)
    assert not links.verify("secret", "recording:7", str(expires + 1), sig, now)
    assert not links.verify("secret", "recording:7", str(expires), sig, now + timedelta(days=7))
    assert not links.verify("secret", "recording:7", "1e9", sig, now)


def test_the_phone_line_config_defaults_and_greetings_name_the_team():
    settings = example_settings(phone_line={"numbers": ["+14155550100"]})
    line = build_phone_line(settings)
    assert line is not None and line.ring_seconds == 20 and line.max_voicemail_seconds == 180 and line.transcribe
    assert line.office_hours_forward == "voicemail" and line.try_next is None
    assert line.greeting.startswith("You have reached Customer Support.")
    assert build_phone_line(example_settings()) is None


@pytest.mark.parametrize(("section", "problem"), [
    ({"numbers": ["4155550100"]}, "phone_line.numbers: '4155550100' is not a phone number in E.164 form"),
    ({"numbers": ["+14155550100"], "office_hours_forward": "front desk"},
     'phone_line.office_hours_forward: "front desk" is neither a phone number in E.164 form nor voicemail'),
    ({"numbers": ["+14155550100"], "try_next": "everyone"}, "phone_line.try_next:"),
    ({"numbers": ["+14155550100"], "ring_seconds": 2}, "phone_line.ring_seconds:"),
    ({}, "phone_line.numbers: is required"),
])
def test_a_bad_phone_line_config_names_the_key(section, problem):
    with pytest.raises(ConfigError) as caught:
        parse_settings({**example_data(), "phone_line": section}, EXAMPLE_CONFIG.parent)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
