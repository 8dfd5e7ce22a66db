"""The HTTP server: health, the on-call API, and (when configured) Slack and Twilio webhooks."""

from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..bootstrap import Container
from ..errors import BadInput
from ..services.rotation import who_is_on_call
from .timeparse import parse_instant
from .views import oncall_json


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(container: Container, extra_routes: list[Route] = ()) -> Starlette:
    procedure = container.procedure

    def healthz(request: Request) -> JSONResponse:
        try:
            with container.store.transaction() as tx:
                tx.sync_state("")
        except Exception:
            return error(503, "database unreachable")
        return JSONResponse({"status": "ok"})

    def oncall(request: Request) -> JSONResponse:
        at_text = request.query_params.get("at")
        try:
            at = parse_instant(at_text, procedure.window.tz) if at_text else container.clock.now()
        except BadInput as exc:
            return error(400, str(exc))
        report = who_is_on_call(container.store, procedure, at)
        return JSONResponse(oncall_json(report, procedure))

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/oncall", oncall, methods=["GET"]),
        *extra_routes,
    ]
    return Starlette(routes=routes)
