"""The bolt glue, the one module that imports slack_bolt: the App and its middleware (skip Slack's retries of
handled events, resolve the Slack user to a team member, answer strangers), the `/slack/events` request
handling (framework-free: the HTTP entry point translates its own request and response), and Socket Mode.

Listeners get the caller as `context["person"]` (a `Person`, or None for someone not on the team).

Slack's answer means "committed": the App runs with `process_before_response=True`, so bolt answers the HTTP
request (or acknowledges the Socket Mode envelope) only when the listener has returned, and a listener's body is
the use case's transaction. A request that dies or fails before its commit gets no 200: Slack retries an event
(the event id is recorded as handled in that same transaction, so a retry of one that committed is skipped),
and a user whose click got an error clicks again. What answers the user through Slack's Web API (an ephemeral
reply, `respond`, a modal, a DM) and the page's sends go through `answer_later`: on bolt's listener pool after
the answer, so Slack's 3 seconds never wait for a Web API call.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_bolt import Ack, App, BoltContext, BoltRequest, BoltResponse, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.request.payload_utils import (
    is_action,
    is_app_home_opened_event,
    is_slash_command,
    is_view_submission,
    to_action,
    to_command,
    to_event,
    to_message,
    to_options,
    to_shortcut,
    to_step,
    to_view,
)
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from ...domain import keys
from ...domain.team import Person, Team
from ...logs import log_event
from .blocks import home_view

__all__ = ["Ack", "App", "BoltContext", "HttpAnswer", "HttpEndpoint", "Person", "Respond", "WebClient",
           "answer_later", "connect_socket_mode", "create_app", "members_only", "person_of", "stranger_text"]

log = logging.getLogger("oncallbot.http")  # these checks were the HTTP server's: their log lines keep its name
Next = Callable[[], BoltResponse]


def stranger_text(team: Team) -> str:
    return (f"Sorry, this bot serves the {team.name} on-call team and you are not on it. "
            "Ask a manager to add you if you should be.")


def person_of(context: BoltContext) -> Person | None:
    """The team member `resolve_person` found for this request, or None."""
    person = context.get("person")
    return person if isinstance(person, Person) else None


def create_app(client: WebClient, signing_secret: str | None, team: Team,
               already_handled: Callable[[str], bool]) -> App:
    """A bolt App with our global middleware. `already_handled(key)` says whether an inbound event id was
    handled (the inbound service's record)."""
    app = App(client=client, signing_secret=signing_secret, token_verification_enabled=False,
              request_verification_enabled=signing_secret is not None,
              process_before_response=True)  # the answer after the commit: see the module's docstring

    @app.middleware
    def skip_handled_retries(req: BoltRequest, next: Next) -> BoltResponse:
        # Bolt does not dedupe; Slack retries an event it thinks we missed (X-Slack-Retry-Num).
        retries = req.headers.get("x-slack-retry-num") or []
        event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
        if retries and retries[0] and isinstance(event_id, str) and already_handled(keys.slack_event(event_id)):
            return BoltResponse(status=200, body="")
        return next()

    @app.middleware
    def provide_answer_later(req: BoltRequest, context: BoltContext, next: Next) -> BoltResponse:
        context[ANSWER_LATER] = lambda answer: after_ack(app, req, answer)
        return next()

    @app.middleware
    def resolve_person(context: BoltContext, next: Next) -> BoltResponse:
        # Once per request: every listener reads the caller from the context.
        context["person"] = team.by_slack_id(context.user_id or "")
        return next()

    return app


ListenerMiddleware = Callable[..., BoltResponse | None]


def members_only(app: App, team: Team) -> ListenerMiddleware:
    """Listener middleware for what only team members may do: a stranger gets the refusal, once, in the way
    the surface answers (a slash command's reply, an ephemeral message for a button, an error on the modal's
    field, a Home tab that says so), and the listener never runs. Messages in the support channel do not use
    it: a ticket comes from anyone, and a thread reply refuses a stranger only when it is an acknowledgment."""
    refusal = stranger_text(team)

    def refuse_strangers(req: BoltRequest, context: BoltContext, body: dict[str, Any], next: Next) -> BoltResponse:
        if person_of(context) is not None:
            return next()
        if is_slash_command(body):
            return BoltResponse(status=200, body={"text": refusal, "response_type": "ephemeral"})
        if is_view_submission(body):
            state = body["view"].get("state")
            values = state.get("values") if isinstance(state, dict) else None
            fields = list(values) if isinstance(values, dict) else []  # the input blocks, by block id
            if fields:
                return BoltResponse(status=200, body={"response_action": "errors", "errors": {fields[0]: refusal}})
        elif is_action(body) and context.respond is not None:
            respond = context.respond
            after_ack(app, req, lambda: respond(text=refusal, response_type="ephemeral", replace_original=False))
        elif is_app_home_opened_event(body) and context.user_id:
            user_id, client = context.user_id, context.client
            after_ack(app, req, lambda: client.views_publish(user_id=user_id, view=home_view([refusal])))
        return BoltResponse(status=200, body="")

    return refuse_strangers


ANSWER_LATER = "oncallbot_answer_later"  # the context's key of `after_ack` bound to the request


def answer_later(context: BoltContext, answer: Callable[[], object]) -> None:
    """Run `answer` (a Web API call to the user, the page's sends) after Slack has its response: a listener
    commits first and answers the user through this."""
    schedule: Callable[[Callable[[], object]], None] = context[ANSWER_LATER]  # set by create_app's middleware
    schedule(answer)


def after_ack(app: App, req: BoltRequest, answer: Callable[[], object]) -> None:
    """Run `answer` on bolt's listener pool, with its error handler, not in the request's thread: bolt sends
    the response when the listener returns, and Slack's 3 seconds never wait for our Web API call."""
    runner = app.listener_runner

    def run() -> None:
        try:
            answer()
        except Exception as error:
            runner.listener_error_handler.handle(error=error, request=req, response=None)

    runner.listener_executor.submit(run)


# --- HTTP ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    refusal: str | None = None  # set when we refused the request before bolt saw it: the reason, for the caller


# The parts bolt takes out of every payload for its middleware's arguments, indexing without checks (a
# view_submission whose view has no `type` raised KeyError inside bolt: a 500).
PAYLOAD_PARTS = (to_options, to_shortcut, to_action, to_view, to_command, to_event, to_message, to_step)


def readable_by_bolt(body: object) -> bool:
    """Whether the fields bolt's matchers index without checking are, where present, of the types it assumes
    (Slack always sends them so; a signed request of another shape would otherwise be a 500 inside bolt)."""
    if not isinstance(body, dict):
        return False
    if any(key in body and not isinstance(body[key], str) for key in ("type", "callback_id", "command", "action_id")):
        return False
    if "event" in body:
        event = body["event"]
        if not isinstance(event, dict) or not isinstance(event.get("type"), str) or any(
                key in event and not isinstance(event[key], str) for key in ("subtype", "callback_id")):
            return False
    if "view" in body:
        view = body["view"]
        # App Home views in a block_actions payload may come without a callback_id; bolt only needs it a string.
        if not isinstance(view, dict) or not isinstance(view.get("type"), str) or (
                "callback_id" in view and not isinstance(view["callback_id"], str)):
            return False
    if "actions" in body:
        actions = body["actions"]
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return False
        if body.get("type") == "block_actions" and not all(isinstance(a.get("action_id"), str) for a in actions):
            return False
    return True


class HttpEndpoint:
    """`POST /slack/events`: checks what bolt would fail on, then dispatches to the App."""

    def __init__(self, app: App, signing_secret: str | None):
        self.app = app
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def signed_by_slack(self, text: str, headers: Mapping[str, Sequence[str]]) -> bool:
        def first(name: str) -> str | None:
            values = headers.get(name)
            return values[0] if values else None

        try:  # the timestamp must be a number; slack_sdk's check raises on anything else
            return self.verifier is not None and self.verifier.is_valid(
                text, first("x-slack-request-timestamp"), first("x-slack-signature"))
        except ValueError:
            return False

    def handle(self, body: bytes, headers: Mapping[str, Sequence[str]], query: str) -> HttpAnswer:
        """`headers` by lower-case name. Checked here before bolt sees the request: bolt raises (a 500) on a body
        that is not UTF-8 or a timestamp that is not a number, and logs the whole body of every request it
        refuses. Bolt checks the signature again."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return HttpAnswer(400, refusal="body is not UTF-8")
        if not self.signed_by_slack(text, headers):
            log_event(log, "rejected a Slack request with a bad signature or timestamp", level=logging.WARNING)
            return HttpAnswer(401, refusal="invalid request")
        try:
            request = BoltRequest(body=text, query=query, headers={k: list(v) for k, v in headers.items()})
            if not readable_by_bolt(request.body):
                raise ValueError("a payload of a shape bolt cannot read")
            for extract in PAYLOAD_PARTS:  # what bolt reads of every request before any listener: a 500 if absent
                extract(request.body)
        except Exception:  # it only parses: invalid or too deeply nested JSON, a payload of the wrong shape
            log_event(log, "rejected a signed Slack request that does not parse", level=logging.WARNING)
            return HttpAnswer(400, refusal="malformed Slack request")
        response = self.app.dispatch(request)
        return HttpAnswer(response.status, response.body, response.first_headers_without_set_cookie())


# --- Socket Mode -----------------------------------------------------------------------------------------

class Connection(Protocol):
    def close(self) -> None: ...


def connect_socket_mode(app: App, app_token: str) -> Connection:
    handler = SocketModeHandler(app, app_token)
    handler.connect()
    return handler
