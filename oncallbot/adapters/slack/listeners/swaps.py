"""Swaps in Slack: `/oncall swap`, `/oncall handover`, `/oncall reassign`, the request modal, the buttons of the
swap DMs (Accept / Decline, Approve / Reject, Cancel) and the reason modal. Translate, then call the swap service.

Who acts is only ever the signed payload's `user.id` (resolved to a team member by the bolt middleware); a
person named in the command text is the counterpart, never the actor.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ....domain.procedure import Procedure
from ....domain.swap_flow import (
    ACCEPT,
    APPROVE,
    CANCEL,
    DECLINE,
    REJECT,
    name_of,
    status_line,
    summary,
    swap_card,
)
from ....domain.swaps import (
    PENDING_STATES,
    SwapKind,
    SwapRefused,
    SwapRequest,
    week_label,
)
from ....domain.team import Person, Team
from ....ports import Clock, Store
from ....services import swaps
from ..blocks import (
    ACTION_HOME_REASSIGN,
    ACTION_HOME_SWAP,
    MINE_BLOCK,
    MINE_INPUT,
    NOTE_BLOCK,
    NOTE_INPUT,
    REASON_BLOCK,
    REASON_INPUT,
    THEIRS_BLOCK,
    THEIRS_INPUT,
    TO_BLOCK,
    TO_INPUT,
    VIEW_SWAP_REASON,
    VIEW_SWAP_REASSIGN,
    VIEW_SWAP_REQUEST,
    WEEK_BLOCK,
    WEEK_INPUT,
    reassign_modal,
    swap_blocks,
    swap_reason_modal,
    swap_request_modal,
)
from ..bolt import Ack, App, BoltContext, Respond, WebClient, answer_later, members_only, person_of

VERBS = ("swap", "handover", "reassign")
MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
USAGE = {
    "swap": "Usage: `/oncall swap @colleague YOUR-WEEK THEIR-WEEK [note]` (weeks by their start date, e.g. "
            "2027-01-04, or `next`), or `/oncall swap` alone to pick from a list.",
    "handover": "Usage: `/oncall handover @colleague YOUR-WEEK [note]`.",
    "reassign": "Usage: `/oncall reassign WEEK @colleague reason…` (approvers only).",
}


@dataclass(frozen=True)
class SwapsDeps:
    store: Store
    procedure: Procedure
    clock: Clock
    deliver_now: Callable[[], object]  # sends what the outbox holds at once


def person_token(token: str, team: Team) -> str:
    """A colleague named in a command: a Slack mention (`<@U…|name>`, what Slack sends with should_escape) or a
    team member's id. Returns the team member's id, or the token itself (the rules then say who is unknown)."""
    match = MENTION.fullmatch(token)
    if match:
        person = team.by_slack_id(match.group(1))
        return person.id if person else match.group(1)
    person = team.person(token.lstrip("@"))
    return person.id if person else token


def home_blocks(deps: SwapsDeps) -> Callable[[Person, Any], list[dict[str, Any]]]:
    """The swaps' part of App Home: my weeks with a Swap button each, the requests waiting on me (with their
    buttons), and for approvers the queue of accepted requests."""
    store, procedure = deps.store, deps.procedure
    team = procedure.team

    def blocks(person: Person, now: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "My weeks"}}]
        mine = [w for w, p in sorted(swaps.weeks_of_person(store, procedure, now).items()) if p == person.id]
        for week in mine[:8]:
            out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"Week of {week_label(week)}"},
                        "accessory": {"type": "button", "action_id": ACTION_HOME_SWAP, "value": week.isoformat(),
                                      "text": {"type": "plain_text", "text": "Swap"}}})
        if not mine:
            out.append({"type": "section", "text": {"type": "mrkdwn", "text": "No upcoming weeks."}})
        waiting = swaps.waiting_on(store, procedure, person.id)
        out.append({"type": "header", "text": {"type": "plain_text", "text": "Swap requests waiting on you"}})
        for request in waiting:
            out += swap_blocks(summary(request, team), swap_card(request, person.id, team))
        if not waiting:
            out.append({"type": "section", "text": {"type": "mrkdwn", "text": "Nothing waits on you."}})
        if person.id in team.approver_ids:
            queue = [r for r in swaps.list_requests(store) if r.state.value == "accepted"]
            out.append({"type": "header", "text": {"type": "plain_text", "text": "Approvers' queue"}})
            out.append({"type": "actions", "block_id": "swap:reassign", "elements": [
                {"type": "button", "action_id": ACTION_HOME_REASSIGN, "value": "reassign",
                 "text": {"type": "plain_text", "text": "Reassign a week"}}]})
            for request in queue:
                out.append({"type": "section", "text": {"type": "mrkdwn", "text":
                            f"#{request.id} {summary(request, team)}: {status_line(request, team)}"}})
            if not queue:
                out.append({"type": "section", "text": {"type": "mrkdwn", "text": "No request waits for approval."}})
        return out

    return blocks


def is_swap_command(body: dict[str, Any]) -> bool:
    words = (body.get("text") or "").split()
    return bool(words) and words[0].lower() in VERBS


def register(app: App, deps: SwapsDeps) -> None:
    """Register before the other `/oncall` listeners: bolt runs the first one that matches."""
    store, procedure, clock = deps.store, deps.procedure, deps.clock
    team = procedure.team
    members = members_only(app, team)

    def member(context: BoltContext) -> Person:
        person = person_of(context)
        assert person is not None  # members_only answered a stranger already
        return person

    def dm_after_sends(context: BoltContext, client: WebClient, text: str) -> None:
        def answer() -> None:
            deps.deliver_now()
            client.chat_postMessage(channel=context.user_id or "", text=text)  # a DM: the member's Slack id
        answer_later(context, answer)

    # --- /oncall swap | handover | reassign ----------------------------------------------------------

    @app.command("/oncall", matchers=[is_swap_command], middleware=[members])
    def swap_command(ack: Ack, command: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        words = (command.get("text") or "").split()
        verb, args = words[0].lower(), words[1:]
        if verb == "swap" and not args:
            ack()
            modal = request_modal(person)
            answer_later(context, lambda: client.views_open(trigger_id=command["trigger_id"], view=modal))
            return
        try:
            outcome = run_command(person, verb, args)
        except SwapRefused as refused:
            ack(text=f"Not done: {refused.message}", response_type="ephemeral")
            return
        ack(text=outcome.message if isinstance(outcome, swaps.SwapOutcome) else outcome, response_type="ephemeral")
        answer_later(context, deps.deliver_now)

    def run_command(person: Person, verb: str, args: list[str]) -> swaps.SwapOutcome | str:
        now = clock.now()
        if verb == "reassign":
            if len(args) < 3:
                return USAGE[verb]
            return swaps.reassign_week(store, procedure, person.id, args[0], person_token(args[1], team),
                                       " ".join(args[2:]), now)
        needed = 3 if verb == "swap" else 2
        if len(args) < needed:
            return USAGE[verb]
        counterpart = person_token(args[0], team)
        theirs = args[2] if verb == "swap" else None
        note = " ".join(args[needed:])
        return swaps.request_swap(store, procedure, person.id, counterpart, args[1], theirs, now, note=note,
                                  kind=SwapKind.SWAP if verb == "swap" else SwapKind.HANDOVER)

    # --- the request modal (`/oncall swap` alone, App Home's Swap button) ------------------------------

    def request_modal(person: Person, week: str | None = None) -> dict[str, Any]:
        now = clock.now()
        upcoming = swaps.weeks_of_person(store, procedure, now)
        mine = [(w.isoformat(), week_label(w)) for w, p in sorted(upcoming.items()) if p == person.id]
        theirs = [(f"{w.isoformat()}|{p}", f"{week_label(w)}: {name_of(team, p)}")
                  for w, p in sorted(upcoming.items()) if p and p != person.id]
        handovers = [(f"handover|{p.id}", f"Hand my week over to {p.name}")
                     for p in team.with_role("oncall") if p.id != person.id]
        return swap_request_modal(mine, handovers + theirs, initial_mine=week)

    @app.action(ACTION_HOME_SWAP, middleware=[members])
    def home_swap_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        week = str(body["actions"][0].get("value") or "")
        modal = request_modal(member(context), week)
        answer_later(context, lambda: client.views_open(trigger_id=body["trigger_id"], view=modal))

    @app.action(ACTION_HOME_REASSIGN, middleware=[members])
    def home_reassign_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        now = clock.now()
        weeks = [(w.isoformat(), f"{week_label(w)}: {name_of(team, p)}")
                 for w, p in sorted(swaps.weeks_of_person(store, procedure, now, running=True).items())]
        people = [(p.id, p.name) for p in team.with_role("oncall")]
        modal = reassign_modal(weeks, people)
        answer_later(context, lambda: client.views_open(trigger_id=body["trigger_id"], view=modal))

    @app.view(VIEW_SWAP_REASSIGN, middleware=[members])
    def reassign_submitted(ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        values = view["state"]["values"]
        week = (values[WEEK_BLOCK][WEEK_INPUT].get("selected_option") or {}).get("value") or ""
        to = (values[TO_BLOCK][TO_INPUT].get("selected_option") or {}).get("value") or ""
        reason = values.get(REASON_BLOCK, {}).get(REASON_INPUT, {}).get("value") or ""
        try:
            outcome = swaps.reassign_week(store, procedure, person.id, week, to, reason, clock.now())
        except SwapRefused as refused:
            ack(response_action="errors", errors={REASON_BLOCK: refused.message[:2000]})
            return
        ack()
        dm_after_sends(context, client, outcome.message)

    @app.view(VIEW_SWAP_REQUEST, middleware=[members])
    def request_submitted(ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        values = view["state"]["values"]
        mine = (values[MINE_BLOCK][MINE_INPUT].get("selected_option") or {}).get("value")
        theirs = (values[THEIRS_BLOCK][THEIRS_INPUT].get("selected_option") or {}).get("value")
        note = values.get(NOTE_BLOCK, {}).get(NOTE_INPUT, {}).get("value") or ""
        if not mine or not theirs or "|" not in theirs:
            ack(response_action="errors", errors={MINE_BLOCK if not mine else THEIRS_BLOCK: "Pick one."})
            return
        week, counterpart = theirs.split("|", 1)
        try:
            outcome = swaps.request_swap(store, procedure, person.id, counterpart, mine,
                                         None if week == "handover" else week, clock.now(), note=note,
                                         kind=SwapKind.HANDOVER if week == "handover" else SwapKind.SWAP)
        except SwapRefused as refused:
            ack(response_action="errors", errors={THEIRS_BLOCK: refused.message[:2000]})
            return
        ack()
        dm_after_sends(context, client, outcome.message)

    # --- the buttons of the swap DMs -----------------------------------------------------------------

    def answer(context: BoltContext, respond: Respond, text: str, send_first: bool = False) -> None:
        def reply() -> None:
            if send_first:
                deps.deliver_now()
            respond(text=text, response_type="ephemeral", replace_original=False)
        answer_later(context, reply)

    def step(body: dict[str, Any], respond: Respond, context: BoltContext,
             verb: Callable[..., swaps.SwapOutcome]) -> None:
        request_id = str(body["actions"][0].get("value") or "")
        try:
            outcome = verb(store, procedure, request_id, member(context).id, clock.now())
        except SwapRefused as refused:
            answer(context, respond, refused.message)
            return
        answer(context, respond, outcome.message, send_first=True)

    @app.action(ACCEPT, middleware=[members])
    def accept_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        ack()
        step(body, respond, context, swaps.accept)

    @app.action(APPROVE, middleware=[members])
    def approve_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        ack()
        step(body, respond, context, swaps.approve)

    @app.action(CANCEL, middleware=[members])
    def cancel_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        ack()
        step(body, respond, context, swaps.cancel)

    def ask_reason(body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext, action: str,
                   verb: str) -> None:
        request_id = str(body["actions"][0].get("value") or "")
        request = swaps.get_request(store, request_id)
        if request is None or request.state not in PENDING_STATES:  # decided: say where it stands, no modal
            answer(context, respond, state_text(request, request_id))
            return
        modal = swap_reason_modal(action, request_id, verb)
        answer_later(context, lambda: client.views_open(trigger_id=body["trigger_id"], view=modal))

    def state_text(request: SwapRequest | None, request_id: str) -> str:
        return status_line(request, team) if request else f"There is no swap request {request_id}"

    @app.action(DECLINE, middleware=[members])
    def decline_button(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient,
                       context: BoltContext) -> None:
        ack()
        ask_reason(body, respond, client, context, DECLINE, "Decline")

    @app.action(REJECT, middleware=[members])
    def reject_button(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient,
                      context: BoltContext) -> None:
        ack()
        ask_reason(body, respond, client, context, REJECT, "Reject")

    @app.view(VIEW_SWAP_REASON, middleware=[members])
    def reason_submitted(ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = member(context)
        action, _, request_id = str(view.get("private_metadata") or "").partition(":")
        reason = view["state"]["values"].get(REASON_BLOCK, {}).get(REASON_INPUT, {}).get("value") or ""
        verb = swaps.decline if action == DECLINE else swaps.reject
        try:
            outcome = verb(store, procedure, request_id, person.id, clock.now(), reason=reason)
        except SwapRefused as refused:
            ack(response_action="errors", errors={REASON_BLOCK: refused.message[:2000]})
            return
        ack()
        dm_after_sends(context, client, outcome.message)
