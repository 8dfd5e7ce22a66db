"""Twilio's webhooks: SMS replies, call keypresses, delivery status and answering machine detection (who
picked up a page call), each signed by Twilio."""

import logging
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...adapters.twilio import TwilioSignatureVerifier, gather_reply_twiml, sms_reply_twiml
from ...bootstrap import Container
from ...domain import keys
from ...domain.paging import parse_ack_text
from ...errors import BadInput, NotAuthorized
from ...logs import log_event, mask
from ...services import contacts, paging
from ...services.delivery import record_answered_by, record_delivery_status
from .limits import MAX_PAGE_ID

log = logging.getLogger("oncallbot.http")


async def read_verified_form(request: Request, verifier: TwilioSignatureVerifier) -> dict[str, str] | None:
    """The form Twilio posted, when its X-Twilio-Signature is right for our public URL; else None."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not verifier.is_valid(path, form, request.headers.get("x-twilio-signature")):
        log_event(log, "rejected a Twilio request with a bad signature", level=logging.WARNING, path=request.url.path)
        return None
    return form


def twilio_routes(container: Container, verifier: TwilioSignatureVerifier) -> list[Route]:
    procedure, store, clock = container.procedure, container.store, container.clock

    async def verified_form(request: Request) -> dict[str, str] | None:
        return await read_verified_form(request, verifier)

    def twiml(text: str) -> Response:
        return Response(text, media_type="text/xml")

    def forbidden() -> Response:
        return Response("invalid signature", status_code=403)

    async def sms(request: Request) -> Response:
        form = await verified_form(request)
        if form is None:
            return forbidden()
        sender, sid = form.get("From", ""), form.get("MessageSid", "")
        # Recorded as handled by the use case, in the transaction of what the reply changes: a request that
        # dies before that commit leaves no record, so Twilio's retry is applied; a repeat of one that
        # committed changes nothing and is answered with nothing.
        key = keys.twilio_sms(sid) if sid else None
        # A code from a number waiting for one verifies it; it is never read as an acknowledgment.
        verification = await run_in_threadpool(contacts.verify_by_sms, store, procedure, sender, form.get("Body", ""),
                                               clock.now(), key)
        if verification is not None:
            log_event(log, "phone verification reply", outcome=verification.outcome.value)
            await run_in_threadpool(container.deliver_now)  # a new code, when the old one expired
            return twiml(sms_reply_twiml(verification.message))
        try:
            result = await run_in_threadpool(paging.acknowledge_phone_reply, store, procedure, sender,
                                             form.get("Body", ""), clock.now(), key)
        except NotAuthorized:
            log_event(log, "ignored an SMS from a number not on the team", level=logging.WARNING, sender=mask(sender))
            return twiml(sms_reply_twiml(None))
        for page in result.pages:
            await run_in_threadpool(container.deliver_now, page.id)
        return twiml(sms_reply_twiml(result.message))

    async def voice(request: Request) -> Response:
        form = await verified_form(request)
        if form is None:
            return forbidden()
        page_param = request.query_params.get("page", "")
        # We built this URL: a page that is not a number in the ids' range is not a keypress of ours.
        if not (page_param.isascii() and page_param.isdigit() and len(page_param) <= 12
                and 0 < int(page_param) <= MAX_PAGE_ID):
            log_event(log, "refused a Twilio voice callback without a valid page", level=logging.WARNING)
            return Response("no valid page in the callback URL", status_code=400)
        page_id = int(page_param)
        callee = form.get("To") or form.get("Called", "")
        person = procedure.team.by_phone(callee)
        if person is None:
            log_event(log, "ignored a keypress from a number not on the team", level=logging.WARNING,
                      number=mask(callee))
            return twiml(gather_reply_twiml("This number is not on the on-call team. Goodbye."))
        kind = parse_ack_text(form.get("Digits", ""), "voice")
        if kind is None:
            return twiml(gather_reply_twiml("No acknowledgment recorded. The page is still open."))
        try:
            result = await run_in_threadpool(paging.acknowledge_page, store, procedure, page_id, person.id,
                                             kind, "voice", clock.now())
        except BadInput:
            return twiml(gather_reply_twiml("That page no longer exists."))
        if result.accepted:
            await run_in_threadpool(container.deliver_now, page_id)
        return twiml(gather_reply_twiml(result.message))

    async def status(request: Request) -> Response:
        form = await verified_form(request)
        if form is None:
            return forbidden()
        sid = form.get("MessageSid") or form.get("CallSid") or ""
        state = form.get("MessageStatus") or form.get("CallStatus") or ""
        # Idempotent by itself (a row already failed is not failed again), so a repeat does nothing, and a
        # callback that beats our own record of the send is not remembered as handled.
        queued = await run_in_threadpool(record_delivery_status, store, procedure, sid, state,
                                         form.get("ErrorCode"), clock.now())
        if form.get("CallSid") and form.get("AnsweredBy"):  # a status callback may carry the AMD result too
            queued = await run_in_threadpool(record_answered_by, store, procedure, form["CallSid"],
                                             form["AnsweredBy"], clock.now()) or queued
        if queued:
            await run_in_threadpool(container.deliver_now)
        return Response(status_code=204)

    async def amd(request: Request) -> Response:
        """AsyncAmdStatusCallback: CallSid, AnsweredBy (human, machine_start, machine_end_beep, ...,
        fax, unknown) and MachineDetectionDuration."""
        form = await verified_form(request)
        if form is None:
            return forbidden()
        sid, answered_by = form.get("CallSid", ""), form.get("AnsweredBy", "")
        if not sid or not answered_by:
            return Response("CallSid and AnsweredBy are required", status_code=400)
        if await run_in_threadpool(record_answered_by, store, procedure, sid, answered_by, clock.now()):
            await run_in_threadpool(container.deliver_now)
        return Response(status_code=204)

    return [Route("/twilio/sms", sms, methods=["POST"]), Route("/twilio/voice", voice, methods=["POST"]),
            Route("/twilio/status", status, methods=["POST"]), Route("/twilio/amd", amd, methods=["POST"])]
