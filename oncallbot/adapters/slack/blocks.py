"""Block Kit layouts. Action ids are stable strings: Slack sends them back on every click."""

from ...domain import wording
from ...domain.messages import PageCard, SwapCard
from ...services.paging import PageList
from ...services.presenting import age_label

ACTION_ON_IT = "page.on_it"
ACTION_DONE = "page.done"
ACTION_ESCALATE = "page.escalate"
ACTION_NOT_A_TICKET = "page.not_a_ticket"
ACTION_CONFIRM = "page.confirm"  # the weekly test page's DM: I am here, pages reach me
ACTION_WEB_SIGN_IN = "web.sign_in"  # App Home: DM me a sign-in link to the web view
VIEW_ESCALATE_REASON = "page.escalate_reason"
REASON_BLOCK, REASON_INPUT = "reason", "reason_input"
SUMMARY_SHOWN = 120  # a list line stays one line


def mention(person) -> str:
    return f"<@{person.slack_id}>" if person and person.slack_id else (person.name if person else "?")


def card_text(card: PageCard) -> str:
    return wording.card_text(card.id, card.summary)


def _escaped(text: str) -> str:
    """Slack mrkdwn: a caller's words must not become links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def card_blocks(card: PageCard, listen_url: str | None = None) -> list[dict]:
    if card.responsible == "office":
        responsible = "the office (business hours)"
    elif card.responsible == "nobody":
        responsible = "nobody on call: the approvers are paged"
    else:
        responsible = f"{mention(card.responsible_person)} (on call)"
    if card.state == "done":
        status = f":white_check_mark: *Done*: {card.done}"
    elif card.state == "dismissed":
        status = f":no_entry_sign: *Not a ticket*: closed by {card.done}"
    elif card.state == "on_it":
        status = f":raising_hand: *On It!*: {card.on_it}"
    else:
        status = f":hourglass_flowing_sand: Waiting for On It! by *{card.deadline}*"
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Page #{card.id}*: {card.summary}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Responsible: {responsible}"},
                                         {"type": "mrkdwn", "text": status}]},
    ]
    if card.voicemail:  # the transcription (or that there is none), and the bot's own link to the recording
        blocks.insert(1, {"type": "section", "text": {"type": "mrkdwn", "text": f"> {_escaped(card.details or '')}"}})
        if listen_url:
            blocks.insert(2, {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"<{listen_url}|:arrow_forward: Listen> (the link expires)"}]})
    if card.state not in ("done", "dismissed"):
        value = str(card.id)
        buttons = []
        if card.state == "open":
            buttons.append({"type": "button", "action_id": ACTION_ON_IT, "style": "primary", "value": value,
                            "text": {"type": "plain_text", "text": "On It!"}})
        buttons.append({"type": "button", "action_id": ACTION_DONE, "value": value,
                        "text": {"type": "plain_text", "text": "Done"}})
        if card.source != "test":
            buttons.append({"type": "button", "action_id": ACTION_NOT_A_TICKET, "value": value,
                            "text": {"type": "plain_text", "text": "Not a ticket"}})
        buttons.append({"type": "button", "action_id": ACTION_ESCALATE, "style": "danger", "value": value,
                        "text": {"type": "plain_text", "text": "Escalate"}})
        blocks.append({"type": "actions", "block_id": f"page-{card.id}", "elements": buttons})
    return blocks


SLACK_TEXT_LIMIT = 4000  # a message's text: Slack truncates beyond 40,000 and advises staying under 4,000
SECTION_TEXT_LIMIT = 3000  # a section block's text
BLOCKS_LIMIT = 50  # blocks in one message


def storm_blocks(text: str) -> list[dict]:
    """The storm message (wording.storm_text): one section per paragraph, within Slack's block limits. No
    buttons: it stands for many pages; each is acted on by its number."""
    parts = [part for part in text.split("\n\n") if part.strip()][:BLOCKS_LIMIT - 1]
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": part[:SECTION_TEXT_LIMIT]}}
                          for part in parts[:-1]]
    if parts:  # where to act, in small print
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": parts[-1][:SECTION_TEXT_LIMIT]}]})
    return blocks


def done_reminder_blocks(card: PageCard, text: str) -> list[dict]:
    """"Is it done?" in a DM to the holder, with the card's own Done button (same action, same handler)."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": f"page-{card.id}-reminder", "elements": [
            {"type": "button", "action_id": ACTION_DONE, "style": "primary", "value": str(card.id),
             "text": {"type": "plain_text", "text": "Done"}}]},
    ]


ACTION_VERIFY = "contacts.verify_open"  # App Home and the verification DM: Verify my number (opens the code form)


def verify_blocks(text: str) -> list[dict]:
    """The DM asking a person to verify their number, with the button that opens the code form."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": "contacts-verify", "elements": [
                {"type": "button", "action_id": ACTION_VERIFY, "style": "primary",
                 "text": {"type": "plain_text", "text": "Verify my number"}}]}]


def confirm_blocks(page_id: int, text: str) -> list[dict]:
    """The test page's DM to the on-call person, with the Confirm button that answers it."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": f"page-{page_id}-confirm", "elements": [
            {"type": "button", "action_id": ACTION_CONFIRM, "style": "primary", "value": str(page_id),
             "text": {"type": "plain_text", "text": "Confirm"}}]},
    ]


def escalate_modal(page_id: int) -> dict:
    return {
        "type": "modal", "callback_id": VIEW_ESCALATE_REASON, "private_metadata": str(page_id),
        "title": {"type": "plain_text", "text": f"Escalate page #{page_id}"},
        "submit": {"type": "plain_text", "text": "Page my manager"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{
            "type": "input", "block_id": REASON_BLOCK,
            "label": {"type": "plain_text", "text": "Why is it beyond your scope?"},
            "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True},
        }],
    }


def web_sign_in_blocks() -> list[dict]:
    return [{"type": "section", "block_id": "web", "text": {"type": "mrkdwn", "text": wording.WEB_VIEW_INVITE},
             "accessory": {"type": "button", "action_id": ACTION_WEB_SIGN_IN, "value": "web",
                           "text": {"type": "plain_text", "text": "Open the web view"}}}]


def home_view(sections: list[str]) -> dict:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "On call"}}]
    for text in sections:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return {"type": "home", "blocks": blocks}


def open_pages_text(listing: PageList, team, tz) -> str:
    """`/oncall pages`: what is open, who holds it and for how long."""
    if not listing.pages:
        return "No open pages."
    lines = [f"Open pages: {listing.total}, newest first"]
    for page in listing.pages:
        if page.state == "on_it":
            holder = team.person(page.holder_id)
            status = f"*On It!* {holder.name if holder else page.holder_id}"
        else:
            status = f"Waiting for On It! (due {page.deadline_at.astimezone(tz):%H:%M %Z})"
        summary = page.summary if len(page.summary) <= SUMMARY_SHOWN else page.summary[:SUMMARY_SHOWN - 1] + "…"
        lines.append(f"• #{page.id} {status} · {age_label(page.age)} old · {summary}")
    if listing.next_before is not None:
        lines.append(f"…and {listing.total - len(listing.pages)} more: `oncallbot pages --open` lists them all.")
    return "\n".join(lines)


# --- swaps -----------------------------------------------------------------------------------------------

VIEW_SWAP_REASON = "swap.reason"  # the optional reason of a decline or rejection
VIEW_SWAP_REQUEST = "swap.request"  # `/oncall swap` with no arguments
MINE_BLOCK, MINE_INPUT = "mine", "mine_input"
THEIRS_BLOCK, THEIRS_INPUT = "theirs", "theirs_input"
KIND_BLOCK, KIND_INPUT = "kind", "kind_input"
NOTE_BLOCK, NOTE_INPUT = "note", "note_input"
ACTION_HOME_SWAP = "swap.home_swap"  # App Home: the Swap button of one of my weeks


def swap_blocks(text: str, card: SwapCard) -> list[dict]:
    """A swap DM: what was asked, where it stands now, and the buttons its recipient may press now."""
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{card.status}*"}]},
    ]
    if card.buttons:
        elements = []
        for button in card.buttons:
            element = {"type": "button", "action_id": button.action, "value": card.request_id,
                       "text": {"type": "plain_text", "text": button.label}}
            if button.style:
                element["style"] = button.style
            elements.append(element)
        blocks.append({"type": "actions", "block_id": f"swap:{card.request_id}", "elements": elements})
    return blocks


def swap_reason_modal(action: str, request_id: str, verb: str) -> dict:
    """Decline / Reject with an optional reason."""
    return {
        "type": "modal", "callback_id": VIEW_SWAP_REASON, "private_metadata": f"{action}:{request_id}",
        "title": {"type": "plain_text", "text": f"{verb} the request"},
        "submit": {"type": "plain_text", "text": verb},
        "blocks": [{"type": "input", "block_id": REASON_BLOCK, "optional": True,
                    "label": {"type": "plain_text", "text": "Reason (optional)"},
                    "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True}}],
    }


def _options(choices: list[tuple[str, str]]) -> list[dict]:
    return [{"text": {"type": "plain_text", "text": label[:75]}, "value": value} for value, label in choices[:100]]


def swap_request_modal(mine: list[tuple[str, str]], theirs: list[tuple[str, str]],
                       initial_mine: str | None = None) -> dict:
    """`/oncall swap` alone: pick my week, the colleague's week (or hand mine over), an optional note.
    `theirs` values are "week|person" (a week of the team's with its person); "handover|person" hands over."""
    mine_element: dict = {"type": "static_select", "action_id": MINE_INPUT, "options": _options(mine),
                          "placeholder": {"type": "plain_text", "text": "Your week"}}
    if initial_mine:
        initial = [o for o in _options(mine) if o["value"] == initial_mine]
        if initial:
            mine_element["initial_option"] = initial[0]
    blocks: list[dict] = [
        {"type": "input", "block_id": MINE_BLOCK, "label": {"type": "plain_text", "text": "Your week"},
         "element": mine_element},
        {"type": "input", "block_id": THEIRS_BLOCK,
         "label": {"type": "plain_text", "text": "Their week (a swap) or a colleague to hand over to"},
         "element": {"type": "static_select", "action_id": THEIRS_INPUT, "options": _options(theirs),
                     "placeholder": {"type": "plain_text", "text": "Pick a week or a colleague"}}},
        {"type": "input", "block_id": NOTE_BLOCK, "optional": True, "label": {"type": "plain_text", "text": "Note"},
         "element": {"type": "plain_text_input", "action_id": NOTE_INPUT, "multiline": True}},
    ]
    return {"type": "modal", "callback_id": VIEW_SWAP_REQUEST, "title": {"type": "plain_text", "text": "Swap a week"},
            "submit": {"type": "plain_text", "text": "Request"}, "blocks": blocks}


ACTION_HOME_REASSIGN = "swap.home_reassign"  # App Home, approvers: reassign a week
VIEW_SWAP_REASSIGN = "swap.reassign"
WEEK_BLOCK, WEEK_INPUT = "week", "week_input"
TO_BLOCK, TO_INPUT = "to", "to_input"


def reassign_modal(weeks: list[tuple[str, str]], people: list[tuple[str, str]]) -> dict:
    """An approver gives a week to someone: the week, the person, a required reason."""
    return {"type": "modal", "callback_id": VIEW_SWAP_REASSIGN,
            "title": {"type": "plain_text", "text": "Reassign a week"},
            "submit": {"type": "plain_text", "text": "Reassign"}, "blocks": [
                {"type": "input", "block_id": WEEK_BLOCK, "label": {"type": "plain_text", "text": "Week"},
                 "element": {"type": "static_select", "action_id": WEEK_INPUT, "options": _options(weeks)}},
                {"type": "input", "block_id": TO_BLOCK, "label": {"type": "plain_text", "text": "Give it to"},
                 "element": {"type": "static_select", "action_id": TO_INPUT, "options": _options(people)}},
                {"type": "input", "block_id": REASON_BLOCK, "label": {"type": "plain_text", "text": "Why (required)"},
                 "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True}}]}
