"""The pure rules of a page: what counts as an acknowledgment, and when each step is due."""

from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.bootstrap import build_procedure
from oncallbot.domain.paging import (
    decide_acknowledgment,
    parse_ack_text,
    plan_escalation,
    plan_manual_escalation,
    voice_calls_allowed,
)
from oncallbot.domain.responsibility import Responsibility
from oncallbot.domain.rotation import Shift
from tests.harness.config import example_settings

PROCEDURE = build_procedure(example_settings())
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
MINUTES = timedelta(minutes=1)


@pytest.mark.parametrize("text,channel,expected", [
    ("On It!", "slack", "on_it"), ("on it", "slack", "on_it"), ("ON IT 👍", "slack", "on_it"),
    (":raising_hand: onit", "slack", "on_it"), ("Done.", "slack", "done"), ("✅ DONE", "slack", "done"),
    ("1", "sms", "on_it"), ("ok", "sms", "on_it"), ("Okay!", "sms", "on_it"), (" done ", "sms", "done"),
    ("1", "slack", None), ("ok", "slack", None), ("on it in 5", "slack", "on_it"), ("not done", "sms", None),
    ("I'm on it, calling them", "slack", None), ("", "sms", None),
    ("1", "voice", "on_it"), ("2", "voice", None), ("", "voice", None),
])
def test_what_counts_as_an_acknowledgment(text, channel, expected):
    assert parse_ack_text(text, channel) == expected


def on_call(person="aisha"):
    return Responsibility("oncall", Shift(NOW.date(), person, NOW, NOW + timedelta(days=7)), None)


def test_the_default_chain_starts_when_the_window_ends():
    plan = plan_escalation(on_call(), PROCEDURE.escalation, PROCEDURE.team, NOW, PROCEDURE.ack_window)
    assert [(s.notify, s.person_ids) for s in plan.steps] == [
        ("oncall", ("aisha",)), ("manager", ("omar",)), ("senior_managers", ("rachel",))]
    assert [plan.due_at(n) - NOW for n in range(6)] == [15 * MINUTES, 30 * MINUTES, 45 * MINUTES, 60 * MINUTES,
                                                          75 * MINUTES, 90 * MINUTES]
    assert plan.due_at(6) is None  # three steps and three repeats
    assert plan.step(5).notify == "senior_managers"


def test_a_person_without_a_manager_escalates_to_the_approvers():
    plan = plan_escalation(on_call("rachel"), PROCEDURE.escalation, PROCEDURE.team, NOW, PROCEDURE.ack_window)
    assert plan.steps[1].person_ids == ("dana", "omar")


def test_manual_escalation_pages_the_manager_now_and_the_next_level_after_the_window():
    plan = plan_manual_escalation("kelly", PROCEDURE.escalation, PROCEDURE.team, NOW, PROCEDURE.ack_window)
    assert [(s.notify, s.person_ids) for s in plan.steps] == [("manager", ("dana",)),
                                                             ("senior_managers", ("rachel",))]
    assert (plan.due_at(0), plan.due_at(1)) == (NOW, NOW + 15 * MINUTES)


def test_acknowledgment_decisions():
    assert decide_acknowledgment("open", "on_it", None, None, "Kelly").accepted
    assert decide_acknowledgment("on_it", "done", "Kelly", "19:04", "Kelly").state == "done"
    second = decide_acknowledgment("on_it", "on_it", "Kelly", "19:04", "Marcus")
    assert not second.accepted and second.message == "Already taken: Kelly said On It! at 19:04; nothing changed."


def test_call_throttle_counts_calls_in_the_period():
    policy = PROCEDURE.escalation
    recent = [NOW - timedelta(minutes=m) for m in (1, 5, 14)]
    assert not voice_calls_allowed(recent, policy, NOW)
    assert voice_calls_allowed(recent, policy, NOW + timedelta(minutes=2))
