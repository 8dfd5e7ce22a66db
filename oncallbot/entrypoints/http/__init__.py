"""The HTTP server: health, the on-call and paging API, the web view and calendar feeds, and the Slack and Twilio
webhooks, one router each.

Handlers translate and verify (token, signature), then call a service; no rule lives here.
"""

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...bootstrap import Container
from .api import api_routes
from .limits import MAX_BODY_BYTES, SLACK_MAX_BODY_BYTES, BodySizeLimit

if TYPE_CHECKING:
    from ...adapters.slack.bolt import App
    from ...adapters.twilio import TwilioSignatureVerifier

__all__ = ["MAX_BODY_BYTES", "SLACK_MAX_BODY_BYTES", "BodySizeLimit", "create_app"]


def create_app(container: Container, slack_app: "App | None" = None,
               twilio_verifier: "TwilioSignatureVerifier | None" = None) -> Starlette:
    from ..web import web_routes  # the web view and the calendar feeds

    routes = api_routes(container) + web_routes(container)
    if slack_app is not None:  # the Slack and Twilio routers load their SDKs only when they are on
        from .slack import slack_routes

        routes += slack_routes(slack_app, container.env.slack_signing_secret)
    if twilio_verifier is not None:
        from .twilio import twilio_routes

        routes += twilio_routes(container, twilio_verifier)
        if container.procedure.phone_line is not None:
            from .phone_line import phone_line_routes

            routes += phone_line_routes(container, twilio_verifier, container.recordings)
    return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error}, middleware=[
        Middleware(BodySizeLimit, default=MAX_BODY_BYTES, by_prefix={"/slack/": SLACK_MAX_BODY_BYTES})])


async def http_error(request: Request, exc: Exception) -> Response:
    """No such route, or not that method: the same `{"error"}` body as every other refusal (405 with Allow)."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
