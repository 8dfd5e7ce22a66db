"""Health, and the on-call and paging API (`/api/v1/...`, a bearer token)."""

import hmac
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...bootstrap import Container
from ...domain.watch import Check, process_failing
from ...errors import BadInput
from ...services import paging
from ...services.rotation import who_is_on_call
from ..formatters import oncall_json, page_json, page_list_json
from ..timeparse import parse_instant
from .limits import MAX_PAGE_ID
from .openapi import OPENAPI
from .responses import error

LIST_PARAMETERS = ("state", "limit", "before")


class PageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(min_length=1, max_length=500)
    source: str = Field(min_length=1, max_length=64)
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    details: str | None = Field(default=None, max_length=10_000)


def api_routes(container: Container) -> list[Route]:
    procedure, store, clock = container.procedure, container.store, container.clock
    api_token = container.env.api_token

    def healthz(request: Request) -> JSONResponse:
        """The checks the heartbeat waits for. 503 when the process itself is broken (its database, its
        dispatcher: what a restart may fix); 200 "degraded" when the outbox, the sync or a part such as the
        mailbox is failing: the replica still pages."""
        _, failing = container.health()
        if failing == (Check.DATABASE,):
            return JSONResponse({"error": "database unreachable", "failing": ["database"]}, status_code=503)
        problems = {name: problem for name, check in container.health_checks.items() if (problem := check())}
        if not failing and not problems:
            return JSONResponse({"status": "ok"})
        broken = process_failing(failing)
        body: dict[str, object] = {"status": "failing" if broken else "degraded", **problems}
        if failing:
            body["failing"] = [str(c) for c in failing]
        return JSONResponse(body, status_code=503 if broken else 200)

    rotation = container.rotation

    async def oncall(request: Request) -> JSONResponse:
        # On the event loop, not in a worker thread: the answer comes from memory after a one-row read
        # (tens of microseconds), and the hop to a thread and back cost more than all of it (bench/README.md).
        at_text = request.query_params.get("at")
        try:
            at = parse_instant(at_text, procedure.window.tz) if at_text else clock.now()
        except BadInput as exc:
            return error(400, str(exc))
        report = rotation.who(at) if rotation is not None else who_is_on_call(store, procedure, at)
        return JSONResponse(oncall_json(report, procedure))

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
        body = await request.body()  # at most MAX_BODY_BYTES: BodySizeLimit refuses more while it streams in
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
            page, created = await run_in_threadpool(open_and_send, new, clock.now())
        except BadInput as exc:
            return error(400, str(exc))
        return JSONResponse(page_json(page, procedure), status_code=201 if created else 200)

    def open_and_send(new: paging.NewPage, now: datetime) -> tuple[paging.PageSnapshot, bool]:
        """The page opened, its card sent, and the page read back as it then stands: in one worker thread, as
        each hop between the event loop and a thread waits its turn for the interpreter (bench/README.md)."""
        # Its card claimed for sending in the transaction that opens it: one commit fewer before it is posted.
        page, created, claimed = paging.open_api_page_claiming(store, procedure, new, now, container.slack_pacer)
        if created:
            container.deliver_now(page.id, claimed)
        return paging.get_page(store, page.id), created

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

    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    async def pages(request: Request) -> JSONResponse:
        # One route for both methods, so a 405 names both in its Allow header.
        return await (create_page if request.method == "POST" else list_pages)(request)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/oncall", oncall, methods=["GET"]),
        Route("/api/v1/pages", pages, methods=["GET", "POST"]),
        Route("/api/v1/pages/{page_id}", show_page, methods=["GET"]),
    ]
    if container.metrics is not None:  # server.metrics: true
        metrics = container.metrics

        def scrape(request: Request) -> Response:
            body, content_type = metrics.exposition(request.headers.get("accept", ""))
            return Response(body, media_type=content_type)

        routes.append(Route("/metrics", scrape, methods=["GET"]))
    return routes
