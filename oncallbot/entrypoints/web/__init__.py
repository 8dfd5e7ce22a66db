"""The managers' web view (`/web/...`) and the calendar feeds (`/feeds/{token}.ics`).

Server-rendered with Jinja2: every page reads without JavaScript; a small vendored script (static/app.js)
only counts the open pages' deadlines down and refreshes their list. Signing in is a one-time link DM'd in
Slack, then a session cookie; every form that changes something carries the session's CSRF token. Handlers
resolve the viewer and call the same services as Slack and the CLI: no rule lives here.
"""

import csv
import hmac
import io
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...adapters.ical.feed import feed_ics
from ...bootstrap import Container
from ...domain import wording
from ...domain.swap_flow import status_line, summary
from ...domain.swaps import SwapRefused
from ...domain.wording import CHANNEL_WORDS, NOTIFY_WORDS
from ...errors import BadInput, NotAuthorized
from ...services import swaps, web_reads
from ...services.contacts import contacts
from ...services.web_access import Viewer, feed_owner, redeem_sign_in, sign_out, viewer_of

SESSION_COOKIE = "oncallbot_session"
NOTICE_COOKIE = "oncallbot_notice"
MAX_FORM_BYTES = 16_384
REFRESH_SECONDS = 5
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # a sign-in link's token never leaves for another site in a Referer
    "Cache-Control": "no-store",
}

Handler = Callable[[Request, Viewer], Awaitable[Response]]


def web_routes(container: Container) -> list[Route | Mount]:
    settings, store, procedure, clock = container.settings, container.store, container.procedure, container.clock
    team, tz = procedure.team, procedure.window.tz
    secure = settings.server.public_url.startswith("https://")
    templates = Environment(loader=PackageLoader("oncallbot.entrypoints.web", "templates"),
                            autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)

    def name(person_id: str | None) -> str:
        if person_id in (None, "nobody"):
            return "nobody"
        if person_id == "office":
            return "the office"
        person = team.person(person_id)
        return person.name if person else str(person_id)

    def local(at: datetime | None, fmt: str = "%a %Y-%m-%d %H:%M") -> str:
        return at.astimezone(tz).strftime(fmt) if at else ""

    def duration(value: timedelta | None) -> str:
        if value is None:
            return "–"
        seconds = int(value.total_seconds())
        if seconds < 3600:
            return f"{seconds // 60}:{seconds % 60:02d}"
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"

    templates.globals.update(
        name=name, local=local, duration=duration, duration_s=lambda seconds: duration(timedelta(seconds=seconds)),
        swap_summary=lambda r: summary(r, team), swap_status=lambda r: status_line(r, team),
        channel_word=lambda c: CHANNEL_WORDS.get(c, c), notify_word=lambda n: NOTIFY_WORDS.get(n, n),
        team_name=team.name, timezone=procedure.window.timezone,
        refresh_seconds=REFRESH_SECONDS)

    def render(request: Request, template: str, viewer: Viewer | None, status: int = 200, **values) -> HTMLResponse:
        notice = unquote(request.cookies.get(NOTICE_COOKIE, "")) or None
        html = templates.get_template(template).render(viewer=viewer, notice=notice, path=request.url.path,
                                                       now=clock.now(), **values)
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if notice:
            response.delete_cookie(NOTICE_COOKIE, path="/web")
        return response

    def message(request: Request, status: int, text: str, viewer: Viewer | None = None) -> HTMLResponse:
        return render(request, "message.html", viewer, status=status, text=text)

    def back(to: str, notice: str) -> RedirectResponse:
        """After a change: the page again (303, so a reload does not repeat it), saying what happened."""
        response = RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(NOTICE_COOKIE, quote(notice), max_age=60, path="/web", httponly=True, samesite="lax",
                            secure=secure)
        return response

    async def current(request: Request) -> Viewer | None:
        return await run_in_threadpool(viewer_of, store, procedure, request.cookies.get(SESSION_COOKIE), clock.now())

    def signed_in(handler: Handler, approvers_only: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            viewer = await current(request)
            if viewer is None:
                return message(request, 401, wording.SIGNED_OUT)
            if approvers_only and not viewer.approver:
                return message(request, 403, wording.APPROVERS_ONLY, viewer)
            return await handler(request, viewer)
        return endpoint

    public_origin = urlsplit(settings.server.public_url)._replace(path="", query="", fragment="").geturl()

    def same_origin(request: Request) -> bool:
        """A browser names the page a form was posted from; one from another site is refused (it could sign a
        victim in as the attacker, whose link it carries). No Origin at all (not a browser): the token decides."""
        origin = request.headers.get("origin")
        return origin is None or origin == public_origin or urlsplit(origin).netloc == request.headers.get("host")

    async def form_of(request: Request, viewer: Viewer) -> dict[str, str] | None:
        """The posted form, when it carries this session's CSRF token; else None."""
        if not same_origin(request):
            return None
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return None
        try:
            fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            return None
        given = fields.get("csrf", "")
        return fields if hmac.compare_digest(given.encode(), viewer.csrf_token.encode()) else None

    def changes(handler: Callable[[Request, Viewer, dict[str, str]], Awaitable[Response]],
                approvers_only: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def with_form(request: Request, viewer: Viewer) -> Response:
            fields = await form_of(request, viewer)
            if fields is None:
                return message(request, 403, wording.CSRF_REFUSED, viewer)
            return await handler(request, viewer, fields)
        return signed_in(with_form, approvers_only)

    # --- signing in and out -------------------------------------------------------------------------

    async def sign_in_form(request: Request) -> Response:
        # A GET only shows the button: link previews and scanners that fetch the link do not use it up.
        token = request.query_params.get("token", "")
        return render(request, "sign_in.html", None, token=token)

    async def sign_in(request: Request) -> Response:
        if not same_origin(request):
            return message(request, 403, wording.CSRF_REFUSED)
        body = await request.body()
        token = parse_qs(body.decode(errors="replace")).get("token", [""])[0] if len(body) <= MAX_FORM_BYTES else ""
        try:
            signed = await run_in_threadpool(redeem_sign_in, store, procedure, token, settings.web.session_expiry,
                                             clock.now())
        except NotAuthorized as exc:
            return message(request, 403, str(exc))
        response = RedirectResponse("/web/rotation", status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(SESSION_COOKIE, signed.token, max_age=int(settings.web.session_expiry.total_seconds()),
                            path="/", httponly=True, samesite="lax", secure=secure)
        return response

    async def sign_out_post(request: Request, viewer: Viewer, fields: dict[str, str]) -> Response:
        await run_in_threadpool(sign_out, store, request.cookies.get(SESSION_COOKIE, ""))
        response = message(request, 200, "You are signed out.")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(request: Request, viewer: Viewer) -> Response:
        return RedirectResponse("/web/rotation", status_code=303, headers=SECURITY_HEADERS)

    # --- rotation ------------------------------------------------------------------------------------

    async def rotation_page(request: Request, viewer: Viewer) -> Response:
        now = clock.now()
        weeks = await run_in_threadpool(web_reads.quarter, store, procedure, viewer.person_id, now)
        others = [w for w in weeks if not w.started and w.person_id and w.person_id != viewer.person_id]
        people = await run_in_threadpool(contacts, store, team) if viewer.approver else None
        return render(request, "rotation.html", viewer, weeks=weeks, others=others, contacts=people)

    async def request_swap(request: Request, viewer: Viewer, fields: dict[str, str]) -> Response:
        mine, theirs = fields.get("week", ""), fields.get("their_week", "")
        now = clock.now()
        owners = await run_in_threadpool(swaps.weeks_of_person, store, procedure, now)
        try:
            counterpart = owners.get(date.fromisoformat(theirs)) if theirs else None
        except ValueError:
            counterpart = None
        if counterpart is None:
            return back("/web/rotation", "Choose the colleague's week to swap with.")
        try:
            outcome = await run_in_threadpool(swaps.request_swap, store, procedure, viewer.person_id, counterpart,
                                              mine, theirs, now, note=fields.get("note", "")[:500], surface="web")
        except SwapRefused as exc:
            return back("/web/rotation", str(exc))
        await run_in_threadpool(container.deliver_now)
        return back("/web/rotation", outcome.message)

    # --- pages ---------------------------------------------------------------------------------------

    async def pages_page(request: Request, viewer: Viewer) -> Response:
        params = request.query_params
        person, source, outcome = (params.get("person") or None, params.get("source") or None,
                                   params.get("outcome") or None)
        now = clock.now()
        try:
            recent = await run_in_threadpool(web_reads.recent_pages, store, now, person, source, outcome)
        except BadInput as exc:
            return message(request, 400, str(exc), viewer)
        open_now = await run_in_threadpool(web_reads.open_pages, store, now)
        return render(request, "pages.html", viewer, open_pages=open_now, recent=recent, people=team.people,
                      outcomes=web_reads.OUTCOMES, chosen={"person": person, "source": source, "outcome": outcome})

    async def open_pages_fragment(request: Request, viewer: Viewer) -> Response:
        open_now = await run_in_threadpool(web_reads.open_pages, store, clock.now())
        return render(request, "_open_pages.html", viewer, open_pages=open_now)

    # --- swaps ---------------------------------------------------------------------------------------

    async def swaps_page(request: Request, viewer: Viewer) -> Response:
        pending, decided = await run_in_threadpool(web_reads.swap_queue, store, procedure, viewer.person_id)
        return render(request, "swaps.html", viewer, pending=pending, decided=decided)

    def decide(verb: str) -> Callable[[Request, Viewer, dict[str, str]], Awaitable[Response]]:
        async def deciding(request: Request, viewer: Viewer, fields: dict[str, str]) -> Response:
            request_id, now = str(request.path_params["request_id"]), clock.now()
            try:
                if verb == "approve":
                    outcome = await run_in_threadpool(swaps.approve, store, procedure, request_id, viewer.person_id,
                                                      now, surface="web")
                else:
                    outcome = await run_in_threadpool(swaps.reject, store, procedure, request_id, viewer.person_id,
                                                      now, fields.get("reason", "")[:500], surface="web")
            except SwapRefused as exc:
                return back("/web/swaps", str(exc))
            await run_in_threadpool(container.deliver_now)
            return back("/web/swaps", f"Request {request_id}: {outcome.message}")
        return deciding

    # --- response ------------------------------------------------------------------------------------

    async def response_page(request: Request, viewer: Viewer) -> Response:
        reports = await run_in_threadpool(web_reads.response_weeks, store, procedure, clock.now())
        by_week = [(r.week_start, {p.responsible: p for p in r.people}) for r in reports]
        series = {who: [(week, people.get(who)) for week, people in by_week]
                  for who in sorted({p.responsible for r in reports for p in r.people})}
        return render(request, "response.html", viewer, reports=reports, series=series, window=procedure.ack_window)

    async def response_csv(request: Request, viewer: Viewer) -> Response:
        reports = await run_in_threadpool(web_reads.response_weeks, store, procedure, clock.now())
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["week_start", "responsible", "name", "pages", "share_within_window",
                         "median_to_on_it_seconds", "p90_to_on_it_seconds", "missed"])

        def seconds(value: timedelta | None) -> str:
            return "" if value is None else str(round(value.total_seconds(), 1))

        for report in reports:
            for person in report.people:
                writer.writerow([report.week_start.isoformat(), person.responsible, name(person.responsible),
                                 person.pages, round(person.share_within_window, 4),
                                 seconds(person.median_to_on_it), seconds(person.p90_to_on_it), person.missed])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            **SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="oncall-response.csv"'})

    # --- calendar feeds ------------------------------------------------------------------------------

    async def feed(request: Request) -> Response:
        token = request.path_params["token"]
        owner = await run_in_threadpool(feed_owner, store, procedure, token)
        if owner is None:
            return Response("unknown or revoked calendar feed\n", status_code=404, media_type="text/plain")
        person_id, scope = owner
        now = clock.now()
        weeks = await run_in_threadpool(web_reads.feed, store, procedure, person_id, scope, now)
        title = f"{team.name} on call" + ("" if scope == "team" else f": {name(person_id)}")
        return Response(feed_ics(weeks, title, procedure.window.timezone, now), media_type="text/calendar",
                        headers={"Cache-Control": "no-store", "Content-Disposition": 'inline; filename="oncall.ics"'})

    return [
        Route("/web/sign-in", sign_in_form, methods=["GET"]),
        Route("/web/sign-in", sign_in, methods=["POST"]),
        Route("/web/sign-out", changes(sign_out_post), methods=["POST"]),
        Route("/web", signed_in(home), methods=["GET"]),
        Route("/web/rotation", signed_in(rotation_page), methods=["GET"]),
        Route("/web/swaps/request", changes(request_swap), methods=["POST"]),
        Route("/web/pages", signed_in(pages_page), methods=["GET"]),
        Route("/web/pages/open", signed_in(open_pages_fragment), methods=["GET"]),
        Route("/web/swaps", signed_in(swaps_page, approvers_only=True), methods=["GET"]),
        Route("/web/swaps/{request_id:int}/approve", changes(decide("approve"), approvers_only=True),
              methods=["POST"]),
        Route("/web/swaps/{request_id:int}/reject", changes(decide("reject"), approvers_only=True), methods=["POST"]),
        Route("/web/response", signed_in(response_page), methods=["GET"]),
        Route("/web/response.csv", signed_in(response_csv), methods=["GET"]),
        Route("/feeds/{token}.ics", feed, methods=["GET"]),
        Mount("/web/static", StaticFiles(directory=STATIC), name="static"),
    ]
