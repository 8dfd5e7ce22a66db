"""A send interrupted by a crash (or left unanswered by the provider) is looked up with the provider before it
is reported: marked sent when the provider has it, sent again when the provider shows it never went, reported
to the approvers only when the provider cannot tell. The real Slack and Twilio clients talk to the loopback
fakes, which answer conversations.history with metadata and the Messages/Calls list filters as the real APIs do.
On SQLite and PostgreSQL."""

from collections import Counter
from datetime import timedelta

import pytest

from oncallbot.adapters.console_notifier import ConsoleNotifier
from oncallbot.adapters.router import NotificationRouter
from oncallbot.adapters.slack.notifier import SlackNotifier, build_web_client
from oncallbot.adapters.twilio import TwilioGateway
from oncallbot.services import paging
from oncallbot.services.delivery import claim_pending, deliver_pending, reap_stale_sends
from tests.harness.pager import Pager

AISHA = "+14155550105"
AISHA_DM = "DU01AISHA00"
SUPPORT = "C01SUPPORT"
FROM = "+14155550199"


class Crash(BaseException):
    """The replica dies: nothing after this point runs (not a delivery failure the outbox would record)."""


class DiesAfterSending:
    """Hands each message to the provider, then dies before the outbox hears the answer."""

    def __init__(self, inner):
        self.inner = inner

    def deliver(self, message):
        self.inner.deliver(message)
        raise Crash


class DiesBeforeSending:
    def deliver(self, message):
        raise Crash


@pytest.fixture
def router(fakes):
    twilio, slack = fakes
    return NotificationRouter(
        ConsoleNotifier(), "http://bot.example.test",
        slack=SlackNotifier(build_web_client("xoxb-test", slack.url), SUPPORT, None),
        twilio=TwilioGateway(twilio.account_sid, twilio.auth_token, FROM, api_url=twilio.url, timeout=0.5))


@pytest.fixture
def pager(store, router, fakes):
    pager = Pager(store)
    pager.deliverer = router
    for fake in fakes:  # the providers' times agree with ours, as with real clocks
        fake.clock = pager.clock.now
    return pager


def crash_while_sending(pager, deliverer):
    with pytest.raises(Crash):
        deliver_pending(pager.store, pager.procedure, deliverer, pager.clock.now())


def reap_then_deliver(pager, router, after=timedelta(minutes=2)):
    pager.clock.advance(after)
    reap_stale_sends(pager.store, pager.procedure, pager.clock.now(), router)
    pager.deliver()


def states(pager, page_id):
    with pager.store.transaction() as tx:
        return Counter((n.kind, n.channel, n.state) for n in tx.notifications_of(page_id))


def ambiguous_reports(slack):
    return [m for m in slack.messages() if "may not have been sent" in (m["text"] or "")]


def open_and_reach_the_first_step(pager, router):
    page, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage("Voicemail from ACME", "api"),
                               pager.clock.now())
    pager.deliver()  # the card
    pager.clock.advance(timedelta(minutes=15))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
    return page


def test_a_text_and_call_twilio_took_before_the_crash_are_marked_sent_not_repeated(pager, router, fakes):
    twilio, slack = fakes
    page = open_and_reach_the_first_step(pager, router)
    crash_while_sending(pager, DiesAfterSending(router))
    assert len(twilio.sms_to(AISHA)) + len(twilio.calls_to(AISHA)) >= 1  # at least one went before the crash

    reap_then_deliver(pager, router)
    assert len(twilio.sms_to(AISHA)) == 1 and len(twilio.calls_to(AISHA)) == 1  # once each, never twice
    assert states(pager, page.id)[("page", "sms", "sent")] == 1
    assert states(pager, page.id)[("page", "voice", "sent")] == 1
    assert ambiguous_reports(slack) == []
    with pager.store.transaction() as tx:  # the sid is known, so Twilio's later status callbacks apply
        refs = {n.provider_ref for n in tx.notifications_of(page.id) if n.channel in ("sms", "voice")}
    assert refs == {twilio.sms_to(AISHA)[0]["sid"], twilio.calls_to(AISHA)[0]["sid"]}


def test_sends_that_never_reached_the_provider_are_sent_after_the_crash(pager, router, fakes):
    twilio, slack = fakes
    page = open_and_reach_the_first_step(pager, router)
    crash_while_sending(pager, DiesBeforeSending())
    assert twilio.sms_to(AISHA) == [] and twilio.calls_to(AISHA) == []

    reap_then_deliver(pager, router)
    assert len(twilio.sms_to(AISHA)) == 1 and len(twilio.calls_to(AISHA)) == 1
    assert any(e.kind == "notified" and e.channel == "sms" for e in pager.page(page.id).timeline)
    assert ambiguous_reports(slack) == []


def test_a_slack_card_posted_before_the_crash_is_found_by_its_metadata(pager, router, fakes):
    _, slack = fakes
    page, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage("Voicemail from ACME", "api"),
                               pager.clock.now())
    crash_while_sending(pager, DiesAfterSending(router))
    [card] = slack.messages(SUPPORT)
    assert card["metadata"]["event_type"] == "oncallbot_outbox"

    reap_then_deliver(pager, router)
    assert len(slack.messages(SUPPORT)) == 1  # not posted twice
    with pager.store.transaction() as tx:  # later thread posts and edits find it
        assert tx.page(page.id).slack_card_ts == card["ts"]
    assert states(pager, page.id)[("card", "slack", "sent")] == 1


def test_a_slack_dm_that_never_went_is_sent_after_the_crash(pager, router, fakes):
    _, slack = fakes
    page = open_and_reach_the_first_step(pager, router)
    pager.deliver()
    pager.clock.advance(timedelta(minutes=15))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())  # the manager, also on Slack
    crash_while_sending(pager, DiesBeforeSending())
    reap_then_deliver(pager, router)
    [dm] = [m for m in slack.messages("DU01OMAR000") if f"#{page.id}" in (m["text"] or "")]
    assert dm["metadata"]["event_type"] == "oncallbot_outbox"
    assert ambiguous_reports(slack) == []


def test_a_text_twilio_answered_too_late_is_looked_up_not_repeated(pager, router, fakes):
    twilio, slack = fakes
    twilio.inject("/Messages.json", delay=1.5, method="POST")  # accepted, but after the client's 0.5 s timeout
    page = open_and_reach_the_first_step(pager, router)
    pager.deliver()
    twilio.wait_for(lambda r: r.method == "POST" and r.path.endswith("/Messages.json"), timeout=10)
    assert states(pager, page.id)[("page", "sms", "sending")] == 1  # not reported yet: Twilio is asked first

    reap_then_deliver(pager, router, after=timedelta(seconds=30))
    assert len(twilio.sms_to(AISHA)) == 1
    assert states(pager, page.id)[("page", "sms", "sent")] == 1
    assert ambiguous_reports(slack) == []


def test_when_twilio_cannot_be_asked_the_send_is_asked_again_then_reported(pager, router, fakes):
    twilio, slack = fakes
    page = open_and_reach_the_first_step(pager, router)
    crash_while_sending(pager, DiesBeforeSending())
    twilio.inject("/Messages.json", status=500, times=1000, method="GET")
    twilio.inject("/Calls.json", status=500, times=1000, method="GET")

    reap_then_deliver(pager, router)
    assert states(pager, page.id)[("page", "sms", "sending")] == 1  # asked again later, not reported yet
    assert ambiguous_reports(slack) == []

    for _ in range(30):  # every 20 s, up to ten minutes after it was queued
        reap_then_deliver(pager, router, after=timedelta(seconds=21))
    assert states(pager, page.id)[("page", "sms", "ambiguous")] == 1
    assert twilio.sms_to(AISHA) == []  # never sent blindly
    assert any(f"page #{page.id} may not have been sent" in m["text"] for m in ambiguous_reports(slack))


class AnotherReplicaLooksUpMeanwhile:
    """The router's lookups; during the first, another replica looks up the sends that went stale a moment later."""

    def __init__(self, pager, router, later):
        self.pager, self.router, self.later, self.first = pager, router, later, True

    def find_sent(self, message, since, until=None):
        if self.first:
            self.first = False
            self.pager.clock.advance(self.later)
            reap_stale_sends(self.pager.store, self.pager.procedure, self.pager.clock.now(), self.router)
        return self.router.find_sent(message, since, until)


def text_row(pager, page_id):
    """The page's text: its step's, or the digest that carries it."""
    with pager.store.transaction() as tx:
        return next(n for n in tx.notifications_of(page_id) if n.channel == "sms" and n.state != "grouped")


def two_pages_30_s_apart(pager):
    """Two pages to Aisha, opened 30 s apart, their cards posted."""
    first, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage("Voicemail from ACME", "api"),
                                pager.clock.now())
    pager.clock.advance(timedelta(seconds=30))
    second, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage("Ticket from Globex", "api"),
                                 pager.clock.now())
    pager.deliver()
    return first, second


def test_two_texts_interrupted_apart_and_looked_up_by_two_replicas_are_both_found(pager, router, fakes):
    """Twilio tells texts apart by their body: another replica's lookup of the person's other text, running at
    the same moment, leaves no doubt about this one (it used to make it ambiguous and reported)."""
    twilio, slack = fakes
    first, second = two_pages_30_s_apart(pager)
    for page in (first, second):  # each page's first step, 30 s apart (the second as a digest); each text's
        # replica dies once it went
        pager.clock.advance(timedelta(minutes=14, seconds=30) if page is first else timedelta(seconds=30))
        paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
        with pytest.raises(Crash):
            deliver_pending(pager.store, pager.procedure, DiesAfterSending(router), pager.clock.now(),
                            keys=[text_row(pager, page.id).key])
    assert len(twilio.sms_to(AISHA)) == 2

    pager.clock.advance(timedelta(seconds=45))  # the first text's claim has ended, the second's not yet
    reap_stale_sends(pager.store, pager.procedure, pager.clock.now(),
                     AnotherReplicaLooksUpMeanwhile(pager, router, timedelta(seconds=30)))
    pager.deliver()
    assert len(twilio.sms_to(AISHA)) == 2  # neither sent again
    assert [text_row(pager, p.id).state for p in (first, second)] == ["sent", "sent"]
    assert {text_row(pager, p.id).provider_ref for p in (first, second)} == {m["sid"] for m in twilio.sms_to(AISHA)}
    assert ambiguous_reports(slack) == []


def call_row(pager, page_id):
    with pager.store.transaction() as tx:
        return next(n for n in tx.notifications_of(page_id) if n.kind == "page" and n.channel == "voice")


def test_two_calls_interrupted_apart_and_looked_up_by_two_replicas_are_both_found(pager, router, fakes):
    """A call carries nothing of ours: two replicas each asking Twilio about one of the person's calls cannot
    place either while the other's answer is out. Each waits; both are asked again at the same moment, by one
    replica, and placed together (they used to be reported as ambiguous, both)."""
    twilio, slack = fakes
    first, second = two_pages_30_s_apart(pager)
    for page in (first, second):  # each page's first step, 30 s apart; each call's replica dies once it went
        pager.clock.advance(timedelta(minutes=14, seconds=30) if page is first else timedelta(seconds=30))
        paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
        with pytest.raises(Crash):
            deliver_pending(pager.store, pager.procedure, DiesAfterSending(router), pager.clock.now(),
                            keys=[call_row(pager, page.id).key])
        if page is first:  # taken at once, so the second page gets a call of its own rather than a digest
            paging.acknowledge_page(pager.store, pager.procedure, first.id, "aisha", "on_it", "sms",
                                    pager.clock.now())
    assert len(twilio.calls_to(AISHA)) == 2

    pager.clock.advance(timedelta(seconds=45))  # the first call's claim has ended, the second's not yet
    reap_stale_sends(pager.store, pager.procedure, pager.clock.now(),
                     AnotherReplicaLooksUpMeanwhile(pager, router, timedelta(seconds=30)))
    assert [call_row(pager, p.id).state for p in (first, second)] == ["sending", "sending"]  # neither reported
    assert ambiguous_reports(slack) == []

    pager.clock.advance(timedelta(seconds=20))  # the next mark: due together, looked up together
    reap_stale_sends(pager.store, pager.procedure, pager.clock.now(), router)
    pager.deliver()
    assert len(twilio.calls_to(AISHA)) == 2  # neither placed again
    # Which sid is whose cannot be told within one second (Twilio's times): each row has one of the two.
    assert {call_row(pager, p.id).provider_ref for p in (first, second)} == {c["sid"] for c in twilio.calls_to(AISHA)}
    assert [call_row(pager, p.id).state for p in (first, second)] == ["sent", "sent"]
    assert ambiguous_reports(slack) == []


def test_a_call_queued_long_ago_and_placed_late_is_not_taken_for_an_interrupted_one(pager, router, fakes):
    """A backlog held the first page's call for a while: placed after the second page's call was queued, it
    is in Twilio's list for that one's lookup. It is accounted for (it was claimed since), so the second call,
    which never went, is placed now rather than taken as placed by the first's."""
    twilio, slack = fakes
    first, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage("Voicemail from ACME", "api"),
                                pager.clock.now())
    pager.clock.advance(timedelta(seconds=70))
    second, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage("Ticket from Globex", "api"),
                                 pager.clock.now())
    pager.deliver()  # the cards
    pager.clock.advance(timedelta(minutes=13, seconds=50))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())  # the first page's step
    paging.acknowledge_page(pager.store, pager.procedure, first.id, "aisha", "on_it", "sms", pager.clock.now())
    pager.clock.advance(timedelta(seconds=70))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())  # the second's, 70 s later
    with pytest.raises(Crash):  # the second page's call: its replica dies before it reaches Twilio
        deliver_pending(pager.store, pager.procedure, DiesBeforeSending(), pager.clock.now(),
                        keys=[call_row(pager, second.id).key])
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(),  # the first's, from the backlog
                    keys=[call_row(pager, first.id).key])
    assert len(twilio.calls_to(AISHA)) == 1

    reap_then_deliver(pager, router)
    calls = twilio.calls_to(AISHA)
    assert len(calls) == 2 and f"page number {second.id}." in calls[1]["twiml"]  # the second page's, placed now
    assert call_row(pager, second.id).provider_ref == calls[1]["sid"]
    assert ambiguous_reports(slack) == []


def test_a_text_claimed_again_but_never_handed_to_twilio_goes_out_without_asking(pager, router, fakes):
    """Twilio refused the first try; a replica claims the retry, then dies before it gets to it: nothing of
    that try reached Twilio, so it goes out once its claim ends, even while Twilio's lists cannot be read, and
    nobody is told."""
    twilio, slack = fakes
    page = open_and_reach_the_first_step(pager, router)
    twilio.inject("/Messages.json", status=500, times=1, method="POST")
    pager.deliver()  # the call goes; the text is refused, to be tried again
    assert twilio.sms_to(AISHA) == [] and len(twilio.calls_to(AISHA)) == 1
    pager.clock.advance(timedelta(seconds=16))
    with pager.store.transaction() as tx:
        assert claim_pending(tx, pager.procedure, pager.clock.now()).count >= 1  # ... and the replica dies
    twilio.inject("/Messages.json", status=500, times=1000, method="GET")
    twilio.inject("/Calls.json", status=500, times=1000, method="GET")

    reap_then_deliver(pager, router)
    assert len(twilio.sms_to(AISHA)) == 1 and len(twilio.calls_to(AISHA)) == 1
    assert states(pager, page.id)[("page", "sms", "sent")] == 1
    assert not [r for r in twilio.requests if r.method == "GET"]  # nothing to ask Twilio about
    assert ambiguous_reports(slack) == []


class LongRound:
    """The provider takes its time: the first message costs two minutes of the clock (a backlog with failures keeps
    one delivery loop going that long), and while the next one is on its way another replica's reconcile job and
    delivery run."""

    def __init__(self, pager, router):
        self.pager, self.router, self.calls = pager, router, 0

    def deliver(self, message):
        self.calls += 1
        if self.calls == 1:
            self.pager.clock.advance(timedelta(minutes=2))
        elif self.calls == 2:  # in flight: another replica looks for interrupted sends, then sends what it may
            reap_stale_sends(self.pager.store, self.pager.procedure, self.pager.clock.now(), self.router)
            self.pager.deliver()
        return self.router.deliver(message)


def test_a_delivery_loop_longer_than_the_send_deadline_never_has_its_sends_repeated(pager, router, fakes):
    twilio, slack = fakes
    page = open_and_reach_the_first_step(pager, router)
    # One row a round, as a long backlog makes it: the second round claims its row two minutes after the loop began.
    deliver_pending(pager.store, pager.procedure, LongRound(pager, router), pager.clock.now(), batch=1,
                    clock=pager.clock.now)
    assert len(twilio.sms_to(AISHA)) == 1 and len(twilio.calls_to(AISHA)) == 1  # once each, never twice
    posts = Counter((m["metadata"] or {}).get("event_payload", {}).get("key") for m in slack.messages())
    assert [key for key, count in posts.items() if count > 1] == []
    assert states(pager, page.id)[("page", "sms", "sent")] == 1
    assert states(pager, page.id)[("page", "voice", "sent")] == 1
    assert ambiguous_reports(slack) == []


class OthersTakeOverAfterTheFirst:
    """The first message of the round goes; then the round stalls two minutes (other pages' sends, a slow
    provider), its claim ends, and another replica takes its other rows for interrupted and sends them."""

    def __init__(self, pager, router):
        self.pager, self.router, self.first = pager, router, True

    def deliver(self, message):
        result = self.router.deliver(message)
        if self.first:
            self.first = False
            self.pager.clock.advance(timedelta(minutes=2))
            reap_stale_sends(self.pager.store, self.pager.procedure, self.pager.clock.now(), self.router)
            self.pager.deliver()
        return result


@pytest.mark.parametrize("clock", ["by its claim", "by the rows"])
def test_a_round_that_outlasts_its_claim_never_makes_a_send_another_replica_made(pager, router, fakes, clock):
    """Checked both ways: the round reads the clock before each send (as every round of `serve` does), and a
    text or call is handed over only while its row is still under the round's claim (a Slack post has only the
    first: a commit before each post would cost every card)."""
    twilio, slack = fakes
    page = open_and_reach_the_first_step(pager, router)
    deliver_pending(pager.store, pager.procedure, OthersTakeOverAfterTheFirst(pager, router), pager.clock.now(),
                    clock=pager.clock.now if clock == "by its claim" else None)
    assert len(twilio.sms_to(AISHA)) == 1 and len(twilio.calls_to(AISHA)) == 1  # once each, never twice
    posts = Counter((m["metadata"] or {}).get("event_payload", {}).get("key") for m in slack.messages())
    assert [key for key, count in posts.items() if key and count > 1] == [] or clock == "by the rows"
    assert states(pager, page.id)[("page", "sms", "sent")] == 1
    assert states(pager, page.id)[("page", "voice", "sent")] == 1
    assert ambiguous_reports(slack) == []


# --- a page from the API: its card claimed in the transaction that opens it ------------------------------

def test_an_api_page_card_claimed_with_the_page_is_posted_once(pager, router, fakes):
    _, slack = fakes
    page, created, claimed = paging.open_api_page_claiming(pager.store, pager.procedure,
                                                           paging.NewPage("Voicemail from ACME", "api"),
                                                           pager.clock.now())
    assert created and states(pager, page.id)[("card", "slack", "sending")] == 1  # ours once committed
    pager.deliver()  # the outbox's own round meanwhile leaves it to us
    assert slack.messages(SUPPORT) == []

    assert deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), page.id, claimed=claimed) == 1
    [card] = slack.messages(SUPPORT)
    assert f"#{page.id}" in card["text"]
    assert states(pager, page.id)[("card", "slack", "sent")] == 1
    pager.deliver()
    assert len(slack.messages(SUPPORT)) == 1


def test_an_api_page_whose_replica_dies_before_posting_its_card_gets_it_once(pager, router, fakes):
    _, slack = fakes
    earlier = pager.open("An earlier ticket")  # the channel has history (the fake knows no empty channel)
    page, _, _ = paging.open_api_page_claiming(pager.store, pager.procedure,
                                               paging.NewPage("Voicemail from ACME", "api"), pager.clock.now())
    # The replica dies here, after the commit and before the send.
    reap_then_deliver(pager, router)

    assert [m["text"].split(":")[0] for m in slack.messages(SUPPORT)] == [f"Page #{earlier.id}", f"Page #{page.id}"]
    assert states(pager, page.id)[("card", "slack", "sent")] == 1
    assert ambiguous_reports(slack) == []


def test_an_api_page_opened_again_claims_nothing(pager, router):
    new = paging.NewPage("Voicemail from ACME", "api", external_id="zd-1")
    first, _, claimed = paging.open_api_page_claiming(pager.store, pager.procedure, new, pager.clock.now())
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), first.id, claimed=claimed)

    again, created, claimed = paging.open_api_page_claiming(pager.store, pager.procedure, new, pager.clock.now())
    assert (again.id, created, claimed) == (first.id, False, None)


def line_posts(slack, key):
    return [m for m in slack.messages(SUPPORT)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("key") == key]


def test_a_step_line_due_before_its_card_waits_for_the_card_and_is_found_in_its_thread(pager, router, fakes):
    """A step's line that comes before its card is posted (the card waits for the channel's pace, or another
    replica is posting it) waits for the card and goes into its thread, never on its own into the channel,
    where nobody could tell which page it is about. Interrupted there, it is found there, not posted twice."""
    _, slack = fakes
    page, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage("Voicemail from ACME", "api"),
                               pager.clock.now())
    pager.clock.advance(timedelta(minutes=15))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
    line = f"page:{page.id}:step:0:thread"
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), keys=[line])
    assert line_posts(slack, line) == []  # its card is not posted yet
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), keys=[f"page:{page.id}:card"])
    with pager.store.transaction() as tx:
        card_ts = tx.page(page.id).slack_card_ts

    pager.clock.advance(timedelta(seconds=2))
    crash_while_sending(pager, DiesAfterSending(router))
    reap_then_deliver(pager, router)
    [posted] = line_posts(slack, line)  # once, never twice
    assert posted["thread_ts"] == card_ts
    assert states(pager, page.id)[("thread", "slack", "sent")] == 1
    assert ambiguous_reports(slack) == []


def test_a_slack_tickets_line_interrupted_in_a_busy_channel_is_looked_for_in_its_thread_only(pager, router, fakes):
    """A Slack ticket's thread exists from the start, so its line can only be there: a channel busier than a
    lookup can read (2,000 messages) does not make it ambiguous."""
    _, slack = fakes
    ticket_ts = slack.person_posts(SUPPORT, "U0FRONTDSK", "Customer: printer on fire")
    page, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage(
        "Customer: printer on fire", "slack", external_id=f"slack:{SUPPORT}:{ticket_ts}", slack_channel=SUPPORT,
        slack_ts=ticket_ts), pager.clock.now())
    pager.deliver()  # the card, in the ticket's thread
    pager.clock.advance(timedelta(minutes=15))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
    line = f"page:{page.id}:step:0:thread"
    with pytest.raises(Crash):
        deliver_pending(pager.store, pager.procedure, DiesBeforeSending(), pager.clock.now(), keys=[line])
    for n in range(2_100):  # a storm in the channel meanwhile
        slack.person_posts(SUPPORT, "U0FRONTDSK", f"Customer ticket {n}")

    reap_then_deliver(pager, router)
    [posted] = line_posts(slack, line)
    assert posted["thread_ts"] == ticket_ts
    assert ambiguous_reports(slack) == []


# --- a storm message (a storm's cards folded into one post) --------------------------------------------------

def storm_of_cards(pager, router, pacer, deliverer):
    """25 pages at once with burst 20: 20 cards, then a second later the storm message of the other 5, sent by
    `deliverer`."""
    pages = [paging.open_page(pager.store, pager.procedure, paging.NewPage(f"Storm ticket {n}", "api"),
                              pager.clock.now())[0].id for n in range(25)]
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), pacer=pacer)
    pager.clock.advance(timedelta(seconds=1))
    with pytest.raises(Crash):
        deliver_pending(pager.store, pager.procedure, deliverer, pager.clock.now(), pacer=pacer)
    return pages[20:]


def storm_posts(slack):
    return [m for m in slack.messages(SUPPORT) if m["text"].startswith(":zap: *Storm:")]


@pytest.mark.parametrize("crash", ["after", "before"])
def test_a_storm_message_interrupted_is_found_or_sent_once_and_its_pages_keep_no_card(pager, router, fakes, crash):
    from oncallbot.domain.pacing import SlackPace
    from oncallbot.services.delivery import SlackPacer

    _, slack = fakes
    pacer = SlackPacer(SlackPace(1.0, 20))
    folded = storm_of_cards(pager, router, pacer, DiesAfterSending(router) if crash == "after" else DiesBeforeSending())
    assert len(storm_posts(slack)) == (1 if crash == "after" else 0)
    paging.acknowledge_page(pager.store, pager.procedure, folded[2], "aisha", "on_it", "slack", pager.clock.now())
    pager.clock.advance(timedelta(seconds=30))
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), pacer=pacer)
    assert not [m for m in slack.messages(SUPPORT) if "On It!" in m["text"]]  # it waits for its storm message

    pager.clock.advance(timedelta(minutes=2))
    reap_stale_sends(pager.store, pager.procedure, pager.clock.now(), router)
    pager.clock.advance(timedelta(minutes=1))  # the channel has its tokens back
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), pacer=pacer)
    [storm] = storm_posts(slack)  # once, never twice; never as one page's card
    assert "5 more pages" in storm["text"] and all(f"#{p}" in storm["text"] for p in (folded[0], folded[-1]))
    with pager.store.transaction() as tx:
        rows = [next(n for n in tx.notifications_of(p) if n.kind == "card") for p in folded]
        assert [r.state for r in rows] == ["sent"] + ["grouped"] * 4
        assert {r.provider_ref for r in rows} == {storm["ts"]}
        assert all(tx.page(p).slack_card_ts is None for p in folded)  # no redraw ever edits the storm message
    assert ambiguous_reports(slack) == []
    pager.clock.advance(timedelta(seconds=5))
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), pacer=pacer)
    [line] = [m for m in slack.messages(SUPPORT) if "On It!" in m["text"]]
    assert line["thread_ts"] == storm["ts"] and line["text"].startswith(f"Page #{folded[2]}: On It! Aisha Khan")


def test_a_slack_tickets_line_stays_in_its_thread_when_its_card_is_folded_into_a_storm(pager, router, fakes):
    """A Slack ticket has its own thread from the start: its line went there before a storm folded its card,
    and is looked for there after the crash (it used to be looked for in the storm's thread, and posted again)."""
    from oncallbot.domain.pacing import SlackPace
    from oncallbot.services.delivery import SlackPacer

    _, slack = fakes
    for n in range(24):
        paging.open_page(pager.store, pager.procedure, paging.NewPage(f"Storm ticket {n}", "api"), pager.clock.now())
    ticket_ts = slack.person_posts(SUPPORT, "U0FRONTDSK", "Customer: printer on fire")
    page, _ = paging.open_page(pager.store, pager.procedure, paging.NewPage(
        "Customer: printer on fire", "slack", external_id=f"slack:{SUPPORT}:{ticket_ts}", slack_channel=SUPPORT,
        slack_ts=ticket_ts), pager.clock.now())
    pager.clock.advance(timedelta(minutes=15))
    paging.fire_due_escalations(pager.store, pager.procedure, pager.clock.now())
    line = f"page:{page.id}:step:0:thread"
    with pytest.raises(Crash):  # its line goes to the ticket's thread, then the replica dies
        deliver_pending(pager.store, pager.procedure, DiesAfterSending(router), pager.clock.now(), keys=[line])
    pacer = SlackPacer(SlackPace(1.0, 20))
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), pacer=pacer)  # the burst: 20 cards
    pager.clock.advance(timedelta(seconds=1))
    deliver_pending(pager.store, pager.procedure, router, pager.clock.now(), pacer=pacer)  # the storm message
    assert any(f"#{page.id}" in m["text"] for m in storm_posts(slack))  # its card went into the storm message

    reap_then_deliver(pager, router)
    [posted] = line_posts(slack, line)  # once, never twice
    assert posted["thread_ts"] == ticket_ts
    assert ambiguous_reports(slack) == []
