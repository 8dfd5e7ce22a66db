"""The Slack app: /oncall, App Home, support-channel intake, thread and button acknowledgments.

Listeners translate and call a service; the rules live in the services and the domain.
"""

import logging
from collections.abc import Callable
from pathlib import Path

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from ...domain.paging import ack_hint, parse_ack_text, takes_as_ticket
from ...errors import BadInput, NotAuthorized
from ...logs import log_event
from ...services import inbound, paging
from ...services.rotation import upcoming_shifts, who_is_on_call
from .blocks import (ACTION_DONE, ACTION_ESCALATE, ACTION_NOT_A_TICKET, ACTION_ON_IT, REASON_BLOCK, REASON_INPUT,
                     VIEW_ESCALATE_REASON, escalate_modal, home_view, open_pages_text)

log = logging.getLogger("oncallbot.slack")
INTAKE_SUBTYPES = {None, "bot_message", "file_share"}  # tickets come from people, apps and bots alike
REPLY_SUBTYPES = {None, "file_share", "thread_broadcast"}  # acknowledgments come from people ("also send to channel")


SLACK_PAGES_SHOWN = 20  # `/oncall pages`: one screen; the CLI and the API list the rest
DETAILS_LIMIT = 10_000  # what the paging API accepts as details


def forwarded_email(event: dict) -> tuple[str, str | None] | None:
    """An email forwarded into Slack is a file of filetype "email": its subject ("" if none), and its text."""
    for file in event.get("files") or []:
        if isinstance(file, dict) and file.get("filetype") == "email":
            subject = " ".join(str(file.get("subject") or file.get("title") or file.get("name") or "").split())
            # `preview` is HTML; `plain_text` is the body as text, `preview_plain_text` its beginning.
            body = (file.get("plain_text") or file.get("preview_plain_text") or "").strip()
            return subject, body or None
    return None


def create_bolt_app(container, client: WebClient, signing_secret: str | None, deliver_now: Callable[[int], None],
                    oncall_text: Callable, shift_line: Callable, process_before_response: bool = False) -> App:
    """`deliver_now(page_id)` sends a page's queued notifications at once; `oncall_text`/`shift_line` format rotation."""
    store, procedure, clock = container.store, container.procedure, container.clock
    team = procedure.team
    support_channel = container.settings.slack.support_channel
    intake = container.settings.slack.intake
    procedure_file = Path(container.settings.resolve_path(container.settings.slack.procedure_file))
    app = App(client=client, signing_secret=signing_secret, token_verification_enabled=False,
              request_verification_enabled=signing_secret is not None,
              process_before_response=process_before_response)

    def stranger_text() -> str:
        return (f"Sorry, this bot serves the {team.name} on-call team and you are not on it. "
                "Ask a manager to add you if you should be.")

    @app.middleware
    def skip_handled_retries(req, resp, next):
        # Bolt does not dedupe; Slack retries an event it thinks we missed (X-Slack-Retry-Num).
        retry = (req.headers.get("x-slack-retry-num") or [None])[0]
        event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
        if retry and event_id and inbound.already_handled(store, f"slack:{event_id}"):
            return BoltResponse(status=200, body="")
        return next()

    # --- /oncall ---------------------------------------------------------------------------------

    @app.command("/oncall")
    def oncall_command(ack, command):
        person = team.by_slack_id(command.get("user_id", ""))
        if person is None:
            return ack(text=stranger_text(), response_type="ephemeral")
        argument = (command.get("text") or "").strip().lower()
        now = clock.now()
        if argument == "help":
            return ack(text=procedure_file.read_text(encoding="utf-8") if procedure_file.is_file()
                       else "The team has not written its on-call procedure yet (slack.procedure_file).",
                       response_type="ephemeral")
        if argument == "me":
            return ack(text=my_weeks(person, now), response_type="ephemeral")
        if argument == "pages":
            listing = paging.list_pages(store, now, state="open", limit=SLACK_PAGES_SHOWN)
            return ack(text=open_pages_text(listing, team, procedure.window.tz), response_type="ephemeral")
        if argument:
            return ack(text="Usage: `/oncall` (who is on call, before and next), `/oncall me` (your next weeks), "
                            "`/oncall pages` (the open pages), `/oncall help` (the on-call procedure).",
                       response_type="ephemeral")
        return ack(text=oncall_text(who_is_on_call(store, procedure, now), procedure), response_type="ephemeral")

    def my_weeks(person, now) -> str:
        shifts = upcoming_shifts(store, person.id, now)
        if not shifts:
            return "You have no on-call weeks in the published rotation."
        return "Your on-call weeks:\n" + "\n".join(f"• {shift_line(s, procedure)}" for s in shifts)

    @app.event("app_home_opened")
    def home(event, client):
        person = team.by_slack_id(event.get("user", ""))
        now = clock.now()
        if person is None:
            sections = [stranger_text()]
        else:
            sections = [f"```{oncall_text(who_is_on_call(store, procedure, now), procedure)}```", my_weeks(person, now)]
        client.views_publish(user_id=event["user"], view=home_view(sections))

    # --- the support channel: new tickets and thread replies ---------------------------------------

    @app.event("message")
    def support_message(event, body, client):
        if event.get("channel") != support_channel:
            return
        subtype, thread_ts = event.get("subtype"), event.get("thread_ts")
        if thread_ts and thread_ts != event.get("ts"):
            if subtype not in REPLY_SUBTYPES or event.get("bot_id") or not event.get("user"):
                return  # an app's status line in the thread is not a person's On It!
            thread_reply(event, client, thread_ts)
        elif subtype in INTAKE_SUBTYPES:
            new_ticket(event)
        else:
            return
        if body.get("event_id"):
            inbound.record_handled(store, f"slack:{body['event_id']}", clock.now())

    def new_ticket(event):
        # An app or bot posts with a bot_id (or as a bot_message); a person has a user and no bot_id.
        from_app = bool(event.get("bot_id")) or event.get("subtype") == "bot_message" or not event.get("user")
        if not takes_as_ticket(intake, from_app):
            log_event(log, "support-channel message not taken as a ticket", intake=intake, from_app=from_app)
            return
        text = (event.get("text") or "").strip()
        email = forwarded_email(event)
        details = None
        if email:
            subject, body = email
            details = "\n\n".join(part for part in (subject if text else None, body) if part)[:DETAILS_LIMIT] or None
            text = text or subject or "(email without a subject)"
        summary = text or next((a.get("fallback") or a.get("title") or a.get("text") for a in
                                event.get("attachments", []) if a), None) or "(message without text)"
        page, created = paging.open_page(store, procedure, paging.NewPage(
            summary=summary, source="slack", external_id=f"slack:{event['channel']}:{event['ts']}",
            details=details, slack_channel=event["channel"], slack_ts=event["ts"]), clock.now())
        if created:
            log_event(log, "page opened from Slack", page=page.id, responsible=page.responsible)
            deliver_now(page.id)

    def thread_reply(event, client, thread_ts):
        text = event.get("text") or ""
        kind = parse_ack_text(text, "slack")
        hint = ack_hint(text, "slack") if kind is None else None
        if kind is None and hint is None:
            return
        page_id = paging.page_for_slack_thread(store, event["channel"], thread_ts)
        if page_id is None:
            return
        person = team.by_slack_id(event.get("user", ""))
        if person is None:
            if kind is not None:
                client.chat_postEphemeral(channel=event["channel"], user=event.get("user"), thread_ts=thread_ts,
                                          text=stranger_text())
            return
        if kind is None:  # meant as an acknowledgment, not taken as one: say so rather than stay silent
            client.chat_postEphemeral(channel=event["channel"], user=event["user"], thread_ts=thread_ts, text=hint)
            return
        result = paging.acknowledge_page(store, procedure, page_id, person.id, kind, "slack", clock.now())
        if result.accepted:
            deliver_now(page_id)
        elif person.id not in (result.page.on_it_by, result.page.done_by):  # not a retry of their own reply
            client.chat_postEphemeral(channel=event["channel"], user=event["user"], thread_ts=thread_ts,
                                      text=result.message)

    # --- buttons -------------------------------------------------------------------------------

    def clicked(body, respond, kind):
        person = team.by_slack_id(body["user"]["id"])
        if person is None:
            return respond(text=stranger_text(), response_type="ephemeral", replace_original=False)
        page_id = int(body["actions"][0]["value"])
        try:
            result = paging.acknowledge_page(store, procedure, page_id, person.id, kind, "slack", clock.now())
        except (BadInput, NotAuthorized) as exc:
            return respond(text=str(exc), response_type="ephemeral", replace_original=False)
        deliver_now(page_id)
        respond(text=result.message, response_type="ephemeral", replace_original=False)

    @app.action(ACTION_ON_IT)
    def on_it_button(ack, body, respond):
        ack()
        clicked(body, respond, "on_it")

    @app.action(ACTION_DONE)
    def done_button(ack, body, respond):
        ack()
        clicked(body, respond, "done")

    @app.action(ACTION_NOT_A_TICKET)
    def not_a_ticket_button(ack, body, respond):
        ack()
        person = team.by_slack_id(body["user"]["id"])
        if person is None:
            return respond(text=stranger_text(), response_type="ephemeral", replace_original=False)
        page_id = int(body["actions"][0]["value"])
        try:
            result = paging.dismiss_page(store, procedure, page_id, person.id, "slack", clock.now())
        except (BadInput, NotAuthorized) as exc:
            return respond(text=str(exc), response_type="ephemeral", replace_original=False)
        deliver_now(page_id)
        respond(text=result.message, response_type="ephemeral", replace_original=False)

    @app.action(ACTION_ESCALATE)
    def escalate_button(ack, body, client, respond):
        ack()
        if team.by_slack_id(body["user"]["id"]) is None:
            return respond(text=stranger_text(), response_type="ephemeral", replace_original=False)
        client.views_open(trigger_id=body["trigger_id"], view=escalate_modal(int(body["actions"][0]["value"])))

    @app.view(VIEW_ESCALATE_REASON)
    def escalate_reason(ack, body, view, client):
        person = team.by_slack_id(body["user"]["id"])
        reason = view["state"]["values"][REASON_BLOCK][REASON_INPUT].get("value") or ""
        if person is None:
            return ack(response_action="errors", errors={REASON_BLOCK: stranger_text()})
        if not reason.strip():
            return ack(response_action="errors", errors={REASON_BLOCK: "Say why it is beyond your scope."})
        ack()
        page_id = int(view["private_metadata"])
        result = paging.escalate_page(store, procedure, page_id, person.id, reason, clock.now())
        deliver_now(page_id)
        client.chat_postMessage(channel=person.slack_id, text=result.message)

    return app
