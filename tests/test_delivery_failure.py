"""A failed delivery decided without a database: retry, give up, fall back, record an opt-out, tell the
approvers (domain.delivery)."""

from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.domain.delivery import (
    RECONCILE_RETRY,
    FailedMessage,
    SendError,
    SendTrail,
    decide_interrupted_send,
    decide_reconciled,
    decide_send_failure,
    decide_status_failure,
    reconcile_retry_at,
    resolve_lookups,
)
from oncallbot.domain.messages import Delivered, Found, SendCheck
from oncallbot.domain.team import Person

NOW = datetime(2026, 11, 25, 6, 15, tzinfo=UTC)
AISHA = Person("aisha", "Aisha Khan", phone="+15550000001", slack_id="U1")
NO_SLACK = Person("aisha", "Aisha Khan", phone="+15550000001")


def failed(kind="page", channel="sms", person=AISHA, page_id=7, attempts=3, opted_out=frozenset(), **kw):
    reach = {"page": "page:7:step:0:aisha", "digest": "digest:aisha:1900:fallback"}.get(kind)
    return FailedMessage(11, kind, channel, person, page_id, attempts, kw.pop("text", "x"), kw.pop("target", None),
                         reach, frozenset(opted_out), "Voicemail from ACME", None, person.id if person else None)


def summary(decision):
    return (decision.state, [(m.channel, m.key) for m in decision.fallbacks], [r.subject for r in decision.reports],
            decision.opt_out, [e.kind for e in decision.events])


@pytest.mark.parametrize(("message", "error", "expected"), [
    pytest.param(failed(attempts=1), SendError("Twilio 500"), ("pending", [], [], None, []), id="retried"),
    pytest.param(failed(attempts=2), SendError("Twilio 500"), ("pending", [], [], None, []), id="retried-again"),
    pytest.param(failed(attempts=3), SendError("Twilio 500"),
                 ("failed", [("voice", "page:7:step:0:aisha:voice"), ("slack", "page:7:step:0:aisha:slack")],
                  ["failed:11"], None, ["delivery_failed"]), id="gives-up-and-falls-back"),
    pytest.param(failed(attempts=1), SendError("invalid number", permanent=True),
                 ("failed", [("voice", "page:7:step:0:aisha:voice"), ("slack", "page:7:step:0:aisha:slack")],
                  ["failed:11"], None, ["delivery_failed"]), id="permanent-at-once"),
    pytest.param(failed(attempts=1), SendError("opted out", permanent=True, opted_out=True),
                 ("failed", [("voice", "page:7:step:0:aisha:voice"), ("slack", "page:7:step:0:aisha:slack")],
                  ["optout:aisha:sms"], "sms", ["delivery_failed"]), id="opted-out-reported-once"),
    pytest.param(failed(attempts=1, opted_out={"sms"}), SendError("opted out", permanent=True, opted_out=True),
                 ("failed", [("voice", "page:7:step:0:aisha:voice"), ("slack", "page:7:step:0:aisha:slack")],
                  [], "sms", ["delivery_failed"]), id="opt-out-already-known"),
    pytest.param(failed(channel="voice", opted_out={"sms"}), SendError("down", permanent=True),
                 ("failed", [("slack", "page:7:step:0:aisha:slack")], ["failed:11"], None, ["delivery_failed"]),
                 id="no-fallback-to-an-opted-out-channel"),
    pytest.param(failed(person=NO_SLACK), SendError("down", permanent=True),
                 ("failed", [("voice", "page:7:step:0:aisha:voice")], ["failed:11"], None, ["delivery_failed"]),
                 id="no-slack-id"),
    pytest.param(failed(kind="digest"), SendError("down", permanent=True),
                 ("failed", [("voice", "digest:aisha:1900:fallback:voice"),
                             ("slack", "digest:aisha:1900:fallback:slack")], ["failed:11"], None, ["delivery_failed"]),
                 id="digest-falls-back-under-its-own-reach"),
    pytest.param(failed(attempts=1), SendError("timeout", maybe_sent=True),
                 ("sending", [], [], None, []), id="maybe-sent-left-to-ask-the-provider-never-repeated"),
    pytest.param(failed(kind="report", channel="slack", page_id=None), SendError("down", permanent=True),
                 ("failed", [], [], None, []), id="a-report-just-fails"),
    pytest.param(failed(kind="thread", channel="slack"), SendError("down", permanent=True),
                 ("failed", [], [], None, []), id="a-thread-line-just-fails"),
    pytest.param(failed(kind="writeback", channel="calendar", page_id=None, target="ev1"),
                 SendError("412", permanent=True, edit_conflict=True), ("failed", [], ["writeback:11"], None, []),
                 id="writeback-conflict"),
])
def test_a_failed_send(message, error, expected):
    assert summary(decide_send_failure(message, error, NOW)) == expected


def test_retries_back_off_with_each_attempt():
    assert decide_send_failure(failed(attempts=1), SendError("500"), NOW).retry_at == NOW + timedelta(seconds=15)
    assert decide_send_failure(failed(attempts=2), SendError("500"), NOW).retry_at == NOW + timedelta(seconds=30)


@pytest.mark.parametrize(("error", "text"), [
    (SendError("412 Precondition", permanent=True, edit_conflict=True),
     ("Did not write an approved change to the rotation calendar (Tom, event ev1): 412 Precondition. Check the "
     "event, and make the change by hand if it still holds.")),
    (SendError("403 forbidden", permanent=True),
     ("Could not write an approved change to the rotation calendar (Tom, event ev1) after 3 attempt(s): 403 "
     "forbidden. Please change the calendar by hand.")),
])
def test_a_failed_writeback_asks_the_approvers_to_change_the_calendar(error, text):
    message = failed(kind="writeback", channel="calendar", page_id=None, target="ev1", text="Tom")
    [report] = decide_send_failure(message, error, NOW).reports
    assert report.text == text


def test_a_fallback_is_worded_for_its_channel():
    decision = decide_send_failure(failed(), SendError("down", permanent=True), NOW)
    assert [m.text for m in decision.fallbacks] == ["On-call page number 7. Voicemail from ACME",
                                                    "Page #7 needs an On It!: Voicemail from ACME"]


@pytest.mark.parametrize(("message", "status", "code", "already", "expected"), [
    pytest.param(failed(), "delivered", None, False, None, id="delivered"),
    pytest.param(failed(), "undelivered", "30003", True, None, id="already-failed"),
    pytest.param(failed(kind="report", channel="slack"), "failed", None, False, None, id="not-a-page"),
    pytest.param(failed(channel="voice"), "no-answer", None, False, ("failed", [], [], None, []),
                 id="unanswered-call-is-the-escalations-job"),
    pytest.param(failed(), "undelivered", "30003", False,
                 ("failed", [("voice", "page:7:step:0:aisha:voice"), ("slack", "page:7:step:0:aisha:slack")],
                  ["failed:11"], None, ["delivery_failed"]), id="undelivered-falls-back"),
    pytest.param(failed(), "undelivered", "21610", False,
                 ("failed", [("voice", "page:7:step:0:aisha:voice"), ("slack", "page:7:step:0:aisha:slack")],
                  ["optout:aisha:sms"], "sms", ["delivery_failed"]), id="stop-code-records-the-opt-out"),
])
def test_a_status_callback(message, status, code, already, expected):
    decision = decide_status_failure(message, status, code, already)
    assert (summary(decision) if decision else None) == expected


def test_an_interrupted_send_is_reported_not_repeated():
    decision = decide_interrupted_send(failed(channel="voice"))
    assert summary(decision) == ("ambiguous", [], ["ambiguous:11"], None, ["delivery_ambiguous"])
    assert decision.reports[0].text == ("A voice to Aisha Khan for page #7 may not have been sent (interrupted "
                                        "mid-send, and the provider could not tell). It was not repeated.")


CANDIDATES, FOUND, ABSENT = SendCheck.CANDIDATES, SendCheck.FOUND, SendCheck.ABSENT
UNKNOWN, UNREACHABLE = SendCheck.UNKNOWN, SendCheck.UNREACHABLE


@pytest.mark.parametrize(("found", "trail", "expected"), [
    pytest.param([Found(CANDIDATES, refs=("CA1",))], SendTrail(), [Found(FOUND, Delivered("CA1"))],
                 id="one-call-nobody-else-accounts-for-is-ours"),
    pytest.param([Found(CANDIDATES, refs=("CA1", "CA2"))], SendTrail(frozenset({"CA1"})),
                 [Found(FOUND, Delivered("CA2"))], id="calls-of-other-rows-are-eliminated"),
    pytest.param([Found(CANDIDATES, refs=("CA1",))], SendTrail(frozenset({"CA1"})), [Found(ABSENT)],
                 id="every-call-accounted-for-so-ours-never-went"),
    pytest.param([Found(CANDIDATES, refs=("CA1",))] * 2, SendTrail(), [Found(UNKNOWN)] * 2,
                 id="two-interrupted-one-call-cannot-tell-which"),
    pytest.param([Found(CANDIDATES, refs=("CA1", "CA2"))] * 2, SendTrail(),
                 [Found(FOUND, Delivered("CA1")), Found(FOUND, Delivered("CA2"))], id="two-interrupted-two-calls"),
    pytest.param([Found(CANDIDATES, refs=("CA1",))], SendTrail(in_flight=1), [Found(UNREACHABLE)],
                 id="another-send-in-flight-wait-for-its-sid"),
    pytest.param([Found(CANDIDATES, refs=("CA1",))], SendTrail(unresolved=1), [Found(UNKNOWN)],
                 id="an-earlier-ambiguous-send-may-own-the-call"),
    pytest.param([Found(CANDIDATES, refs=())], SendTrail(in_flight=1), [Found(ABSENT)],
                 id="no-call-at-all-never-went"),
    pytest.param([Found(CANDIDATES, refs=("CA1",))], SendTrail(looked_up=1), [Found(UNREACHABLE)],
                 id="another-replica-asks-about-a-send-there-wait-for-it"),
])
def test_provider_records_placed_by_elimination(found, trail, expected):
    assert resolve_lookups(found, trail) == expected


def test_lookups_that_wait_on_each_other_are_due_again_at_the_same_moment():
    """Two replicas that each wait for the other's lookup ask again together, so one lookup places both."""
    first, second = NOW + timedelta(seconds=3.2), NOW + timedelta(seconds=17.9)
    assert reconcile_retry_at(first) == reconcile_retry_at(second)
    for now in (first, second, NOW):
        assert now < reconcile_retry_at(now) <= now + RECONCILE_RETRY


@pytest.mark.parametrize(("check", "age", "expected"), [
    pytest.param(ABSENT, timedelta(minutes=1), ("pending", []), id="never-went-sent-now"),
    pytest.param(UNREACHABLE, timedelta(minutes=1), ("sending", []), id="lookup-failed-asked-again"),
    pytest.param(UNREACHABLE, timedelta(minutes=11), ("ambiguous", ["ambiguous:11"]), id="gives-up-and-reports"),
    pytest.param(UNKNOWN, timedelta(minutes=1), ("ambiguous", ["ambiguous:11"]), id="cannot-tell-reported"),
])
def test_an_interrupted_send_once_the_provider_was_asked(check, age, expected):
    decision = decide_reconciled(failed(), Found(check), NOW - age, NOW)
    assert (decision.state, [r.subject for r in decision.reports]) == expected
    assert decision.fallbacks == ()  # never sent on another channel as if it had failed
