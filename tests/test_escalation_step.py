"""One escalation step decided without a database: who is paged on which channel, the digest, the throttle,
the thread line and the test page's alert (domain.escalation.decide_step)."""

from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.domain.escalation import Reach, StepPage, decide_step
from oncallbot.domain.paging import ChainStep, EscalationPolicy, PlannedStep
from oncallbot.domain.team import Person

NOW = datetime(2026, 11, 25, 6, 15, tzinfo=UTC)
POLICY = EscalationPolicy((ChainStep("oncall", ("sms", "voice"), timedelta(0)),), timedelta(minutes=15), 3,
                          calls_per_number=3, calls_period=timedelta(minutes=15))
PAGE = StepPage(7, "Voicemail from ACME", "Aisha Khan")
ALL = frozenset({"sms", "voice", "slack"})


def person(person_id="aisha", name="Aisha Khan"):
    return Person(person_id, name, phone="+15550000001", slack_id="U1")


def sent(decision):
    """(person, channel, kind) of every message that will be sent, and of those a digest covers."""
    return ([(m.person_id, m.channel, m.kind) for m in decision.messages if not m.grouped],
            [(m.person_id, m.channel) for m in decision.messages if m.grouped])


CALLS = (NOW - timedelta(minutes=1), NOW - timedelta(minutes=2), NOW - timedelta(minutes=3))


@pytest.mark.parametrize(("channels", "reach", "expected_sent", "expected_grouped", "expected_line"), [
    pytest.param(("sms", "voice"), Reach(person(), ALL), [("aisha", "sms", "page"), ("aisha", "voice", "page")], [],
                 "Step 1: paging Aisha Khan (on call) by SMS, call", id="sms-and-call"),
    pytest.param(("sms", "voice"), Reach(person(), frozenset({"voice", "slack"})), [("aisha", "voice", "page")], [],
                 "Step 1: paging Aisha Khan (on call) by call", id="opted-out-of-sms"),
    pytest.param(("sms", "voice"), Reach(person(), frozenset({"slack"})), [("aisha", "slack", "page")], [],
                 "Step 1: paging Aisha Khan (on call) by Slack", id="opted-out-of-both-falls-back-to-slack"),
    pytest.param(("sms", "voice"), Reach(person(), frozenset()), [], [],
                 "Step 1: paging nobody reachable", id="unreachable"),
    pytest.param(("sms", "voice"), Reach(person(), ALL, waiting_elsewhere=True), [("aisha", "sms", "digest")],
                 [("aisha", "sms"), ("aisha", "voice")], "Step 1: paging nobody reachable", id="storm-digest"),
    pytest.param(("sms", "voice", "slack"), Reach(person(), ALL, waiting_elsewhere=True),
                 [("aisha", "sms", "digest"), ("aisha", "slack", "page")], [("aisha", "sms"), ("aisha", "voice")],
                 "Step 1: paging Aisha Khan (on call) by Slack", id="storm-digest-keeps-slack"),
    pytest.param(("sms", "voice"), Reach(person(), ALL, recent_call_times=CALLS), [("aisha", "sms", "page")], [],
                 "Step 1: paging Aisha Khan (on call) by SMS", id="calls-throttled"),
    pytest.param(("sms", "voice"), Reach(person(), ALL, recent_call_times=CALLS[:2]),
                 [("aisha", "sms", "page"), ("aisha", "voice", "page")], [],
                 "Step 1: paging Aisha Khan (on call) by SMS, call", id="two-calls-leave-room-for-a-third"),
])
def test_a_step_pages_whom_it_can_as_it_should(channels, reach, expected_sent, expected_grouped, expected_line):
    step = PlannedStep("oncall", ("aisha",), channels, timedelta(0))
    decision = decide_step(PAGE, step, 0, 3, {"aisha": reach}, POLICY, NOW)
    assert sent(decision) == (expected_sent, expected_grouped)
    assert decision.thread_line == expected_line
    assert decision.events[-1].detail == expected_line and decision.alert is None


@pytest.mark.parametrize(("reach", "events"), [
    (Reach(person(), ALL), ["step"]),
    (Reach(person(), ALL, waiting_elsewhere=True), ["grouped", "step"]),
    (Reach(person(), ALL, recent_call_times=CALLS), ["throttled", "step"]),
])
def test_the_timeline_says_what_the_step_did(reach, events):
    step = PlannedStep("oncall", ("aisha",), ("sms", "voice"), timedelta(0))
    decision = decide_step(PAGE, step, 0, 3, {"aisha": reach}, POLICY, NOW)
    assert [e.kind for e in decision.events] == events


@pytest.mark.parametrize(("number", "planned", "line"), [
    (0, 3, "Step 1: paging the office channel"),
    (2, 3, "Step 3: paging the office channel"),
    (3, 3, "Step 4 (repeat 1): paging the office channel"),
    (5, 3, "Step 6 (repeat 3): paging the office channel"),
])
def test_the_office_step_and_its_repeats(number, planned, line):
    step = PlannedStep("office", (), ("slack",), timedelta(0))
    decision = decide_step(PAGE, step, number, planned, {}, POLICY, NOW)
    [post] = decision.messages
    assert (post.kind, post.target, post.text) == (
        "channel", "office", "Page #7 has no On It! yet: Voicemail from ACME")
    assert decision.thread_line == line


@pytest.mark.parametrize(("alert", "expected"), [
    (False, None),
    (True, "Test page #7 was not confirmed by Aisha Khan: calls may not be reaching the on-call person."),
])
def test_a_step_that_alerts_tells_the_approvers(alert, expected):
    step = PlannedStep("approvers", ("dana",), ("sms", "slack"), timedelta(minutes=15), alert=alert)
    decision = decide_step(PAGE, step, 1, 2, {"dana": Reach(person("dana", "Dana Lee"), ALL)}, POLICY, NOW)
    assert decision.alert == expected


@pytest.mark.parametrize(("channel", "escalation", "text"), [
    ("sms", None, "[oncallbot] Page #7: Voicemail from ACME -- reply 1 for On It!, DONE when resolved."),
    ("voice", None, "On-call page number 7. Voicemail from ACME"),
    ("slack", None, "Page #7 needs an On It!: Voicemail from ACME"),
    ("sms", "Escalated by Aisha Khan: refund",
     ("[oncallbot] Page #7: Voicemail from ACME -- Escalated by Aisha Khan: refund -- reply 1 for On It!, DONE when "
     "resolved.")),
    ("voice", "Escalated by Aisha Khan: refund",
     "On-call page number 7. Voicemail from ACME. Escalated by Aisha Khan: refund."),
])
def test_each_page_is_worded_for_its_channel_when_queued(channel, escalation, text):
    step = PlannedStep("manager", ("omar",), (channel,), timedelta(0))
    page = StepPage(7, "Voicemail from ACME", "Aisha Khan", escalation)
    decision = decide_step(page, step, 0, 1, {"omar": Reach(person("omar", "Omar Haddad"), ALL)}, POLICY, NOW)
    [message] = decision.messages
    assert message.text == text and message.key == f"page:7:step:0:omar:{channel}"
    assert message.reach_key == "page:7:step:0:omar"


def test_people_not_on_the_team_are_skipped():
    step = PlannedStep("senior_managers", ("gone", "rachel"), ("sms",), timedelta(0))
    decision = decide_step(PAGE, step, 0, 1, {"rachel": Reach(person("rachel", "Rachel Green"), ALL)}, POLICY, NOW)
    assert [m.person_id for m in decision.messages] == ["rachel"]
