"""The office line (issue 12): customers' calls driven by the fake Twilio through the real webhooks, signed
as Twilio signs them; the bot answers with TwiML the fake follows (ring, screen, bridge, voicemail)."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from oncallbot.domain.rotation import OverrideKind, RotationOverride
from oncallbot.services.overrides import apply_override
from tests.harness.config import LITERAL_HOLIDAYS
from tests.harness.pager import run_concurrently
from tests.harness.phone_line import CUSTOMER, LINE, OFFICE, PHONE_LINE, build_line_bot
from tests.harness.twilio import AISHA, PUBLIC_URL, events

DANA, OMAR = "+14155550110", "+14155550111"
OFFICE_HOURS = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)  # Tuesday 10:00 PST
MLK_MORNING = datetime(2027, 1, 18, 17, 0, tzinfo=UTC)  # Monday 09:00 PST, a holiday: nobody on call
SCREEN = "Support call for Customer Support, press 1 to take it."


def card_text(card: dict) -> str:
    blocks = card["blocks"] if isinstance(card["blocks"], list) else json.loads(card["blocks"])
    texts = []
    for block in blocks:
        if block.get("text"):
            texts.append(block["text"]["text"])
        texts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(texts)


def listen_link(card: dict) -> str:
    text = card_text(card)
    start = text.index(f"<{PUBLIC_URL}/recordings/") + 1
    return text[start:text.index("|", start)]


@pytest.fixture
def line(make_bot, database_url):
    return build_line_bot(make_bot, database_url)


# -- after hours: the on-call person, screened ---------------------------------------------------------

def test_after_hours_call_rings_the_on_call_cell_with_screening_and_press_1_bridges_it(line):
    call = line.call()

    assert call.ringing == {"number": AISHA, "caller_id": LINE, "timeout": "20", "machine_detection": "Enable",
                            "url": call.ringing["url"], "action": call.ringing["action"]}
    call.answer()
    assert call.screen_heard == [SCREEN, SCREEN]
    assert call.state == "screening"  # the caller is not connected before the keypress
    call.press("1")
    assert call.state == "bridged"

    [page] = line.pages()
    assert page["source"] == "call" and page["state"] == "on_it" and page["holder"]["id"] == "aisha"
    assert page["summary"] == "Call from ••• ••• 0142, taken by Aisha Khan"
    body = line.page(page["id"])
    assert ("on_it", "aisha", "voice") in events(body)
    assert line.tick(60) == 0  # taken live: nothing escalates
    assert line.twilio.sms_to(AISHA) == []
    call.end_call()
    assert call.state == "ended" and len(line.pages()) == 1


def test_no_keypress_is_not_taken_and_the_caller_leaves_a_voicemail(line):
    call = line.call()
    call.answer()
    call.no_keypress()  # her voicemail box, or a pocket: the caller is not swallowed
    assert call.state == "recording"
    assert call.heard[0].startswith("You have reached Customer Support. Nobody could take your call")
    call.leave_message(42, "Hi, this is Sam from ACME, our server is down, please call back.")

    [page] = line.pages()
    assert page["source"] == "voicemail" and page["state"] == "open"
    assert page["summary"] == "Voicemail from ••• ••• 0142, 0:42"
    body = line.page(page["id"])
    assert line.details(page["id"]) == "Hi, this is Sam from ACME, our server is down, please call back."
    assert ("rang", "aisha", "voice") in events(body)
    assert [e["detail"] for e in body["timeline"] if e["event"] == "rang"] == ["rang Aisha Khan: no keypress"]
    text = card_text(line.card(page["id"]))
    assert "Voicemail from ••• ••• 0142, 0:42" in text and "our server is down" in text and "Listen" in text
    assert CUSTOMER not in json.dumps(line.slack.messages())


def test_a_voicemail_box_picking_up_is_hung_up_on_and_never_prompted(line):
    call = line.call()
    call.answer(answered_by="machine_end_beep")
    assert call.screen_heard == []
    assert call.state == "recording"
    call.leave_message(30)
    [page] = line.pages()
    assert [e["detail"] for e in line.page(page["id"])["timeline"] if e["event"] == "rang"] == [
        "rang Aisha Khan: voicemail"]


def test_no_answer_then_voicemail_becomes_a_page_with_transcription_and_a_working_listen_link(line):
    call = line.call()
    call.no_answer()
    call.leave_message(42, "Invoices are not sending", audio=b"ID3-the-message")

    [page] = line.pages()
    assert line.details(page["id"]) == "Invoices are not sending"
    link = listen_link(line.card(page["id"]))
    response = line.client.get(link[len(PUBLIC_URL):])
    assert response.status_code == 200
    assert response.content == b"ID3-the-message" and response.headers["content-type"] == "audio/mpeg"
    # The recording is Twilio's, behind the account's credentials: never public.
    assert requests.get(f"{line.twilio.url}/2010-04-01/Accounts/{line.twilio.account_sid}/Recordings/"
                        f"{call.recording_sid}.mp3", timeout=5).status_code == 401
    assert line.twilio.url not in json.dumps(line.slack.messages())

    line.tick(16)  # the voicemail is on the clock like any page: Aisha is paged
    assert len(line.twilio.sms_to(AISHA)) == 1


def test_an_expired_or_forged_listen_link_is_refused(line):
    call = line.call()
    call.no_answer()
    call.leave_message(20)
    [page] = line.pages()
    link = listen_link(line.card(page["id"]))[len(PUBLIC_URL):]
    path, _, query = link.partition("?")
    forged = link.replace("sig=", "sig=0")
    other_page = link.replace(f"/recordings/{page['id']}?", f"/recordings/{page['id'] + 1}?")
    for bad in (forged, other_page, path, f"{path}?expires=99999999999&sig=abc"):
        assert line.client.get(bad).status_code in (403, 404), bad
    line.clock.advance(timedelta(days=8))  # past phone_line.listen_link_valid_for (7 days)
    assert line.client.get(link).status_code == 403


def test_try_next_rings_the_manager_before_voicemail(make_bot, database_url):
    line = build_line_bot(make_bot, database_url, phone_line={**PHONE_LINE, "try_next": "manager"})
    call = line.call()
    call.no_answer()
    assert call.ringing["number"] == OMAR and call.ringing["caller_id"] == LINE  # Aisha's manager
    call.answer()
    call.press("1")
    [page] = line.pages()
    assert page["holder"]["id"] == "omar" and page["state"] == "on_it"


# -- business hours, gaps, swaps ---------------------------------------------------------------------------

def test_a_call_in_business_hours_is_forwarded_to_the_office(make_bot, database_url):
    line = build_line_bot(make_bot, database_url, at=OFFICE_HOURS)
    call = line.call()
    assert call.ringing["number"] == OFFICE and call.ringing["caller_id"] == LINE
    assert call.ringing["url"] is None  # the office is not screened
    call.no_answer()  # nobody at the desk: the office's voicemail
    assert call.state == "recording"
    assert call.heard == ["You have reached Customer Support. Please leave your name, number and a short message "
                          "after the beep."]


def test_a_call_in_a_rotation_gap_tries_the_approvers_then_voicemail(make_bot, database_url):
    line = build_line_bot(make_bot, database_url, at=MLK_MORNING, **LITERAL_HOLIDAYS)
    call = line.call()
    assert call.ringing["number"] == DANA
    call.no_answer()
    assert call.ringing["number"] == OMAR
    call.no_answer()
    assert call.state == "recording"
    call.leave_message(12)
    [page] = line.pages()
    assert page["responsible"] == "nobody"
    assert [e["detail"] for e in line.page(page["id"])["timeline"] if e["event"] == "rang"] == [
        "rang Dana Whitfield: no answer", "rang Omar Haddad: no answer"]


def test_a_call_during_a_swapped_week_rings_the_swapped_in_person(line):
    week = date(2026, 11, 23)
    apply_override(line.store, line.procedure, RotationOverride(
        week, "aisha", "tom", OverrideKind.HANDOVER, "Aisha is ill", "aisha", None, line.clock.now()),
        line.clock.now())
    call = line.call()
    assert call.ringing["number"] == "+14155550106"  # Tom
    call.answer()
    call.press("1")
    assert line.pages()[0]["holder"]["id"] == "tom"


# -- hang-ups, duplicates, reordering, faults ---------------------------------------------------------------

def test_a_hang_up_at_the_beep_is_a_missed_call_entry(line):
    call = line.call()
    call.no_answer()
    call.hang_up()
    [page] = line.pages()
    assert page["summary"] == "Missed call from ••• ••• 0142" and page["source"] == "call"
    body = line.page(page["id"])
    assert [e["event"] for e in body["timeline"]] == ["rang", "missed_call"]
    assert "without leaving a message (1 s of audio)" in body["timeline"][-1]["detail"]
    assert line.tick(60) == 0 and line.twilio.sms_to(AISHA) == []  # recorded, nobody woken for it


def test_a_hang_up_while_ringing_is_a_missed_call_entry(line):
    call = line.call()
    call.hang_up()
    [page] = line.pages()
    assert page["summary"] == "Missed call from ••• ••• 0142"
    assert "while the line was ringing" in line.page(page["id"])["timeline"][-1]["detail"]


@pytest.mark.parametrize("order", [("transcription", "recording", "action"), ("action", "transcription", "recording"),
                                   ("recording", "action", "transcription")])
def test_duplicate_and_reordered_callbacks_make_one_page_with_one_transcription(line, order):
    call = line.call()
    call.no_answer()
    call.leave_message(42, "Refund stuck for order 5521", order=order, duplicate=True)
    [page] = line.pages()
    body = line.page(page["id"])
    assert line.details(page["id"]) == "Refund stuck for order 5521"
    assert len([e for e in body["timeline"] if e["event"] == "opened"]) == 1
    # Added to the open page once; a transcription that came first is in the page from its start.
    came_first = order.index("transcription") < min(order.index("recording"), order.index("action"))
    assert len([e for e in body["timeline"] if e["event"] == "transcribed"]) == (0 if came_first else 1)
    assert "Refund stuck for order 5521" in card_text(line.card(page["id"]))
    cards = [m for m in line.slack.messages("C01SUPPORT") if m["thread_ts"] is None]
    assert len(cards) == 1


def test_a_failed_transcription_leaves_no_transcription(line):
    call = line.call()
    call.no_answer()
    call.leave_message(42, transcription=None)
    [page] = line.pages()
    assert line.details(page["id"]) == "no transcription"
    assert "no transcription" in card_text(line.card(page["id"]))


def test_a_retried_incoming_webhook_gets_the_same_answer_and_one_call(line):
    call = line.call()
    first = call.responses[0].text
    again = call._post("/twilio/incoming", {"CallStatus": "ringing"})
    assert again.text == first
    call.answer()
    call.press("1")
    assert len(line.pages()) == 1


def test_an_exception_inside_the_handler_answers_valid_twiml_with_the_greeting(line, monkeypatch):
    from oncallbot.services import phone_line

    def broken(*args, **kw):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(phone_line, "answer_call", broken)
    call = line.call()
    assert call.responses[0].status_code == 200
    assert call.state == "recording"
    assert call.heard[0].startswith("You have reached Customer Support.")
    line.container.deliver_now()
    [dana_dm] = line.dms("U01DANA000")
    assert "The office line failed on a call from ••• ••• 0142 (incoming call: RuntimeError: database on fire)" \
        in dana_dm


def test_a_forged_incoming_call_is_refused(line):
    response = line.client.post("/twilio/incoming", data={"CallSid": "CA" + "1" * 32, "From": CUSTOMER, "To": LINE},
                                headers={"X-Twilio-Signature": "forged"})
    assert response.status_code == 403
    assert line.pages() == []


def test_concurrent_repeats_of_the_recording_and_transcription_callbacks_make_one_page(line):
    from oncallbot.services import phone_line

    call = line.call()
    call.no_answer()
    assert call.state == "recording"
    recording_sid = "RE" + "a" * 32
    turn = iter(range(1000))

    def callback():
        now = line.clock.now()
        if next(turn) % 2:
            phone_line.record_recording(line.store, line.procedure, call.sid, recording_sid, 42, now)
        else:
            phone_line.record_transcription(line.store, line.procedure, call.sid, "completed", "Call me back", now)

    assert run_concurrently(callback, 8) == []
    [page] = line.pages()
    body = line.page(page["id"])
    assert line.details(page["id"]) == "Call me back"
    assert len([e for e in body["timeline"] if e["event"] == "opened"]) == 1
    assert len([e for e in body["timeline"] if e["event"] == "transcribed"]) <= 1


def test_a_failure_while_screening_hangs_up_on_the_person_rung_and_the_caller_still_leaves_a_message(
        line, monkeypatch):
    from oncallbot.services import phone_line

    def broken(*args, **kw):
        raise RuntimeError("screening broke")

    monkeypatch.setattr(phone_line, "screen", broken)
    call = line.call()
    call.answer()
    assert call.state == "recording"  # hung up on Aisha's leg; the caller goes on to the greeting
    monkeypatch.undo()
    call.leave_message(20)
    assert [p["source"] for p in line.pages()] == ["voicemail"]
    line.container.deliver_now()
    assert any("(screening: RuntimeError: screening broke)" in dm for dm in line.dms("U01OMAR000"))
