"""Issue 14, item 1: the status callback URL of every text and page call names its outbox row (`?n=`). A replica
that dies after Twilio accepted a send, before it stored the answer, leaves a row `sending` with no sid; Twilio's
status callback for that send (which may also beat the API's answer) proves it went and carries the sid, so the
row is recorded sent without asking Twilio and guessing by elimination, which cannot place several sends to one
person within a minute. A callback never changes a row of another channel, a row with another sid, or anything
when it is not signed. The real Twilio client talks to the fake, which posts its callbacks itself, signed, from a
background thread, as Twilio does. On SQLite and PostgreSQL."""

from datetime import timedelta

import pytest

from oncallbot.entrypoints.scheduler import reconcile_job
from oncallbot.services import paging
from oncallbot.services.delivery import deliver_pending, reap_stale_sends
from tests.harness.twilio import AISHA, DANA_SLACK, OMAR_SLACK, OUR_NUMBER, PUBLIC_URL, events


class Crash(BaseException):
    """The replica dies: nothing after this point runs (not a delivery failure the outbox would record)."""


class DiesAfterSending:
    """Hands the message to Twilio, then dies before the outbox hears the answer."""

    def __init__(self, inner):
        self.inner = inner

    def deliver(self, message):
        self.inner.deliver(message)
        raise Crash


class DiesBeforeSending:
    def deliver(self, message):
        raise Crash


def first_step_fired(bot, summary="Voicemail from ACME: server down") -> int:
    """A page whose first step is due and fired: Aisha's text and call are queued, not sent yet."""
    page_id = bot.open_page(summary)
    bot.clock.advance(timedelta(minutes=16))
    assert paging.fire_due_escalations(bot.store, bot.procedure, bot.clock.now()) >= 1
    return page_id


def row(bot, page_id, channel, kind="page"):
    with bot.store.transaction() as tx:
        [found] = [n for n in tx.notifications_of(page_id) if n.channel == channel and n.kind == kind]
    return found


def interrupted(bot, page_id, channel, accepted=True, kind="page"):
    """The replica sends the page's text or call and dies: after Twilio accepted it, or before."""
    queued = row(bot, page_id, channel, kind)
    with pytest.raises(Crash):
        deliver_pending(bot.store, bot.procedure, DiesAfterSending(bot.container.deliverer) if accepted
                        else DiesBeforeSending(), bot.clock.now(), keys=[queued.key])
    assert row(bot, page_id, channel, kind).state == "sending"
    return queued


def reconcile_later(bot, minutes=2):
    """Another replica's reconcile job, once the interrupted claims have ended."""
    bot.clock.advance(timedelta(minutes=minutes))
    reconcile_job(bot.container)
    bot.container.deliver_now()


def ambiguity_reports(bot):
    return [text for approver in (DANA_SLACK, OMAR_SLACK) for text in bot.dms(approver)
            if "may not have been sent" in text]


def lookups(bot):
    return [r for r in bot.twilio.requests if r.method == "GET" and r.path.endswith(("/Messages.json", "/Calls.json"))]


def status_params(bot, sid, status, to=AISHA):
    kind = ("MessageSid", "MessageStatus") if sid.startswith("SM") else ("CallSid", "CallStatus")
    return {"AccountSid": bot.twilio.account_sid, kind[0]: sid, kind[1]: status, "To": to, "From": OUR_NUMBER,
            "ApiVersion": "2010-04-01"}


def post_status(bot, n, params, signed_url=None):
    """Twilio's callback to `/twilio/status?n=<n>`, signed over that full URL unless `signed_url` says otherwise."""
    path = f"/twilio/status?n={n}"
    return bot.twilio_post(path, params, signed_url=signed_url or PUBLIC_URL + path)


def test_a_text_twilio_took_before_the_crash_is_recorded_sent_by_its_callback(make_bot, database_url):
    bot = make_bot(database_url)
    bot.receive_status_callbacks()
    page_id = first_step_fired(bot)
    text_row = interrupted(bot, page_id, "sms")
    bot.container.deliver_now()  # the call and the thread line, as usual
    bot.twilio.wait_for_status_callbacks()

    [text] = bot.twilio.sms_to(AISHA)
    assert text["status_callback"] == f"{PUBLIC_URL}/twilio/status?n={text_row.id}"
    answered = [status for url, _, status in bot.twilio.status_callbacks if url.endswith(f"?n={text_row.id}")]
    assert answered == [204, 204]  # sent, delivered: signed with the query, and verified so
    after = row(bot, page_id, "sms")
    assert (after.state, after.provider_ref, after.delivery_status) == ("sent", text["sid"], "delivered")

    bot.twilio.clear()
    reconcile_later(bot)
    assert lookups(bot) == []  # nothing left to ask Twilio about
    assert len(bot.twilio.sms_to(AISHA)) == 1 and len(bot.twilio.calls_to(AISHA)) == 1  # nothing re-sent
    assert ambiguity_reports(bot) == []
    body = bot.page(page_id)
    assert events(body, "notified").count(("notified", "aisha", "sms")) == 1
    assert ("delivered", "aisha", "sms") in events(body)


def test_two_interrupted_texts_to_one_person_within_a_minute_are_placed_by_their_callbacks(make_bot,
                                                                                           database_url):
    bot = make_bot(database_url)
    bot.receive_status_callbacks(delay=0.5)  # the sends are interrupted before the first callback comes
    first = bot.open_page("Voicemail from ACME: server down")
    bot.clock.advance(timedelta(seconds=30))
    second = bot.open_page("Voicemail from Initech: checkout failing")
    bot.clock.advance(timedelta(minutes=16))
    assert paging.fire_due_escalations(bot.store, bot.procedure, bot.clock.now()) == 2
    # Aisha's texts: the first page's, and the digest of the second. The first went before its replica died, the
    # digest never did: Twilio's list has one text for two interrupted rows, which elimination cannot place.
    page_text = interrupted(bot, first, "sms")
    digest = interrupted(bot, second, "sms", kind="digest", accepted=False)
    call = interrupted(bot, first, "voice")
    bot.twilio.wait_for_status_callbacks()

    [text] = bot.twilio.sms_to(AISHA)
    [placed] = bot.twilio.calls_to(AISHA)
    assert (row(bot, first, "sms").state, row(bot, first, "sms").provider_ref) == ("sent", text["sid"])
    assert (row(bot, first, "voice").state, row(bot, first, "voice").provider_ref) == ("sent", placed["sid"])
    assert row(bot, second, "sms", "digest").state == "sending"  # no callback: it never reached Twilio
    assert {page_text.id, call.id} == {int(url.rsplit("=", 1)[1]) for url, _, _ in bot.twilio.status_callbacks}

    reconcile_later(bot)  # Twilio's only text is the first row's (known now), so the digest never went: sent now
    bot.twilio.wait_for_status_callbacks()
    texts = bot.twilio.sms_to(AISHA)
    assert len(texts) == 2 and len(bot.twilio.calls_to(AISHA)) == 1  # nobody texted or called twice
    assert row(bot, second, "sms", "digest").provider_ref == texts[1]["sid"] != text["sid"]
    assert texts[1]["body"] == digest.text
    assert {row(bot, first, "sms").state, row(bot, first, "voice").state,
            row(bot, second, "sms", "digest").state} == {"sent"}
    assert ambiguity_reports(bot) == []


def test_a_callback_naming_a_row_it_cannot_be_about_changes_nothing(make_bot, database_url):
    bot = make_bot(database_url)  # callbacks posted by hand here
    page_id = first_step_fired(bot)
    text_row = interrupted(bot, page_id, "sms")
    bot.container.deliver_now()  # the call went, and has its sid
    [text] = bot.twilio.sms_to(AISHA)
    call_row, card = row(bot, page_id, "voice"), row(bot, page_id, "slack", "card")
    assert call_row.provider_ref and card.provider_ref

    def unchanged():
        assert (row(bot, page_id, "sms").state, row(bot, page_id, "sms").provider_ref) == ("sending", None)
        assert row(bot, page_id, "voice").provider_ref == call_row.provider_ref
        assert row(bot, page_id, "slack", "card").provider_ref == card.provider_ref

    stranger_call = "CA" + "e" * 32
    assert post_status(bot, text_row.id, status_params(bot, stranger_call, "completed")).status_code == 204  # a call
    assert post_status(bot, card.id, status_params(bot, text["sid"], "delivered")).status_code == 204  # a Slack row
    assert post_status(bot, call_row.id, status_params(bot, stranger_call, "completed")).status_code == 204  # has a sid
    assert post_status(bot, text_row.id, status_params(bot, text["sid"], "sent", to="+14155550987")).status_code \
        == 204  # to a number the row never went to
    unsigned = bot.twilio_post(f"/twilio/status?n={text_row.id}", status_params(bot, text["sid"], "sent"),
                               signature="bm90IFR3aWxpbydz")
    assert unsigned.status_code == 403
    # Signed without the row's number: a query added to it is not Twilio's
    assert post_status(bot, text_row.id, status_params(bot, text["sid"], "sent"),
                       signed_url=f"{PUBLIC_URL}/twilio/status").status_code == 403
    assert post_status(bot, "0", status_params(bot, text["sid"], "sent")).status_code == 204
    assert post_status(bot, "99999999999999999999", status_params(bot, text["sid"], "sent")).status_code == 204
    unchanged()

    # The callback Twilio really posts, naming its own row, twice (Twilio repeats them)
    for _ in range(2):
        assert post_status(bot, text_row.id, status_params(bot, text["sid"], "delivered")).status_code == 204
    assert (row(bot, page_id, "sms").state, row(bot, page_id, "sms").provider_ref) == ("sent", text["sid"])
    assert events(bot.page(page_id), "notified").count(("notified", "aisha", "sms")) == 1  # once
    bot.twilio.clear()
    reconcile_later(bot)
    assert lookups(bot) == [] and ambiguity_reports(bot) == []
    assert len(bot.twilio.sms_to(AISHA)) == 1


def test_a_page_call_interrupted_after_twilio_placed_it_is_recorded_by_its_callback(make_bot, database_url):
    bot = make_bot(database_url)
    bot.receive_status_callbacks()
    page_id = first_step_fired(bot)
    call_row = interrupted(bot, page_id, "voice")
    bot.container.deliver_now()  # the text and the thread line, as usual
    bot.twilio.wait_for_status_callbacks()

    [call] = [c for c in bot.twilio.calls_to(AISHA) if f"page={page_id}" in c["twiml"]]
    assert call["status_callback"] == f"{PUBLIC_URL}/twilio/status?n={call_row.id}"
    after = row(bot, page_id, "voice")
    assert (after.state, after.provider_ref, after.delivery_status) == ("sent", call["sid"], "completed")
    bot.twilio.clear()
    reconcile_later(bot)
    assert [r for r in lookups(bot) if r.path.endswith("/Calls.json")] == []
    assert len([c for c in bot.twilio.calls_to(AISHA) if f"page={page_id}" in c["twiml"]]) == 1
    assert ambiguity_reports(bot) == []


def test_a_call_reported_as_maybe_not_sent_is_marked_sent_when_its_callback_comes(make_bot, database_url):
    bot = make_bot(database_url)  # the callback comes late, by hand: after the send was reported
    page_id = first_step_fired(bot)
    call_row = interrupted(bot, page_id, "voice")
    bot.container.deliver_now()
    bot.clock.advance(timedelta(minutes=2))
    reap_stale_sends(bot.store, bot.procedure, bot.clock.now())  # no provider to ask: reported
    bot.container.deliver_now()
    assert row(bot, page_id, "voice").state == "ambiguous"
    reports = ambiguity_reports(bot)
    assert len(reports) == 2  # one to each approver
    dms = {approver: len(bot.dms(approver)) for approver in (DANA_SLACK, OMAR_SLACK)}

    [call] = bot.twilio.calls_to(AISHA)
    for _ in range(2):
        assert post_status(bot, call_row.id, status_params(bot, call["sid"], "completed")).status_code == 204
    bot.container.deliver_now()
    after = row(bot, page_id, "voice")
    assert (after.state, after.provider_ref, after.delivery_status) == ("sent", call["sid"], "completed")
    timeline = [e for e in bot.page(page_id)["timeline"] if e["event"] == "notified" and e["channel"] == "voice"]
    assert len(timeline) == 1 and "status callback showed it went" in timeline[0]["detail"]
    assert {approver: len(bot.dms(approver)) for approver in (DANA_SLACK, OMAR_SLACK)} == dms  # no second report
    assert len(bot.twilio.calls_to(AISHA)) == 1


def test_a_callback_that_beats_the_api_answer_records_the_send_once(make_bot, database_url):
    bot = make_bot(database_url)
    seen = []

    def twilio_calls_back_first(resource):  # the text's `sent`, before the API answers with its sid
        if resource["sid"].startswith("SM"):
            n = int(resource["status_callback"].rsplit("=", 1)[1])
            assert post_status(bot, n, status_params(bot, resource["sid"], "sent")).status_code == 204
            with bot.store.transaction() as tx:
                named = tx.notification(n)
            seen.append((named.state, named.provider_ref))

    bot.twilio.before_answer = twilio_calls_back_first
    page_id = first_step_fired(bot)
    bot.container.deliver_now()
    bot.twilio.before_answer = None

    [text] = bot.twilio.sms_to(AISHA)
    assert seen == [("sent", text["sid"])]  # recorded by the callback, while the send waited for its answer
    after = row(bot, page_id, "sms")
    assert (after.state, after.provider_ref, after.delivery_status) == ("sent", text["sid"], "sent")
    assert events(bot.page(page_id), "notified").count(("notified", "aisha", "sms")) == 1  # not twice
    assert len(bot.twilio.sms_to(AISHA)) == 1


@pytest.mark.parametrize(("callback", "sid", "channel", "kind", "state", "ref", "to", "proves"), [
    ("sms", "SM1", "sms", "page", "sending", None, AISHA, True),  # in flight, or interrupted
    ("sms", "SM1", "sms", "digest", "ambiguous", None, AISHA, True),  # reported, then found
    ("voice", "CA1", "voice", "page", "sending", None, None, True),  # no To: nothing to compare
    ("voice", "CA1", "voice", "page", "sending", None, "+14155550100", True),  # the office line (a test call)
    ("voice", "SM1", "sms", "page", "sending", None, AISHA, False),  # a call's callback naming a text
    ("sms", "CA1", "sms", "page", "sending", None, AISHA, False),  # a call's sid on a text's callback
    ("sms", "SM1", "slack", "page", "sending", None, AISHA, False),  # not Twilio's
    ("sms", "SM1", "sms", "page", "sending", "SM2", AISHA, False),  # another sid already
    ("sms", "SM1", "sms", "page", "pending", None, AISHA, False),  # never handed to Twilio yet
    ("sms", "SM1", "sms", "page", "failed", None, AISHA, False),
    ("voice", "CA1", "voice", "voicemail", "sending", None, AISHA, False),  # a live call's TwiML, not a call
    ("sms", "SM1", "sms", "page", "sending", None, "+14155550987", False),  # a number it never went to
])
def test_what_a_callback_naming_a_row_proves(callback, sid, channel, kind, state, ref, to, proves):
    from oncallbot.domain.delivery import NamedInCallback, callback_proves_send
    from oncallbot.domain.vocabulary import Channel

    named = NamedInCallback(7, Channel(callback), to)
    assert callback_proves_send(named, sid, channel, kind, state, ref, frozenset({AISHA, "+14155550100"})) is proves
