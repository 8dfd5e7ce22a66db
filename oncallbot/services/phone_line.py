"""The office line's use cases: answer a call, screen the person rung, take or pass on the call, and turn a
voicemail (or a hang-up) into a page. One transaction each, under the call's row lock, so Twilio's
retried, duplicated or reordered webhooks change a call once: one page per CallSid, one transcription.

The weekly test call goes through the same route: the bot calls its own line, the line rings the on-call
person with the same screening, and their 1 confirms the test page."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain import keys, wording
from ..domain.confirmation import answered
from ..domain.masking import mask_caller
from ..domain.paging import TEST_PAGE_SOURCE, EscalationPlan
from ..domain.phone_line import (
    TAKE_DIGIT,
    CallKind,
    Connect,
    HangUp,
    LineStep,
    PhoneLine,
    Prompt,
    ScreenStep,
    duration_label,
    is_message,
    ring_failure,
    route_call,
    route_from_json,
    route_to_json,
    step_of_call,
    take_message,
    target_at,
)
from ..domain.procedure import Procedure
from ..domain.team import Person
from ..domain.vocabulary import PageEventKind, PageState
from ..errors import BadInput
from ..ports import PageRecord, PhoneCallRecord, Store, StoreTx
from .acknowledgment import acknowledge_locked
from .delivery import notify_approvers
from .intake import open_page_in, responsibility_at
from .pages import NewPage, plan_to_json, queue_card, queue_card_update, queue_thread_line

CALL_SOURCE = "call"  # a call taken live, or missed
VOICEMAIL_SOURCE = "voicemail"
TEST_CALL_WINDOW = timedelta(minutes=30)  # a call from the bot's own number this soon after a test page is its call


@dataclass(frozen=True)
class Outcome:
    """What a callback changed: the page to send the outbox of (None: nothing to send)."""

    page_id: int | None = None


def _line(procedure: Procedure) -> PhoneLine:
    if procedure.phone_line is None:
        raise BadInput("the office line is not configured (phone_line)")
    return procedure.phone_line


def _step(call: PhoneCallRecord, line: PhoneLine) -> LineStep:
    return step_of_call(route_from_json(call.route), call.attempt, call.taken_by is not None,
                        "test" if call.kind == "test" else "customer", line, call.line_number)


def _test_page_calling(tx: StoreTx, now: datetime) -> PageRecord | None:
    """The open weekly test page whose call to the line this is."""
    return next((p for p in tx.pages_listed((PageState.OPEN,), None, 20)
                 if p.source == TEST_PAGE_SOURCE and now - p.created_at <= TEST_CALL_WINDOW), None)


def answer_call(store: Store, procedure: Procedure, call_sid: str, line_number: str, caller: str,
                bot_number: str | None, now: datetime) -> LineStep:
    """A call to the line: ring the person responsible now (as `responsible_at` decides, swaps included),
    forward it in business hours, or take a message. A retried webhook gets the same answer."""
    line = _line(procedure)
    if not call_sid:
        raise BadInput("CallSid is required")
    with store.transaction() as tx:
        existing = tx.phone_call(call_sid, lock=True)
        if existing is not None:
            return _step(existing, line)
        test_page = _test_page_calling(tx, now) if bot_number and caller == bot_number else None
        kind: CallKind = "test" if test_page is not None else "customer"
        responsibility, _ = responsibility_at(tx, procedure, now)
        route = route_call(responsibility, line, procedure.team, kind)
        call = PhoneCallRecord(call_sid[:64], kind, line_number, mask_caller(caller), now,
                               {**route_to_json(route), "rings": []}, 0, None, None, None,
                               test_page.id if test_page else None, None, None, None, None)
        if not tx.add_phone_call(call):  # the same webhook, concurrently
            concurrent = tx.phone_call(call_sid, lock=True)
            assert concurrent is not None
            return _step(concurrent, line)
        if test_page is not None and not route.targets:
            _line_test(tx, test_page.id, test_page.responsible, "nobody on call to ring", now)
        return _step(call, line)


def screen(store: Store, procedure: Procedure, call_sid: str, attempt: int, answered_by: str | None,
           now: datetime) -> ScreenStep:
    """The person rung picked up: ask them to press 1 before the caller is connected. A voicemail box
    (Twilio's answering machine detection on the dialled number) is hung up on at once."""
    with store.transaction() as tx:
        call = tx.phone_call(call_sid, lock=True)
        if call is None or call.attempt != attempt or call.taken_by is not None:
            return HangUp()
        if answered_by and answered(answered_by) == "machine":
            tx.update_phone_call(call.call_sid, ring_failure="voicemail")
            return HangUp()
        return Prompt(wording.screen_prompt(procedure.team.name))


def take_call(store: Store, procedure: Procedure, call_sid: str, attempt: int, digits: str,
              now: datetime) -> tuple[ScreenStep, Outcome]:
    """The screened person's keypress. 1 takes the call: a customer's becomes a page already On It! by them
    (source call); the test call confirms the week's test page. Anything else hangs up on them, and the
    call goes on to the next person or the voicemail."""
    with store.transaction() as tx:
        call = tx.phone_call(call_sid, lock=True)
        if call is None:
            return HangUp(), Outcome()
        target = target_at(route_from_json(call.route), attempt)
        if call.taken_by is not None:  # a repeat of the keypress that took it
            return (Connect() if call.kind == "customer" else HangUp(wording.test_call_confirmed())), Outcome()
        if target is None or call.attempt != attempt:
            return HangUp(), Outcome()
        if digits.strip() != TAKE_DIGIT:
            tx.update_phone_call(call.call_sid, ring_failure="no keypress")
            return HangUp(), Outcome()
        person = procedure.team.person(target.person_id)
        if person is None:
            return HangUp(), Outcome()
        tx.update_phone_call(call.call_sid, taken_by=person.id)
        if call.kind == "test" and call.test_page_id is not None:
            page = tx.page(call.test_page_id, lock=True)
            if page is not None:
                _line_test(tx, page.id, person.id, "pressed 1", now)
                acknowledge_locked(tx, procedure, page, person, "on_it", "voice", now)
            return HangUp(wording.test_call_confirmed()), Outcome(call.test_page_id)
        page = _open_taken_call(tx, procedure, call, person, now)
        return Connect(), Outcome(page.id)


def ring_ended(store: Store, procedure: Procedure, call_sid: str, attempt: int, dial_status: str,
               caller_gone: bool, now: datetime) -> tuple[LineStep, Outcome]:
    """The <Dial> of attempt `attempt` ended (Twilio's Dial action). Taken: the call is over. Not taken: the
    next person, or the voicemail; the caller hung up: a missed call."""
    line = _line(procedure)
    with store.transaction() as tx:
        call = tx.phone_call(call_sid, lock=True)
        if call is None:
            return take_message(line, False), Outcome()
        if call.attempt != attempt or call.taken_by is not None:  # a repeat, or a bridged call now over
            return (HangUp() if call.taken_by is not None or caller_gone else _step(call, line)), Outcome()
        route = route_from_json(call.route)
        target = target_at(route, attempt)
        outcome = Outcome()
        if target is not None:
            failure = call.ring_failure or ring_failure(dial_status, None)
            rings = [*call.route.get("rings", []), {"person_id": target.person_id, "failure": failure}]
            tx.update_phone_call(call.call_sid, route={**call.route, "rings": rings})
            if call.kind == "test" and call.test_page_id is not None:
                _line_test(tx, call.test_page_id, target.person_id, failure, now)
                outcome = Outcome(call.test_page_id)
        elif route.forward_to and dial_status == "completed":  # the office took it
            return HangUp(), outcome
        call = tx.update_phone_call(call.call_sid, attempt=attempt + 1, ring_failure=None)
        if caller_gone:
            if call.kind == "customer" and call.page_id is None:
                page = _open_missed_call(tx, procedure, call, wording.missed_call_detail(True, None), now)
                outcome = Outcome(page.id)
            return HangUp(), outcome
        return _step(call, line), outcome


def record_recording(store: Store, procedure: Procedure, call_sid: str, recording_sid: str | None,
                     seconds: int | None, now: datetime) -> Outcome:
    """The voicemail's recording (Twilio's recordingStatusCallback, or the <Record> action): a page on it,
    with the transcription if it came first. Under MIN_MESSAGE_SECONDS of audio: a missed-call page."""
    with store.transaction() as tx:
        call = tx.phone_call(call_sid, lock=True)
        if call is None or call.kind != "customer" or call.page_id is not None:
            return Outcome()  # not ours, or this call's page exists already (a repeat, or the other callback)
        call = tx.update_phone_call(call.call_sid, recording_sid=recording_sid, recording_seconds=seconds)
        if not (recording_sid and is_message(seconds)):
            page = _open_missed_call(tx, procedure, call, wording.missed_call_detail(False, seconds), now)
            return Outcome(page.id)
        details = call.transcription if call.transcription_status == "completed" and call.transcription \
            else wording.NO_TRANSCRIPTION
        page = _open_voicemail(tx, procedure, call, details, now)
        tx.update_phone_call(call.call_sid, page_id=page.id)
        return Outcome(page.id)


def record_transcription(store: Store, procedure: Procedure, call_sid: str, status: str, text: str | None,
                         now: datetime) -> Outcome:
    """Twilio's transcription of the voicemail: once per call, before or after its recording's callback.
    A failed one leaves "no transcription"."""
    ok = status == "completed" and bool(text and text.strip())
    with store.transaction() as tx:
        call = tx.phone_call(call_sid, lock=True)
        if call is None or call.transcription_status is not None:
            return Outcome()
        call = tx.update_phone_call(call.call_sid, transcription_status="completed" if ok else "failed",
                                    transcription=" ".join((text or "").split())[:4000] if ok else None)
        if call.page_id is None:  # the recording's callback has not come yet: it will find this
            return Outcome()
        page = tx.page(call.page_id, lock=True)
        if page is None or page.source != VOICEMAIL_SOURCE:
            return Outcome()
        page = tx.update_page(page.id, details=call.transcription if ok else wording.NO_TRANSCRIPTION)
        tx.add_event(page.id, now, PageEventKind.TRANSCRIBED, None, "voice", "transcribed" if ok else status)
        queue_thread_line(tx, page, keys.transcribed(page.id), now, wording.transcription_line(ok))
        queue_card_update(tx, page, now)
        return Outcome(page.id)


def report_line_failure(store: Store, procedure: Procedure, call_sid: str, caller: str, where: str, error: str,
                        now: datetime) -> None:
    """A webhook failed inside the bot: the caller got the voicemail greeting; the approvers hear of it."""
    with store.transaction() as tx:
        notify_approvers(tx, procedure, keys.line_failure(call_sid or "unknown", where), now,
                         wording.line_failure_text(mask_caller(caller), where, error[:300]))


def recording_of_page(store: Store, page_id: int) -> str | None:
    """The Twilio recording SID of a voicemail page, for its Listen link."""
    with store.reading() as tx:
        call = tx.phone_call_of_page(page_id)
        return call.recording_sid if call is not None else None


# --- the pages a call becomes -------------------------------------------------------------------------

def _open_voicemail(tx: StoreTx, procedure: Procedure, call: PhoneCallRecord, details: str,
                    now: datetime) -> PageRecord:
    """A voicemail goes on the acknowledgment clock like any page, responsible as at the call's start."""
    summary = wording.voicemail_summary(call.caller, duration_label(call.recording_seconds or 0))
    page = open_page_in(tx, procedure, NewPage(summary, VOICEMAIL_SOURCE, details=details), summary, now,
                        arrived_at=call.started_at)
    if page is None:  # no external id: only a failing database refuses it
        raise BadInput("the page could not be stored")
    _add_rings(tx, page.id, call, procedure, now)
    return page


def _open_unescalated(tx: StoreTx, procedure: Procedure, call: PhoneCallRecord, summary: str, details: str | None,
                      now: datetime, taken_by: str | None = None) -> PageRecord:
    """A call taken live (already On It! by whoever took it) or missed (on record, nobody paged about it):
    a page with no escalation steps."""
    _, responsible = responsibility_at(tx, procedure, call.started_at)
    page = tx.add_page(summary=summary, source=CALL_SOURCE, details=details, state="on_it" if taken_by else "open",
                       responsible=taken_by or responsible, created_at=now, deadline_at=now + procedure.ack_window,
                       plan=plan_to_json(EscalationPlan(now, (), procedure.escalation.repeat_every, 0)), fired=0,
                       next_due_at=None)
    if page is None:
        raise BadInput("the page could not be stored")
    _add_rings(tx, page.id, call, procedure, now)
    tx.update_phone_call(call.call_sid, page_id=page.id)
    return page


def _open_taken_call(tx: StoreTx, procedure: Procedure, call: PhoneCallRecord, person: Person,
                     now: datetime) -> PageRecord:
    page = _open_unescalated(tx, procedure, call, wording.call_taken_summary(call.caller, person.name), None, now,
                             taken_by=person.id)
    tx.add_event(page.id, now, PageEventKind.OPENED, person.id, "voice", "taken live on the office line")
    page = tx.update_page(page.id, on_it_by=person.id, on_it_at=now)
    tx.add_event(page.id, now, PageEventKind.ON_IT, person.id, "voice", "pressed 1 and took the call")
    queue_card(tx, page, now)
    queue_thread_line(tx, page, keys.acknowledged(page.id, "on_it"), now,
                      wording.ack_line("on_it", person.name, f"{now.astimezone(procedure.window.tz):%H:%M}", "voice"))
    return page


def _open_missed_call(tx: StoreTx, procedure: Procedure, call: PhoneCallRecord, detail: str,
                      now: datetime) -> PageRecord:
    page = _open_unescalated(tx, procedure, call, wording.missed_call_summary(call.caller), detail, now)
    tx.add_event(page.id, now, PageEventKind.MISSED_CALL, None, "voice", detail)
    queue_card(tx, page, now)
    queue_thread_line(tx, page, keys.missed_call(page.id), now, f"Missed call: {detail}.")
    return page


def _add_rings(tx: StoreTx, page_id: int, call: PhoneCallRecord, procedure: Procedure, now: datetime) -> None:
    for ring in call.route.get("rings", []):
        person_id = str(ring.get("person_id"))
        person = procedure.team.person(person_id)
        tx.add_event(page_id, now, PageEventKind.RANG, person_id, "voice",
                     wording.rang_detail(person.name if person else person_id, str(ring.get("failure"))))


def _line_test(tx: StoreTx, page_id: int, person_id: str, detail: str, now: datetime) -> None:
    """The weekly test call's result on its page's timeline: "pressed 1", or why not (a RingFailure); the
    approvers' alert names it."""
    tx.add_event(page_id, now, PageEventKind.LINE_TEST, person_id, "voice", detail)
