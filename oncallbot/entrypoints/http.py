"""The HTTP server: health, the on-call and paging API, and the Slack and Twilio webhooks.

Handlers translate and verify (token, signature), then call a service; no rule lives here.
"""

import hmac
import json
import logging
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..bootstrap import Container
from ..domain.paging import parse_ack_text
from ..errors import BadInput, NotAuthorized
from ..logs import log_event, mask
from ..services import inbound, paging
from ..services.delivery import record_delivery_status
from ..services.rotation import who_is_on_call
from .timeparse import parse_instant
from .views import oncall_json, page_json, page_list_json

log = logging.getLogger("oncallbot.http")
MAX_BODY_BYTES = 64 * 1024  # the API's pages and Twilio's forms are a few kilobytes
SLACK_MAX_BODY_BYTES = 1024 * 1024  # Slack's events and interaction payloads carry whole messages and views
MAX_PAGE_ID = 2**31 - 1  # pages.id is a 32-bit integer column
LIST_PARAMETERS = ("state", "limit", "before")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuses a request body over its path's limit with 413 while it streams in, counting the bytes (a chunked
    body declares no length), so no handler reads on past the limit."""

    def __init__(self, app, default: int, by_prefix: dict[str, int]):
        self.app, self.default, self.by_prefix = app, default, by_prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = next((n for prefix, n in self.by_prefix.items() if scope["path"].startswith(prefix)), self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await self.refuse(limit, scope, receive, send)
        received, responded = 0, False

        async def counted_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
            return message

        async def watched_send(message):
            nonlocal responded
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if responded:
                raise
            await self.refuse(limit, scope, receive, send)

    @staticmethod
    async def refuse(limit: int, scope, receive, send) -> None:
        # The unread rest of the body is the server's to discard; the connection stays usable.
        await error(413, f"body larger than {limit} bytes")(scope, receive, send)


class PageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(min_length=1, max_length=500)
    source: str = Field(min_length=1, max_length=64)
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    details: str | None = Field(default=None, max_length=10_000)


def create_app(container: Container, slack_app=None, twilio_verifier=None) -> Starlette:
    procedure, store, clock = container.procedure, container.store, container.clock
    api_token = container.env.api_token

    def healthz(request: Request) -> JSONResponse:
        try:
            with store.transaction() as tx:
                tx.seen("healthz")
        except Exception:
            return error(503, "database unreachable")
        return JSONResponse({"status": "ok"})

    def oncall(request: Request) -> JSONResponse:
        at_text = request.query_params.get("at")
        try:
            at = parse_instant(at_text, procedure.window.tz) if at_text else clock.now()
        except BadInput as exc:
            return error(400, str(exc))
        return JSONResponse(oncall_json(who_is_on_call(store, procedure, at), procedure))

    def authorized(request: Request) -> JSONResponse | None:
        if not api_token:
            return error(503, "the paging API is disabled: set ONCALLBOT_API_TOKEN")
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].encode(), api_token.encode()):
            return error(401, "missing or wrong bearer token")
        return None

    async def create_page(request: Request) -> JSONResponse:
        if refusal := authorized(request):
            return refusal
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            data = PageRequest.model_validate(json.loads(body or b"null"))
        except (json.JSONDecodeError, UnicodeDecodeError):  # json.loads decodes bytes itself
            return error(400, "body is not JSON")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return error(400, problems)
        new = paging.NewPage(summary=data.summary, source=data.source, external_id=data.external_id,
                             details=data.details)
        try:
            page, created = await run_in_threadpool(paging.open_api_page, store, procedure, new, clock.now())
        except BadInput as exc:
            return error(400, str(exc))
        if created:
            await run_in_threadpool(container.deliver_now, page.id)
            page = await run_in_threadpool(paging.get_page, store, page.id)
        return JSONResponse(page_json(page, procedure), status_code=201 if created else 200)

    async def show_page(request: Request) -> JSONResponse:
        if refusal := authorized(request):
            return refusal
        try:
            page_id = int(request.path_params["page_id"])
            if not 0 < page_id <= MAX_PAGE_ID:  # SQLite cannot even bind a larger integer
                raise BadInput("out of range")
            page = await run_in_threadpool(paging.get_page, store, page_id)
        except (ValueError, BadInput):
            return error(404, f"no page {request.path_params['page_id']}")
        return JSONResponse(page_json(page, procedure))

    async def list_pages(request: Request) -> JSONResponse:
        if refusal := authorized(request):
            return refusal
        params = request.query_params
        for name in params:
            if name not in LIST_PARAMETERS:
                return error(400, f"unknown parameter {name} (use {', '.join(LIST_PARAMETERS)})")
        numbers = {}
        for name in ("limit", "before"):
            if name in params:
                try:
                    numbers[name] = int(params[name])
                except ValueError:
                    return error(400, f'{name} "{params[name]}" is not a whole number')
        state = params.get("state")
        try:
            listing = await run_in_threadpool(paging.list_pages, store, clock.now(), state,
                                              numbers.get("limit", paging.LIST_LIMIT), numbers.get("before"))
        except BadInput as exc:
            return error(400, str(exc))
        return JSONResponse(page_list_json(listing, procedure, state))

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/oncall", oncall, methods=["GET"]),
        Route("/api/v1/pages", create_page, methods=["POST"]),
        Route("/api/v1/pages", list_pages, methods=["GET"]),
        Route("/api/v1/pages/{page_id}", show_page, methods=["GET"]),
    ]
    if slack_app is not None:
        routes.append(Route("/slack/events", slack_route(slack_app, container.env.slack_signing_secret),
                            methods=["POST"]))
    if twilio_verifier is not None:
        routes += twilio_routes(container, twilio_verifier)
    return Starlette(routes=routes, middleware=[
        Middleware(BodySizeLimit, default=MAX_BODY_BYTES, by_prefix={"/slack/": SLACK_MAX_BODY_BYTES})])


def slack_route(slack_app, signing_secret: str | None):
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def signed_by_slack(text: str, headers) -> bool:
        try:  # the timestamp must be a number; slack_sdk's check raises on anything else
            return verifier is not None and verifier.is_valid(text, headers.get("x-slack-request-timestamp"),
                                                              headers.get("x-slack-signature"))
        except ValueError:
            return False

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        # Checked here before bolt sees the request: bolt raises (a 500) on a body that is not UTF-8 or a timestamp
        # that is not a number, and logs the whole body of every request it refuses. Bolt checks again.
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return error(400, "body is not UTF-8")
        if not signed_by_slack(text, request.headers):
            log_event(log, "rejected a Slack request with a bad signature or timestamp", level=logging.WARNING)
            return error(401, "invalid request")
        try:
            bolt_request = to_bolt_request(request, body)
        except Exception:  # it only parses: invalid or too deeply nested JSON, a payload of the wrong shape
            log_event(log, "rejected a signed Slack request that does not parse", level=logging.WARNING)
            return error(400, "malformed Slack request")
        response = await run_in_threadpool(slack_app.dispatch, bolt_request)
        return to_starlette_response(response)

    return slack_events


def twilio_routes(container: Container, verifier) -> list[Route]:
    from ..adapters.twilio import gather_reply_twiml, sms_reply_twiml

    procedure, store, clock = container.procedure, container.store, container.clock

    async def verified_form(request: Request) -> dict[str, str] | None:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not verifier.is_valid(path, form, request.headers.get("x-twilio-signature")):
            log_event(log, "rejected a Twilio request with a bad signature", level=logging.WARNING, path=path)
            return None
        return form

    def twiml(text: str) -> Response:
        return Response(text, media_type="text/xml")

    def forbidden() -> Response:
        return Response("invalid signature", status_code=403)

    async def sms(request: Request) -> Response:
        form = await verified_form(request)
        if form is None:
            return forbidden()
        sender = form.get("From", "")
        if not await run_in_threadpool(inbound.record_handled, store, f"twilio-sms:{form.get('MessageSid', '')}",
                                       clock.now()):
            return twiml(sms_reply_twiml(None))
        try:
            result = await run_in_threadpool(paging.acknowledge_phone_reply, store, procedure, sender,
                                             form.get("Body", ""), clock.now())
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
        if await run_in_threadpool(record_delivery_status, store, procedure, sid, state, form.get("ErrorCode"),
                                   clock.now()):
            await run_in_threadpool(container.deliver_now)
        return Response(status_code=204)

    return [Route("/twilio/sms", sms, methods=["POST"]), Route("/twilio/voice", voice, methods=["POST"]),
            Route("/twilio/status", status, methods=["POST"])]
