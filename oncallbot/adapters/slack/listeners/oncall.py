"""Who is on call: `/oncall` (now, before and next; `me`, `pages`, `help`) and the App Home tab."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ....domain.procedure import Procedure
from ....domain.rotation import Shift
from ....domain.team import Person
from ....ports import Clock, Store
from ....services import paging
from ....services.rotation import OnCallReport, upcoming_shifts, who_is_on_call
from ..blocks import ACTION_WEB_SIGN_IN, home_view, open_pages_text, web_sign_in_blocks
from ..bolt import Ack, App, BoltContext, WebClient, answer_later, members_only, person_of

SLACK_PAGES_SHOWN = 20  # `/oncall pages`: one screen; the CLI and the API list the rest
USAGE = ("Usage: `/oncall` (who is on call, before and next), `/oncall me` (your next weeks), "
         "`/oncall pages` (the open pages), `/oncall help` (the on-call procedure), "
         "`/oncall web` (a sign-in link to the web view), `/oncall calendar` (your private calendar feed), "
         "`/oncall swap` (swap a week with a colleague), `/oncall channels` (the order of your channels), "
         "`/oncall handover @colleague WEEK`, "
         "`/oncall reassign WEEK @colleague reason` (approvers).")


@dataclass(frozen=True)
class OncallDeps:
    store: Store
    procedure: Procedure
    clock: Clock
    procedure_file: Path  # the team's written procedure, for `/oncall help`
    oncall_text: Callable[[OnCallReport, Procedure], str]  # the rotation as people read it (the CLI's words)
    shift_line: Callable[[Shift, Procedure], str]
    # More of the Home tab from other features (swaps: my weeks with a Swap button, what waits on me).
    home_blocks: Callable[[Person, datetime], list[dict[str, Any]]] | None = None
    # The web view and the calendar feeds: queue the DM with the link, send it, say what to expect.
    send_sign_in_link: Callable[[Person, datetime], str] | None = None
    send_feed_links: Callable[[Person, datetime], str] | None = None
    deliver_now: Callable[[], object] = lambda: None  # sends what the outbox holds at once


def register(app: App, deps: OncallDeps) -> None:
    store, procedure, clock = deps.store, deps.procedure, deps.clock
    members = members_only(app, procedure.team)

    def my_weeks(person: Person, now: datetime) -> str:
        shifts = upcoming_shifts(store, person.id, now)
        if not shifts:
            return "You have no on-call weeks in the published rotation."
        return "Your on-call weeks:\n" + "\n".join(f"• {deps.shift_line(s, procedure)}" for s in shifts)

    @app.command("/oncall", middleware=[members])
    def oncall_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        person = person_of(context)
        assert person is not None  # members only
        argument = (command.get("text") or "").strip().lower()
        now = clock.now()
        if argument == "help":
            ack(text=deps.procedure_file.read_text(encoding="utf-8") if deps.procedure_file.is_file()
                else "The team has not written its on-call procedure yet (slack.procedure_file).",
                response_type="ephemeral")
        elif argument == "me":
            ack(text=my_weeks(person, now), response_type="ephemeral")
        elif argument == "pages":
            listing = paging.list_pages(store, now, state="open", limit=SLACK_PAGES_SHOWN)
            ack(text=open_pages_text(listing, procedure.team, procedure.window.tz), response_type="ephemeral")
        elif argument == "web" and deps.send_sign_in_link is not None:
            ack(text=deps.send_sign_in_link(person, now), response_type="ephemeral")
            answer_later(context, deps.deliver_now)
        elif argument == "calendar" and deps.send_feed_links is not None:
            ack(text=deps.send_feed_links(person, now), response_type="ephemeral")
            answer_later(context, deps.deliver_now)
        elif argument:
            ack(text=USAGE, response_type="ephemeral")
        else:
            ack(text=deps.oncall_text(who_is_on_call(store, procedure, now), procedure), response_type="ephemeral")

    @app.event("app_home_opened", middleware=[members])
    def home(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        person = person_of(context)
        assert person is not None  # members only
        now = clock.now()
        sections = [f"```{deps.oncall_text(who_is_on_call(store, procedure, now), procedure)}```",
                    my_weeks(person, now)]
        view = home_view(sections)
        if deps.send_sign_in_link is not None:
            view["blocks"] += web_sign_in_blocks()
        if deps.home_blocks is not None:
            view["blocks"] += deps.home_blocks(person, now)
        answer_later(context, lambda: client.views_publish(user_id=event["user"], view=view))

    @app.action(ACTION_WEB_SIGN_IN, middleware=[members])
    def web_sign_in(ack: Ack, context: BoltContext) -> None:
        ack()
        person = person_of(context)
        assert person is not None  # members only
        if deps.send_sign_in_link is not None:
            deps.send_sign_in_link(person, clock.now())
            answer_later(context, deps.deliver_now)
