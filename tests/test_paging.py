"""A page's life: who is responsible, the 15-minute clock, each escalation step, and every acknowledgment."""

from datetime import timedelta

import pytest

from oncallbot.errors import BadInput, ChannelOptedOut, DeliveryFailed, NotAuthorized
from oncallbot.services import paging
from oncallbot.services.delivery import reap_stale_sends
from tests.harness.config import LITERAL_HOLIDAYS
from tests.harness.pager import MLK_MORNING, NIGHT, OFFICE_HOURS, Pager, run_concurrently


@pytest.fixture
def pager(store):
    return Pager(store)


def test_night_page_is_the_on_call_persons_with_a_15_minute_deadline(pager):
    page = pager.open()
    assert page.responsible == "aisha" and page.state == "open"
    assert page.deadline_at == pager.clock.now() + timedelta(minutes=15)
    [card] = pager.deliverer.of_kind("card")
    assert card.card.responsible_person.name == "Aisha Khan" and card.card.deadline == "22:15 PST"
    assert pager.deliverer.phone_calls_and_texts() == []  # nobody is phoned inside the window


def test_unanswered_page_escalates_step_by_step(pager):
    page = pager.open()
    assert pager.advance(14.9) == 0
    assert pager.advance(0.1) == 1
    assert pager.deliverer.phone_calls_and_texts() == [("aisha", "sms"), ("aisha", "voice")]
    sms = pager.deliverer.to("aisha", "sms")[0]
    assert f"Page #{page.id}" in sms.text and "reply 1" in sms.text
    pager.advance(15)
    assert {(m.person.id, m.channel) for m in pager.deliverer.sent if m.person and m.person.id == "omar"} == {
        ("omar", "sms"), ("omar", "voice"), ("omar", "slack")}
    pager.advance(15)
    assert pager.deliverer.to("rachel", "voice")
    threads = [m.text for m in pager.deliverer.of_kind("thread")]
    assert threads[0] == "Step 1: paging Aisha Khan (on call) by SMS, call"
    assert threads[1] == "Step 2: paging Omar Haddad (direct manager) by SMS, call, Slack"
    assert threads[2].startswith("Step 3: paging Rachel Stone (senior manager)")
    view = pager.page(page.id)
    assert [s.status for s in view.steps][:3] == ["ran", "ran", "ran"]


def test_last_step_repeats_until_the_limit(pager):
    page = pager.open()
    pager.advance(45)
    calls_after_chain = len(pager.deliverer.to("rachel", "voice"))
    for _ in range(5):
        pager.advance(15)
    assert len(pager.deliverer.to("rachel", "sms")) == calls_after_chain + 3  # max_repeats: 3
    assert pager.page(page.id).steps[-1].status == "ran"
    assert "repeat 3" in pager.deliverer.of_kind("thread")[-1].text


def test_on_it_stops_the_escalation_and_says_who_in_the_thread(pager):
    page = pager.open()
    pager.advance(16)
    result = pager.ack(page.id, "aisha", "on_it", channel="sms")
    assert result.accepted and result.page.state == "on_it"
    assert result.page.on_it_by == "aisha" and result.page.on_it_at == pager.clock.now()
    assert pager.deliverer.of_kind("thread")[-1].text == "On It! Aisha Khan at 22:16 (via SMS)"
    assert pager.deliverer.of_kind("card_update")[-1].card.state == "on_it"
    before = len(pager.deliverer.sent)
    pager.advance(60)
    assert len(pager.deliverer.sent) == before  # nothing more is sent
    assert all(s.status != "due" for s in pager.page(page.id).steps)


def test_second_acknowledgment_changes_nothing_and_says_so(pager):
    page = pager.open()
    pager.ack(page.id, "aisha")
    pager.clock.advance(timedelta(minutes=2))
    again = pager.ack(page.id, "omar")
    assert not again.accepted
    assert again.message == "Already taken: Aisha Khan said On It! at 22:00; nothing changed."
    assert again.page.on_it_by == "aisha"
    done = pager.ack(page.id, "aisha", "done")
    assert done.accepted and done.page.state == "done"
    late = pager.ack(page.id, "omar", "done")
    assert not late.accepted and late.message.startswith("Already done by Aisha Khan")


def test_done_without_on_it_counts_as_on_it(pager):
    page = pager.open()
    pager.clock.advance(timedelta(minutes=5))
    result = pager.ack(page.id, "kelly", "done")
    assert (result.page.state, result.page.on_it_by, result.page.done_by) == ("done", "kelly", "kelly")
    assert result.page.on_it_at == result.page.done_at


def test_page_in_business_hours_goes_to_the_office_channel_not_a_phone(store):
    pager = Pager(store, OFFICE_HOURS)
    page = pager.open()
    assert page.responsible == "office"
    pager.advance(15)
    [office] = pager.deliverer.of_kind("channel")
    assert office.target == "office" and f"#{page.id}" in office.text
    assert pager.deliverer.phone_calls_and_texts() == []
    pager.advance(15)  # then the approvers, since the office has no direct manager
    assert {p for p, _ in pager.deliverer.phone_calls_and_texts()} == {"dana", "omar"}


def test_page_in_a_rotation_gap_pages_the_approvers_at_once(store):
    pager = Pager(store, MLK_MORNING, **LITERAL_HOLIDAYS)
    page = pager.open()
    assert page.responsible == "nobody"
    assert set(pager.deliverer.phone_calls_and_texts()) == {("dana", "sms"), ("dana", "voice"),
                                                            ("omar", "sms"), ("omar", "voice")}
    assert "nobody (Martin Luther King Jr. Day" in pager.page(page.id).timeline[0].detail


def test_intake_is_idempotent_on_external_id(pager):
    first = pager.open(external_id="zendesk-4411")
    second = pager.open(summary="different text", external_id="zendesk-4411")
    assert second.id == first.id and second.summary == first.summary
    assert len(pager.deliverer.of_kind("card")) == 1


def test_a_second_page_waiting_on_the_same_person_joins_a_digest(pager):
    first = pager.open("Ticket 1")
    pager.advance(15)
    assert pager.deliverer.phone_calls_and_texts() == [("aisha", "sms"), ("aisha", "voice")]
    pager.open("Ticket 2")
    pager.open("Ticket 3")
    pager.advance(15)  # tickets 2 and 3 come due while ticket 1 is still waiting on Aisha
    aisha = [m for m in pager.deliverer.sent if m.person and m.person.id == "aisha" and m.channel in ("sms", "voice")]
    assert [(m.kind, m.channel) for m in aisha] == [("page", "sms"), ("page", "voice"), ("digest", "sms")]
    # One SMS "1" takes every page waiting on her.
    result = paging.acknowledge_phone_reply(pager.store, pager.procedure, "+14155550105", "1", pager.clock.now())
    assert sorted(p.id for p in result.pages) == [first.id, first.id + 1, first.id + 2]
    assert all(pager.page(p.id).state == "on_it" for p in result.pages)
    assert result.message == f"On It! recorded for page #{first.id}, #{first.id + 1}, #{first.id + 2}."


def test_calls_to_one_number_are_throttled(store):
    pager = Pager(store, escalation={"steps": [{"notify": "oncall", "channels": ["voice"]}], "repeat_every": "2m",
                                     "max_repeats": 6, "phone_throttle": {"calls": 3, "per": "15m"}})
    page = pager.open()
    pager.advance(15)
    for _ in range(6):
        pager.advance(2)
    assert len(pager.deliverer.to("aisha", "voice")) == 3
    kinds = [e.kind for e in pager.page(page.id).timeline]
    assert "throttled" in kinds


def test_sms_opt_out_falls_back_and_tells_the_approvers(pager):
    pager.deliverer.failures[("sms", "aisha")] = ChannelOptedOut("Twilio 21610: unsubscribed recipient")
    page = pager.open()
    pager.advance(15)
    assert pager.deliverer.to("aisha", "voice") and pager.deliverer.to("aisha", "slack")
    reports = [m for m in pager.deliverer.of_kind("report")]
    assert {m.person.id for m in reports} == {"dana", "omar"}
    assert "Aisha Khan has opted out of SMS" in reports[0].text and "+1" not in reports[0].text
    del pager.deliverer.failures[("sms", "aisha")]
    pager.advance(60)  # later steps and repeats never text her again
    assert not pager.deliverer.to("aisha", "sms")
    assert any(e.kind == "delivery_failed" for e in pager.page(page.id).timeline)


def test_transient_failures_are_retried(pager):
    pager.deliverer.failures[("voice", "aisha")] = DeliveryFailed("Twilio 500", permanent=False)
    pager.open()
    pager.advance(15)
    assert not pager.deliverer.to("aisha", "voice")
    del pager.deliverer.failures[("voice", "aisha")]
    pager.clock.advance(timedelta(seconds=20))
    pager.deliver()
    assert len(pager.deliverer.to("aisha", "voice")) == 1


def claim_the_first_step_then_die(pager):
    pager.open()
    pager.clock.advance(timedelta(minutes=15))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
    claim_until = pager.clock.now() + timedelta(seconds=60)
    with pager.store.transaction() as tx:  # a process claims the sends, then dies
        return tx.claim_pending_notifications(pager.clock.now(), claim_until, 100), claim_until


def test_a_send_claimed_but_never_handed_to_twilio_is_sent_once_after_the_crash(pager):
    claim_the_first_step_then_die(pager)  # ... before it got to calling Twilio
    pager.clock.advance(timedelta(minutes=2))
    assert reap_stale_sends(pager.store, pager.procedure, pager.clock.now()) >= 2
    pager.deliver()
    assert sorted(pager.deliverer.phone_calls_and_texts()) == [("aisha", "sms"), ("aisha", "voice")]
    assert not any("may not have been sent" in m.text for m in pager.deliverer.of_kind("report"))


def test_a_send_handed_to_twilio_then_interrupted_is_reported_not_repeated(pager):
    claimed, claim_until = claim_the_first_step_then_die(pager)
    with pager.store.transaction() as tx:  # ... once it had handed the text and the call to Twilio
        for row in claimed:
            if row.channel in ("sms", "voice"):
                assert tx.hand_over(row.id, claim_until, pager.clock.now())
    pager.clock.advance(timedelta(minutes=2))
    assert reap_stale_sends(pager.store, pager.procedure, pager.clock.now()) >= 2  # no provider to ask
    pager.deliver()
    assert pager.deliverer.phone_calls_and_texts() == []
    assert any("may not have been sent" in m.text for m in pager.deliverer.of_kind("report"))


def test_escalate_pages_the_direct_manager_at_once_then_up_the_chain(pager):
    page = pager.open()
    pager.ack(page.id, "aisha")
    result = paging.escalate_page(pager.store, pager.procedure, page.id, "aisha", "Needs a refund approval",
                                  pager.clock.now())
    pager.deliver()
    assert result.accepted and result.page.state == "open"
    assert result.page.deadline_at == pager.clock.now() + timedelta(minutes=15)  # the manager's window
    assert result.page.on_it_by is None
    assert {c for p, c in pager.deliverer.phone_calls_and_texts() if p == "omar"} == {"sms", "voice"}
    assert "Escalated by Aisha Khan: Needs a refund approval" in [m.text for m in pager.deliverer.of_kind("thread")]
    pager.advance(15)
    assert pager.deliverer.to("rachel")
    assert pager.ack(page.id, "omar").accepted


def test_bad_acknowledgments_change_nothing(pager):
    page = pager.open()
    with pytest.raises(NotAuthorized):
        paging.acknowledge_page(pager.store, pager.procedure, page.id, "stranger", "on_it", "slack", NIGHT)
    with pytest.raises(BadInput, match="no page 9999"):
        paging.acknowledge_page(pager.store, pager.procedure, 9999, "aisha", "on_it", "slack", NIGHT)
    with pytest.raises(BadInput):
        paging.escalate_page(pager.store, pager.procedure, page.id, "aisha", "   ", NIGHT)
    assert pager.page(page.id).state == "open" and len(pager.page(page.id).timeline) == 1


def test_weekly_test_page_calls_the_on_call_person_and_alerts_managers_if_unconfirmed(store):
    from datetime import datetime

    from tests.harness.pager import LA

    pager = Pager(store, datetime(2026, 11, 23, 18, 1, tzinfo=LA))  # Aisha's week starts
    page = paging.open_test_page(pager.store, pager.procedure, timedelta(minutes=15), pager.clock.now())
    pager.deliver()
    assert page.responsible == "aisha" and page.source == "test"
    assert set(pager.deliverer.phone_calls_and_texts()) == {("aisha", "sms"), ("aisha", "voice")}
    assert paging.open_test_page(pager.store, pager.procedure, timedelta(minutes=15), pager.clock.now()) is None
    pager.advance(15)
    reports = [m.text for m in pager.deliverer.of_kind("report")]
    assert any("was not confirmed by Aisha Khan" in text for text in reports)
    assert {p for p, _ in pager.deliverer.phone_calls_and_texts()} >= {"dana", "omar"}


def test_confirmed_test_page_alerts_nobody(store):
    from datetime import datetime

    from tests.harness.pager import LA

    pager = Pager(store, datetime(2026, 11, 23, 18, 1, tzinfo=LA))
    page = paging.open_test_page(pager.store, pager.procedure, timedelta(minutes=15), pager.clock.now())
    pager.deliver()
    pager.clock.advance(timedelta(minutes=3))
    reply = paging.acknowledge_phone_reply(pager.store, pager.procedure, "+14155550105", "1", pager.clock.now())
    assert [p.id for p in reply.pages] == [page.id]
    pager.advance(30)
    assert pager.deliverer.of_kind("report") == []


def test_concurrent_dispatchers_fire_each_step_once(pager):
    """Four dispatcher threads on one database (SKIP LOCKED on PostgreSQL, one writer on SQLite)."""
    from collections import Counter

    page_ids = [pager.open(f"Ticket {i}").id for i in range(40)]
    pager.clock.advance(timedelta(minutes=46))  # three steps due for every page
    errors = run_concurrently(
        lambda: paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now(), batch=7), 4)
    assert errors == []
    with pager.store.transaction() as tx:
        steps = Counter(e.page_id for e in tx.events_of_pages(page_ids) if e.kind == "step")
    assert set(steps.values()) == {3} and len(steps) == 40


def test_the_same_ticket_opened_concurrently_is_one_page(pager):
    results = []
    errors = run_concurrently(lambda: results.append(paging.open_page(
        pager.store, pager.procedure, paging.NewPage("Ticket 77", "zendesk", external_id="zd-77"),
        pager.clock.now())), 6)
    assert errors == []
    assert len({page.id for page, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_a_send_that_timed_out_is_not_repeated_but_reported_when_nobody_can_tell(pager):
    pager.deliverer.failures[("voice", "aisha")] = DeliveryFailed("no answer from Twilio; it may have been sent",
                                                                 maybe_sent=True)
    page = pager.open()
    pager.advance(15)
    del pager.deliverer.failures[("voice", "aisha")]
    pager.clock.advance(timedelta(minutes=1))
    reap_stale_sends(pager.store, pager.procedure, pager.clock.now())  # no provider to ask
    pager.deliver()
    assert pager.deliverer.to("aisha", "voice") == []  # never risk calling her twice for one step
    assert any(e.kind == "delivery_ambiguous" for e in pager.page(page.id).timeline)
    assert any("may not have been sent" in m.text for m in pager.deliverer.of_kind("report"))
