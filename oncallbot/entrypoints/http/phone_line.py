"""The office line's webhooks (Twilio's incoming call, the screening of the person rung, the end of each
ring, the voicemail's recording and transcription), each signed by Twilio, and the "Listen" endpoint that
plays a voicemail to whoever holds its signed, expiring link.

Every TwiML answer is valid TwiML, whatever fails inside: a 500 would make the caller hear "an application
error has occurred". The fallback is the voicemail greeting, and the approvers hear of the failure."""

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...adapters.twilio import TwilioRecordings, TwilioSignatureVerifier
from ...adapters.twilio.twiml import (
    connect_twiml,
    forward_twiml,
    hang_up_twiml,
    ring_twiml,
    screen_twiml,
    take_message_twiml,
)
from ...bootstrap import Container
from ...domain import links, wording
from ...domain.masking import mask_caller
from ...domain.phone_line import (
    Connect,
    Forward,
    LineStep,
    Prompt,
    Ring,
    ScreenStep,
    TakeMessage,
    take_message,
)
from ...errors import BadInput, IntegrationError
from ...logs import log_event
from ...services import phone_line
from .limits import MAX_PAGE_ID
from .twilio import read_verified_form

log = logging.getLogger("oncallbot.http")

INCOMING = "/twilio/incoming"


def phone_line_routes(container: Container, verifier: TwilioSignatureVerifier,
                      recordings: TwilioRecordings | None) -> list[Route]:
    procedure, store, clock = container.procedure, container.store, container.clock
    line = procedure.phone_line
    assert line is not None  # these routes exist only with phone_line configured
    public_url = container.settings.server.public_url.rstrip("/")
    bot_number, link_secret = container.env.twilio_from_number, container.env.link_secret

    def url(path: str, **query: str | int) -> str:
        return public_url + path + (f"?{urlencode(query)}" if query else "")

    def voicemail(step: TakeMessage) -> str:
        return take_message_twiml(step.greeting, step.greeting_url, step.max_seconds, step.transcribe,
                                  url(f"{INCOMING}/recorded"), url(f"{INCOMING}/recording"),
                                  url(f"{INCOMING}/transcription"))

    def render(step: LineStep, call_sid: str) -> str:
        if isinstance(step, Ring):
            return ring_twiml(step.target.number, step.caller_id, step.seconds,
                              url(f"{INCOMING}/screen", call=call_sid, attempt=step.attempt),
                              url(f"{INCOMING}/dialed", attempt=step.attempt))
        if isinstance(step, Forward):
            return forward_twiml(step.number, step.caller_id, step.seconds, url(f"{INCOMING}/dialed", attempt=0))
        if isinstance(step, TakeMessage):
            return voicemail(step)
        return hang_up_twiml(step.words)

    def render_screen(step: ScreenStep, call_sid: str, attempt: int) -> str:
        if isinstance(step, Prompt):
            return screen_twiml(step.words, url(f"{INCOMING}/screened", call=call_sid, attempt=attempt))
        if isinstance(step, Connect):
            return connect_twiml()
        return hang_up_twiml(step.words)

    def twiml(text: str, page_id: int | None = None) -> Response:
        # The outbox is sent after the answer: the caller is never kept waiting on Slack.
        task = BackgroundTask(container.deliver_now, page_id) if page_id is not None else None
        return Response(text, media_type="text/xml", background=task)

    async def report(form: dict[str, str], where: str, exc: Exception) -> None:
        log_event(log, "the office line failed inside the bot", level=logging.ERROR, where=where,
                  error=f"{type(exc).__name__}: {exc}", caller=mask_caller(form.get("From")))
        try:
            await run_in_threadpool(phone_line.report_line_failure, store, procedure, form.get("CallSid", ""),
                                    form.get("From", ""), where, f"{type(exc).__name__}: {exc}", clock.now())
            await run_in_threadpool(container.deliver_now)
        except Exception as report_exc:  # the report is best effort; the answer to Twilio is not
            log_event(log, "could not report an office line failure", level=logging.ERROR,
                      error=type(report_exc).__name__)

    Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]

    def webhook(where: str, fallback: Callable[[], str] | None) -> Callable[[Handler], Callable]:
        """A Twilio webhook: the signature checked (403), then the handler. Whatever it raises, the approvers
        hear of it and Twilio gets `fallback()`, valid TwiML for whoever is on the line; a callback nobody
        listens to (`fallback` None) gets a 500, so Twilio shows it and may deliver it again."""
        def wrap(handle: Handler) -> Callable:
            async def endpoint(request: Request) -> Response:
                form = await read_verified_form(request, verifier)
                if form is None:
                    return Response("invalid signature", status_code=403)
                try:
                    return await handle(request, form)
                except Exception as exc:
                    await report(form, where, exc)
                    if fallback is None:
                        return Response(f"could not record the {where}", status_code=500)
                    return Response(fallback(), media_type="text/xml")
            return endpoint
        return wrap

    def fallback_voicemail() -> str:
        return voicemail(take_message(line, False))

    def attempt_of(request: Request) -> int:
        value = request.query_params.get("attempt", "")
        if not (value.isascii() and value.isdigit() and len(value) <= 3):
            raise BadInput("attempt is not a number")
        return int(value)

    def seconds(form: dict[str, str]) -> int | None:
        value = form.get("RecordingDuration", "")
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else None

    @webhook("incoming call", fallback_voicemail)
    async def incoming(request: Request, form: dict[str, str]) -> Response:
        call_sid = form.get("CallSid", "")
        step = await run_in_threadpool(phone_line.answer_call, store, procedure, call_sid, form.get("To", ""),
                                       form.get("From", ""), bot_number, clock.now())
        log_event(log, "office line call", caller=mask_caller(form.get("From")), answer=type(step).__name__)
        return twiml(render(step, call_sid))

    # Failing while the person rung is being screened hangs up on them: the ring ends and the call goes on.
    @webhook("screening", hang_up_twiml)
    async def screen(request: Request, form: dict[str, str]) -> Response:
        """The `url` of the dialled <Number>: the person rung hears the prompt (AnsweredBy from detection)."""
        call_sid, attempt = request.query_params.get("call", ""), attempt_of(request)
        step = await run_in_threadpool(phone_line.screen, store, procedure, call_sid, attempt,
                                       form.get("AnsweredBy"), clock.now())
        return twiml(render_screen(step, call_sid, attempt))

    @webhook("keypress", hang_up_twiml)
    async def screened(request: Request, form: dict[str, str]) -> Response:
        call_sid, attempt = request.query_params.get("call", ""), attempt_of(request)
        step, outcome = await run_in_threadpool(phone_line.take_call, store, procedure, call_sid, attempt,
                                                form.get("Digits", ""), clock.now())
        return twiml(render_screen(step, call_sid, attempt), outcome.page_id)

    @webhook("end of a ring", fallback_voicemail)
    async def dialed(request: Request, form: dict[str, str]) -> Response:
        """The <Dial> action: DialCallStatus of the ring that ended; CallStatus completed when the caller left."""
        call_sid = form.get("CallSid", "")
        caller_gone = form.get("CallStatus") in ("completed", "canceled") or form.get("DialCallStatus") == "canceled"
        step, outcome = await run_in_threadpool(phone_line.ring_ended, store, procedure, call_sid, attempt_of(request),
                                                form.get("DialCallStatus", ""), caller_gone, clock.now())
        return twiml(render(step, call_sid), outcome.page_id)

    @webhook("voicemail", lambda: hang_up_twiml(wording.voicemail_goodbye()))
    async def recorded(request: Request, form: dict[str, str]) -> Response:
        """The <Record> action: the message is in (or the caller hung up); thank them and end the call."""
        outcome = await run_in_threadpool(phone_line.record_recording, store, procedure, form.get("CallSid", ""),
                                          form.get("RecordingSid") or None, seconds(form), clock.now())
        return twiml(hang_up_twiml(wording.voicemail_goodbye()), outcome.page_id)

    @webhook("voicemail recording", None)
    async def recording(request: Request, form: dict[str, str]) -> Response:
        """recordingStatusCallback: the recording is complete (RecordingSid, RecordingDuration)."""
        if form.get("RecordingStatus", "completed") != "completed":
            return Response(status_code=204)
        outcome = await run_in_threadpool(phone_line.record_recording, store, procedure, form.get("CallSid", ""),
                                          form.get("RecordingSid") or None, seconds(form), clock.now())
        if outcome.page_id is not None:
            await run_in_threadpool(container.deliver_now, outcome.page_id)
        return Response(status_code=204)

    @webhook("voicemail transcription", None)
    async def transcription(request: Request, form: dict[str, str]) -> Response:
        """transcribeCallback: TranscriptionStatus (completed, failed) and TranscriptionText."""
        outcome = await run_in_threadpool(phone_line.record_transcription, store, procedure,
                                          form.get("CallSid", ""), form.get("TranscriptionStatus", ""),
                                          form.get("TranscriptionText"), clock.now())
        if outcome.page_id is not None:
            await run_in_threadpool(container.deliver_now, outcome.page_id)
        return Response(status_code=204)

    async def listen(request: Request) -> Response:
        """A voicemail's recording, streamed from Twilio, for a signed link that has not expired."""
        page_param = request.path_params["page_id"]
        if not (page_param.isascii() and page_param.isdigit() and len(page_param) <= 12
                and 0 < int(page_param) <= MAX_PAGE_ID):
            return Response("no such recording", status_code=404)
        page_id = int(page_param)
        if not link_secret or not links.verify(link_secret, links.recording_subject(page_id),
                                               request.query_params.get("expires", ""),
                                               request.query_params.get("sig", ""), clock.now()):
            return Response("this link is not valid, or has expired: open the page's card in Slack again",
                            status_code=403)
        recording_sid = await run_in_threadpool(phone_line.recording_of_page, store, page_id)
        if recording_sid is None:
            return Response("no such recording", status_code=404)
        if recordings is None:
            return Response("Twilio is not configured", status_code=503)
        try:
            media_type, chunks = await run_in_threadpool(recordings.open, recording_sid)
        except (IntegrationError, BadInput) as exc:
            log_event(log, "could not fetch a recording", level=logging.WARNING, page=page_id, error=str(exc))
            return Response("the recording could not be fetched from Twilio", status_code=502)
        return StreamingResponse(chunks, media_type=media_type,
                                 headers={"Cache-Control": "no-store", "Content-Disposition":
                                          f'inline; filename="voicemail-{page_id}.mp3"'})

    return [Route(INCOMING, incoming, methods=["POST"]), Route(f"{INCOMING}/screen", screen, methods=["POST"]),
            Route(f"{INCOMING}/screened", screened, methods=["POST"]),
            Route(f"{INCOMING}/dialed", dialed, methods=["POST"]),
            Route(f"{INCOMING}/recorded", recorded, methods=["POST"]),
            Route(f"{INCOMING}/recording", recording, methods=["POST"]),
            Route(f"{INCOMING}/transcription", transcription, methods=["POST"]),
            Route("/recordings/{page_id}", listen, methods=["GET"])]
