"""Contact details in Slack: verifying your phone number with the code it was texted (a modal, from App Home),
and `/oncall channels`, the order your channels are tried in an escalation step (a modal, or typed)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import permutations
from typing import Any

from ....domain import wording
from ....domain.contacts import CodeCheck, parse_channel_order
from ....domain.masking import mask_phone
from ....domain.procedure import Procedure
from ....domain.team import Person
from ....errors import BadInput
from ....ports import Clock, Store
from ....services import contacts
from ..blocks import ACTION_VERIFY
from ..bolt import Ack, App, BoltContext, WebClient, answer_later, members_only, person_of

ACTION_ORDER = "contacts.order_open"  # App Home: Change the order
VIEW_VERIFY = "contacts.verify"
VIEW_ORDER = "contacts.channel_order"
CODE_BLOCK, CODE_INPUT = "code", "code_input"
ORDER_BLOCK, ORDER_INPUT = "order", "order_input"


@dataclass(frozen=True)
class ContactsDeps:
    store: Store
    procedure: Procedure
    clock: Clock
    deliver_now: Callable[[], object]


def is_channels_command(body: dict[str, Any]) -> bool:
    words = (body.get("text") or "").split()
    return bool(words) and words[0].lower() == "channels"


def verify_modal() -> dict[str, Any]:
    return {"type": "modal", "callback_id": VIEW_VERIFY, "title": {"type": "plain_text", "text": "Verify my number"},
            "submit": {"type": "plain_text", "text": "Verify"},
            "blocks": [{"type": "input", "block_id": CODE_BLOCK,
                        "label": {"type": "plain_text", "text": "The code we texted you"},
                        "element": {"type": "plain_text_input", "action_id": CODE_INPUT, "max_length": 12}}]}


def order_modal(allowed: tuple[str, ...], current: tuple[str, ...]) -> dict[str, Any]:
    def option(order: tuple[str, ...]) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": wording.channel_order_text(order)}, "value": ",".join(order)}

    options = [option(order) for order in permutations(allowed)]
    element: dict[str, Any] = {"type": "static_select", "action_id": ORDER_INPUT, "options": options}
    if current and set(current) == set(allowed):
        element["initial_option"] = option(current)
    return {"type": "modal", "callback_id": VIEW_ORDER, "title": {"type": "plain_text", "text": "My channel order"},
            "submit": {"type": "plain_text", "text": "Save"},
            "blocks": [{"type": "input", "block_id": ORDER_BLOCK,
                        "label": {"type": "plain_text", "text": "Reach me in an escalation step by"},
                        "element": element},
                       {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                           "Each step still uses only its own channels, in this order.")}]}]}


def home_blocks(deps: ContactsDeps) -> Callable[[Person, datetime], list[dict[str, Any]]]:
    """App Home: whether your number is verified (with the Verify button while it is not), and your order."""
    def blocks(person: Person, now: datetime) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "My contact details"}}]
        if person.phone:
            pending = contacts.verification_pending(deps.store, deps.procedure, person.id)
            state = "*unverified*: reply to the text with its code, or" if pending else "verified"
            line = {"type": "section", "text": {"type": "mrkdwn", "text": f"Phone {mask_phone(person.phone)}: {state}"}}
            if pending:
                line["accessory"] = {"type": "button", "action_id": ACTION_VERIFY, "style": "primary",
                                     "text": {"type": "plain_text", "text": "Verify my number"}}
            out.append(line)
        order = contacts.channel_order_of(deps.store, person.id)
        shown = wording.channel_order_text(order) if order else "as each escalation step lists them"
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"Channel order: {shown}"},
                    "accessory": {"type": "button", "action_id": ACTION_ORDER,
                                  "text": {"type": "plain_text", "text": "Change the order"}}})
        return out

    return blocks


def register(app: App, deps: ContactsDeps) -> None:
    """Register before the oncall listeners: its `/oncall` catch-all would answer `channels` with the usage."""
    store, procedure, clock = deps.store, deps.procedure, deps.clock
    members = members_only(app, procedure.team)

    def member(context: BoltContext) -> Person:
        person = person_of(context)
        assert person is not None  # members_only answered a stranger already
        return person

    def open_order(client: WebClient, trigger_id: str, person: Person, context: BoltContext) -> None:
        modal = order_modal(contacts.team_channels(procedure), contacts.channel_order_of(store, person.id))
        answer_later(context, lambda: client.views_open(trigger_id=trigger_id, view=modal))

    @app.command("/oncall", matchers=[is_channels_command], middleware=[members])
    def channels_command(ack: Ack, command: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        words = (command.get("text") or "").split()[1:]
        if not words:
            ack()
            open_order(client, command["trigger_id"], person, context)
            return
        try:
            order = contacts.set_channel_order(store, procedure, person.id,
                                               parse_channel_order(words, contacts.team_channels(procedure)),
                                               clock.now())
        except (ValueError, BadInput) as refused:
            ack(text=f"Not changed: {refused}. For example `/oncall channels call sms slack`.",
                response_type="ephemeral")
            return
        ack(text=wording.channel_order_saved(order), response_type="ephemeral")

    @app.action(ACTION_ORDER, middleware=[members])
    def order_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        open_order(client, body["trigger_id"], member(context), context)

    @app.view(VIEW_ORDER, middleware=[members])
    def order_submitted(ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        chosen = (view["state"]["values"][ORDER_BLOCK][ORDER_INPUT].get("selected_option") or {}).get("value") or ""
        try:
            order = contacts.set_channel_order(store, procedure, person.id, tuple(chosen.split(",")), clock.now())
        except BadInput as refused:
            ack(response_action="errors", errors={ORDER_BLOCK: str(refused)[:2000]})
            return
        ack()
        text = wording.channel_order_saved(order)
        answer_later(context, lambda: client.chat_postMessage(channel=context.user_id or "", text=text))

    @app.action(ACTION_VERIFY, middleware=[members])
    def verify_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        answer_later(context, lambda: client.views_open(trigger_id=body["trigger_id"], view=verify_modal()))

    @app.view(VIEW_VERIFY, middleware=[members])
    def code_submitted(ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        code = view["state"]["values"][CODE_BLOCK][CODE_INPUT].get("value") or ""
        result = contacts.verify_code(store, procedure, person.id, code, "slack", clock.now())
        if result.outcome not in (CodeCheck.VERIFIED, CodeCheck.ALREADY):
            ack(response_action="errors", errors={CODE_BLOCK: result.message})
            answer_later(context, deps.deliver_now)  # a new code, when the old one expired
            return
        ack()
        answer_later(context, lambda: client.chat_postMessage(channel=context.user_id or "", text=result.message))
