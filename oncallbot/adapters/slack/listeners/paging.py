"""Paging in Slack: new tickets in the support channel, On It!/Done replies in their threads, the card's buttons
(On It!, Done, Not a ticket, Escalate) and the escalate modal. Translate, then call the paging service.

Each listener commits before it returns (Slack's 200 follows: see bolt.py) and answers the user, and sends what
it queued, through `answer_later`. A support-channel message's event id is recorded as handled by the service,
in the transaction of the page or acknowledgment it produced."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ....domain import keys, wording
from ....domain.paging import AckKind, ack_hint, parse_ack_text, parse_named_ack, takes_as_ticket
from ....domain.procedure import Procedure
from ....domain.team import Person
from ....errors import BadInput, NotAuthorized
from ....logs import log_event
from ....ports import Clock, Store
from ....services import paging
from ..blocks import (
    ACTION_CONFIRM,
    ACTION_DONE,
    ACTION_ESCALATE,
    ACTION_NOT_A_TICKET,
    ACTION_ON_IT,
    REASON_BLOCK,
    REASON_INPUT,
    VIEW_ESCALATE_REASON,
    escalate_modal,
)
from ..bolt import Ack, App, BoltContext, Respond, WebClient, answer_later, members_only, person_of, stranger_text

log = logging.getLogger("oncallbot.slack")
INTAKE_SUBTYPES = {None, "bot_message", "file_share"}  # tickets come from people, apps and bots alike
REPLY_SUBTYPES = {None, "file_share", "thread_broadcast"}  # acknowledgments come from people ("also send to channel")
DETAILS_LIMIT = 10_000  # what the paging API accepts as details


@dataclass(frozen=True)
class PagingDeps:
    store: Store
    procedure: Procedure
    clock: Clock
    support_channel: str | None  # messages elsewhere are not tickets; None: no support channel
    intake: Literal["all", "apps_and_bots", "people"]  # whose new support-channel messages become pages
    deliver_now: Callable[[int], object]  # sends a page's queued notifications at once


def forwarded_email(event: dict[str, Any]) -> tuple[str, str | None] | None:
    """An email forwarded into Slack is a file of filetype "email": its subject ("" if none), and its text."""
    for file in event.get("files") or []:
        if isinstance(file, dict) and file.get("filetype") == "email":
            subject = " ".join(str(file.get("subject") or file.get("title") or file.get("name") or "").split())
            # `preview` is HTML; `plain_text` is the body as text, `preview_plain_text` its beginning.
            body = (file.get("plain_text") or file.get("preview_plain_text") or "").strip()
            return subject, body or None
    return None


def register(app: App, deps: PagingDeps) -> None:
    store, procedure, clock = deps.store, deps.procedure, deps.clock
    members = members_only(app, procedure.team)

    # --- the support channel: new tickets and thread replies -----------------------------------------
    # No members_only here: a ticket comes from anyone, and a thread reply refuses a stranger itself, only
    # when it is an acknowledgment.

    @app.event("message")
    def support_message(event: dict[str, Any], body: dict[str, Any], client: WebClient,
                        context: BoltContext) -> None:
        if event.get("channel") != deps.support_channel:
            return
        subtype, thread_ts = event.get("subtype"), event.get("thread_ts")
        event_id = body.get("event_id")
        key = keys.slack_event(event_id) if isinstance(event_id, str) and event_id else None
        if thread_ts and thread_ts != event.get("ts"):
            if subtype not in REPLY_SUBTYPES or event.get("bot_id") or not event.get("user"):
                return  # an app's status line in the thread is not a person's On It!
            thread_reply(event, client, thread_ts, person_of(context), key, context)
        elif subtype in INTAKE_SUBTYPES:
            new_ticket(event, key, context)

    def new_ticket(event: dict[str, Any], key: str | None, context: BoltContext) -> None:
        # An app or bot posts with a bot_id (or as a bot_message); a person has a user and no bot_id.
        from_app = bool(event.get("bot_id")) or event.get("subtype") == "bot_message" or not event.get("user")
        if not takes_as_ticket(deps.intake, from_app):
            log_event(log, "support-channel message not taken as a ticket", intake=deps.intake, from_app=from_app)
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
            details=details, slack_channel=event["channel"], slack_ts=event["ts"]), clock.now(), inbound_key=key)
        if created:
            log_event(log, "page opened from Slack", page=page.id, responsible=page.responsible)
            answer_later(context, lambda: deps.deliver_now(page.id))

    def thread_reply(event: dict[str, Any], client: WebClient, thread_ts: str, person: Person | None,
                     key: str | None, context: BoltContext) -> None:
        def ephemeral(text: str) -> None:
            answer_later(context, lambda: client.chat_postEphemeral(
                channel=event["channel"], user=event["user"], thread_ts=thread_ts, text=text))

        text = event.get("text") or ""
        kind = parse_ack_text(text, "slack")
        hint = ack_hint(text, "slack") if kind is None else None
        if kind is None and hint is None:
            return
        page_id = paging.page_for_slack_thread(store, event["channel"], thread_ts)
        if page_id is None:
            if paging.is_storm_message(store, thread_ts):
                storm_reply(event, client, thread_ts, person, key, context)
            return
        if person is None:  # a stranger's acknowledgment is refused; anything else they say is theirs
            if kind is not None:
                ephemeral(stranger_text(procedure.team))
            return
        if kind is None:  # meant as an acknowledgment, not taken as one: say so rather than stay silent
            assert hint is not None
            ephemeral(hint)
            return
        result = paging.acknowledge_page(store, procedure, page_id, person.id, kind, "slack", clock.now(),
                                         inbound_key=key)
        if result.accepted:
            answer_later(context, lambda: deps.deliver_now(page_id))
        elif not result.repeat and person.id not in (result.page.on_it_by, result.page.done_by):
            ephemeral(result.message)  # not a retry of their own reply

    def storm_reply(event: dict[str, Any], client: WebClient, thread_ts: str, person: Person | None,
                    key: str | None, context: BoltContext) -> None:
        """A storm message stands for many pages: an acknowledgment in its thread must name its page."""
        def tell(text: str) -> None:
            answer_later(context, lambda: client.chat_postEphemeral(
                channel=event["channel"], user=event["user"], thread_ts=thread_ts, text=text))

        reply = parse_named_ack(event.get("text") or "")
        if person is None:  # a stranger's acknowledgment is refused; anything else they say is theirs
            if reply is not None:
                tell(stranger_text(procedure.team))
            return
        if reply is None or reply.page_number is None or int(reply.page_number) > paging.MAX_PAGE_ID:
            tell(wording.STORM_REPLY_HINT)
            return
        page_id = int(reply.page_number)
        try:
            result = paging.acknowledge_page(store, procedure, page_id, person.id, reply.kind, "slack", clock.now(),
                                             inbound_key=key)
        except BadInput as exc:
            tell(f"{exc}. {wording.STORM_REPLY_HINT}")
            return
        if result.accepted:
            answer_later(context, lambda: deps.deliver_now(page_id))
        if not result.repeat:  # a retry of a reply that was taken says nothing twice
            tell(result.message)

    # --- buttons (members only) -----------------------------------------------------------------------

    def reply(context: BoltContext, respond: Respond, text: str) -> None:
        answer_later(context, lambda: respond(text=text, response_type="ephemeral", replace_original=False))

    def sent_and_reply(context: BoltContext, respond: Respond, page_id: int, text: str) -> None:
        def answer() -> None:
            deps.deliver_now(page_id)
            respond(text=text, response_type="ephemeral", replace_original=False)
        answer_later(context, answer)

    def clicked(body: dict[str, Any], respond: Respond, context: BoltContext, kind: AckKind) -> None:
        page_id = int(body["actions"][0]["value"])
        try:
            result = paging.acknowledge_page(store, procedure, page_id, member(context).id, kind, "slack",
                                             clock.now())
        except (BadInput, NotAuthorized) as exc:
            reply(context, respond, str(exc))
            return
        sent_and_reply(context, respond, page_id, result.message)

    def member(context: BoltContext) -> Person:
        person = person_of(context)
        assert person is not None  # members_only answered a stranger already
        return person

    @app.action(ACTION_ON_IT, middleware=[members])
    def on_it_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        ack()
        clicked(body, respond, context, "on_it")

    @app.action(ACTION_DONE, middleware=[members])
    def done_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        ack()
        clicked(body, respond, context, "done")

    @app.action(ACTION_CONFIRM, middleware=[members])
    def confirm_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        """The test page's DM: a deliberate answer, taken as its On It! (it stops the alert to the approvers)."""
        ack()
        clicked(body, respond, context, "on_it")

    @app.action(ACTION_NOT_A_TICKET, middleware=[members])
    def not_a_ticket_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        ack()
        page_id = int(body["actions"][0]["value"])
        try:
            result = paging.dismiss_page(store, procedure, page_id, member(context).id, "slack", clock.now())
        except (BadInput, NotAuthorized) as exc:
            reply(context, respond, str(exc))
            return
        sent_and_reply(context, respond, page_id, result.message)

    @app.action(ACTION_ESCALATE, middleware=[members])
    def escalate_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        modal = escalate_modal(int(body["actions"][0]["value"]))
        answer_later(context, lambda: client.views_open(trigger_id=body["trigger_id"], view=modal))

    @app.view(VIEW_ESCALATE_REASON, middleware=[members])
    def escalate_reason(ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        reason = view["state"]["values"][REASON_BLOCK][REASON_INPUT].get("value") or ""
        if not reason.strip():
            ack(response_action="errors", errors={REASON_BLOCK: "Say why it is beyond your scope."})
            return
        ack()
        page_id = int(view["private_metadata"])
        result = paging.escalate_page(store, procedure, page_id, person.id, reason, clock.now())

        def answer() -> None:
            deps.deliver_now(page_id)
            client.chat_postMessage(channel=context.user_id or "", text=result.message)  # a DM: their Slack id
        answer_later(context, answer)
