"""`POST /slack/events`: Starlette in and out; the checks and the dispatch are the Slack adapter's."""

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...adapters.slack.bolt import App, HttpEndpoint
from .responses import error


def slack_routes(slack_app: App, signing_secret: str | None) -> list[Route]:
    endpoint = HttpEndpoint(slack_app, signing_secret)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        headers = {name: request.headers.getlist(name) for name in request.headers}
        answer = await run_in_threadpool(endpoint.handle, body, headers, request.url.query)
        if answer.refusal is not None:
            return error(answer.status, answer.refusal)
        return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))

    return [Route("/slack/events", slack_events, methods=["POST"])]
