"""What people read and hear: every outbox text is composed here, when the message is queued, so the row
in the outbox says exactly what its recipient gets. (The Slack card's blocks are laid out by the Slack
adapter from the card; its plain-text fallback is `card_text`.)"""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo

from .confirmation import ChannelOutcome
from .vocabulary import Channel

CHANNEL_WORDS = {"sms": "SMS", "voice": "call", "slack": "Slack", "email": "email"}
NOTIFY_WORDS = {"oncall": "on call", "manager": "direct manager", "senior_managers": "senior manager",
                "approvers": "approver", "office": "office"}
SMS_SUMMARY_SHOWN = 60


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


# --- pages to people -------------------------------------------------------------------------------

def escalation_note(escalated_by: str, reason: str | None) -> str:
    """Why a page a person sent up the chain reached the next one."""
    return f"Escalated by {escalated_by}: {reason}" if reason else f"Escalated by {escalated_by}."


def page_text(channel: str, page_id: int, summary: str, escalation: str | None = None) -> str:
    """A page to a person by `channel`; `escalation` is the `escalation_note` of a page sent up the chain."""
    if channel == Channel.SMS:
        why = f" -- {escalation}" if escalation else ""
        return f"[oncallbot] Page #{page_id}: {summary}{why} -- reply 1 for On It!, DONE when resolved."
    if channel == Channel.VOICE:
        if escalation:  # read out as its own sentence
            return f"On-call page number {page_id}. {_sentence(summary)} {_sentence(escalation)}"
        return f"On-call page number {page_id}. {summary}"
    why = f"\n{escalation}" if escalation else ""
    return f"Page #{page_id} needs an On It!: {summary}{why}"


def digest_body(page_id: int) -> str:
    return f"Page #{page_id} and more are waiting for you. Reply 1 to take them all, or see Slack."


def digest_text(page_id: int) -> str:
    return f"[oncallbot] {digest_body(page_id)}"


def office_text(page_id: int, summary: str) -> str:
    return f"Page #{page_id} has no On It! yet: {summary}"


def done_reminder_text(channel: str, page_id: int, summary: str, since: str) -> str:
    """`since`: when the holder said On It!, as "Tue 22:01"."""
    if channel == Channel.SMS:
        shown = summary if len(summary) <= SMS_SUMMARY_SHOWN else summary[:SMS_SUMMARY_SHOWN - 3] + "..."
        return f"[oncallbot] Page #{page_id} '{shown}' is still On It! -- reply DONE {page_id} when resolved"
    return (f"Page #{page_id} has been On It! with you since {since}: {summary}\n"
            "Is it done? Press Done when it is resolved.")


# --- the page's card and thread ----------------------------------------------------------------------

def card_text(page_id: int, summary: str) -> str:
    return f"Page #{page_id}: {summary}"


def reached_text(name: str, notify: str, channels: Sequence[str], unverified: bool = False) -> str:
    """`unverified`: their number has not been confirmed with a code (it is paged all the same)."""
    by = ", ".join(CHANNEL_WORDS[c] + (" (unverified number)" if unverified and c in ("sms", "voice") else "")
                   for c in channels)
    return f"{name} ({NOTIFY_WORDS[notify]}) by {by}"


UNVERIFIED = "unverified number"


def unverified_note(name: str) -> str:
    """Added to the approvers' messages about a page whose on-call person's number was never confirmed."""
    return f"Note: {name}'s phone number is unverified (no code confirmed yet), so texts and calls may not reach them."


OFFICE_REACHED = "the office channel"


def step_line(number: int, planned_steps: int, reached: Sequence[str]) -> str:
    """The thread line of step `number` (0-based) of a plan of `planned_steps` before its repeats."""
    repeat = f" (repeat {number - planned_steps + 1})" if number >= planned_steps else ""
    return f"Step {number + 1}{repeat}: paging " + ("; ".join(reached) if reached else "nobody reachable")


def ack_line(kind: str, name: str, at: str, channel: str) -> str:
    """`at`: the local time, "22:16"."""
    label = "On It!" if kind == "on_it" else "Done"
    return f"{label} {name} at {at} (via {CHANNEL_WORDS.get(channel, channel)})"


def escalated_line(name: str, reason: str) -> str:
    return f"Escalated by {name}: {reason}"


def dismissed_line(name: str) -> str:
    return f"Closed as not a ticket by {name}"


def test_page_summary(name: str) -> str:
    return (f"Test page for {name}'s on-call week: press 1 on the call, reply 1 to the text or press Confirm in "
            f"Slack to confirm that pages reach you")


# --- reports to the approvers ------------------------------------------------------------------------

def test_page_nobody_text(week_label: str) -> str:
    return f"No test page for the week of {week_label}: nobody is on call in the calendar."


def job_missed_text(what: str, due_label: str, grace: str) -> str:
    return (f"The {what} due {due_label} was not sent: no replica of the bot was running then, and it came back "
            f"more than {grace} later. Check by hand that it is not needed.")


def test_page_unconfirmed_text(page_id: int, name: str, outcomes: Sequence[ChannelOutcome] = (),
                               tz: tzinfo | None = None, unverified: bool = False) -> str:
    """The alert to the approvers: who did not confirm, and what happened on each channel."""
    detail = "; ".join(channel_outcome_text(o, tz) for o in outcomes)
    who = f"{name} ({UNVERIFIED})" if unverified else name
    return (f"Test page #{page_id} was not confirmed by {who}" + (f" ({detail})" if detail else "")
            + ": calls may not be reaching the on-call person.")


def test_page_resolved_text(page_id: int, name: str, at: str, channel: str) -> str:
    """After the alert, a confirmation came: `at` the local time, "18:31"."""
    return (f"Resolved: test page #{page_id} was confirmed by {name} at {at} "
            f"(via {CHANNEL_WORDS.get(channel, channel)}), after you were alerted.")


def outbox_stuck_text(waiting: int, oldest_age: str, last_sent: str | None) -> str:
    """The bot's own alert: nothing leaves the outbox. `oldest_age` "7 min"; `last_sent` a local time."""
    since = f"since {last_sent}" if last_sent else "yet"
    return (f"oncallbot: nothing was sent {since}, and {waiting} message{'s' if waiting != 1 else ''} "
            f"{'are' if waiting != 1 else 'is'} waiting (the oldest for {oldest_age}). Pages may not be reaching "
            "anyone: check the bot's log, and Slack's and Twilio's status.")


def outbox_moving_text(at: str) -> str:
    return f"oncallbot: resolved: messages are being sent again (checked at {at})."


def sync_failing_text(last_sync: str | None, failing_for: str) -> str:
    last = f"the last good sync was at {last_sync}" if last_sync else "it has never synced"
    return (f"oncallbot: the rotation calendar has not synced for over {failing_for} ({last}). Paging goes on "
            "from the stored rotation, but calendar changes are not seen: run `oncallbot sync` to see why.")


def sync_recovered_text(at: str) -> str:
    return f"oncallbot: resolved: the rotation calendar synced again at {at}."


def _at(at: datetime | None, tz: tzinfo | None) -> str:
    return f"{at.astimezone(tz):%H:%M}" if at else ""


def channel_outcome_text(outcome: ChannelOutcome, tz: tzinfo | None = None) -> str:
    """"call answered by voicemail at 18:02, no keypress", "SMS delivered, no reply", "Slack DM sent, no Confirm"."""
    confirmed = f"confirmed at {_at(outcome.confirmed_at, tz)}" if outcome.confirmed_at else None
    status = outcome.delivery_status
    if outcome.channel == Channel.VOICE:
        if outcome.line is not None:  # the test call went through the office line: which part failed
            return f"call through the office line: {outcome.line}" + (f", {confirmed}" if confirmed else "")
        if outcome.sent_at is None:
            return "call not placed"
        if outcome.answered is not None and outcome.answered_at is not None:
            who = {"human": "a person", "machine": "voicemail", "unknown": "someone or something (not told apart)"}
            text = f"call answered by {who[outcome.answered]} at {_at(outcome.answered_at, tz)}"
        elif outcome.delivered:
            text = "call picked up"
        elif status:
            text = f"call not answered ({status})" if status not in ("queued", "initiated", "ringing") \
                else f"call {status}"
        else:
            text = "call placed"
        return f"{text}, {confirmed or 'no keypress'}"
    if outcome.channel == Channel.SMS:
        if outcome.sent_at is None:
            return "SMS not sent"
        text = "SMS delivered" if outcome.delivered else (f"SMS not delivered ({status})" if status in (
            "undelivered", "failed") else "SMS sent")
        return f"{text}, {confirmed or 'no reply'}"
    if outcome.sent_at is None:
        return "Slack DM not sent"
    return f"Slack DM sent, {confirmed or 'no Confirm pressed'}"


def voicemail_text(page_id: int, test_page: bool) -> str:
    """Left on a page call a machine answered: a voicemail never confirms a page."""
    if test_page:
        return ("This is the on-call bot's weekly test page. A voicemail does not confirm it: reply 1 to the text, "
                "or press Confirm in Slack.")
    return f"This is the on-call bot. Page number {page_id} is waiting for you. Please check Slack."


def opted_out_text(name: str, channel: str) -> str:
    return (f"{name} has opted out of {channel.upper()} (replied STOP). Pages reach them by their other "
            f"channels until they text START.")


def unreachable_text(name: str, channel: str, page_id: int | None, error: str) -> str:
    return f"Could not reach {name} by {channel} for page #{page_id}: {error}"


def not_delivered_text(channel: str, name: str, page_id: int | None, status: str) -> str:
    return f"A {channel} to {name} for page #{page_id} was not delivered ({status})."


def ambiguous_text(channel: str, name: str, page_id: int | None) -> str:
    return (f"A {channel} to {name} for page #{page_id} may not have been sent (interrupted mid-send, and the "
            f"provider could not tell). It was not repeated.")


def writeback_conflict_text(change: str, event_id: str | None, error: str) -> str:
    return (f"Did not write an approved change to the rotation calendar ({change}, event {event_id}): "
            f"{error}. Check the event, and make the change by hand if it still holds.")


def writeback_failed_text(change: str, event_id: str | None, attempts: int, error: str) -> str:
    return (f"Could not write an approved change to the rotation calendar ({change}, event {event_id}) "
            f"after {attempts} attempt(s): {error}. Please change the calendar by hand.")


# Why the on-call user group could not be updated, by problem (services.oncall_group names them).
_GROUP_PROBLEMS = {
    "missing_scope": "the Slack app lacks the usergroups:write scope: add it in the app's settings "
                     "(config/slack-app-manifest.yaml has it) and reinstall the app",
    "no_user_groups": "this Slack workspace has no user groups (a paid plan is needed) or the bot's token "
                      "may not manage them: upgrade, or remove slack.oncall_usergroup",
    "no_such_subteam": "Slack does not know this user group: check slack.oncall_usergroup (the group's id, "
                       "S..., not its @handle)",
    "restricted": "the workspace restricts who may change user groups: allow the app to, in the workspace's "
                  "settings",
}


def oncall_group_problem_text(group_id: str, problem: str) -> str:
    why = _GROUP_PROBLEMS.get(problem, f"Slack answered {problem}")
    return (f"The on-call user group {group_id} cannot be kept to the person on call: {why}. "
            "oncallbot keeps trying quietly and updates the group once this is fixed.")


def oncall_group_nobody_text(group_id: str, week_label: str, name: str | None) -> str:
    who = f"{name} has no Slack user id in the config" if name else "nobody is on call"
    return (f"The on-call user group {group_id} keeps its last member for the week of {week_label}: {who} "
            "(a Slack user group cannot be empty).")


# --- contact details (issue 10, items 7 and 8) -------------------------------------------------------------

def verification_sms(team: str, code: str, minutes: int) -> str:
    """The one place a code is written: the SMS to the number it verifies."""
    return (f"{team} on-call bot: your code is {code}. Reply with it to confirm this is your number, or type it in "
            f"Slack (the bot's Home tab, Verify my number). It expires in {minutes} minutes.")


def verification_dm_text(masked_phone: str) -> str:
    return (f"We texted a code to your phone number {masked_phone} to check that on-call texts and calls reach you. "
            "Reply to the text with it, or press Verify my number and type it here.")


VERIFIED_REPLY = "Thank you: this number is verified for on-call texts and calls."
ALREADY_VERIFIED_REPLY = "This number is already verified; nothing changed."
WRONG_CODE_REPLY = "That is not the code we sent. Check the text and try again."
EXPIRED_CODE_REPLY = "That code has expired; a new one was texted to you."
LOCKED_CODE_REPLY = ("Too many wrong codes. A new code is texted to you once this one expires "
                     "(within 30 minutes); try again with it.")
NO_NUMBER_REPLY = "There is no phone number waiting to be verified for you."


def verification_reminder_text(name: str) -> str:
    return (f"{name}, your phone number is still unverified after 48 hours: on-call texts and calls may not reach you. "
            "Reply to the bot's text with its code, or press Verify my number in the bot's Home tab in Slack.")


def verification_overdue_text(name: str) -> str:
    return (f"{name}'s phone number is still unverified after 48 hours: they have not confirmed the code texted to "
            "it. Pages still go to it; check it with them (`oncallbot contacts`).")


def channel_order_text(channels: Sequence[str]) -> str:
    return " → ".join(CHANNEL_WORDS.get(c, c) for c in channels)


def channel_order_saved(channels: Sequence[str]) -> str:
    return (f"Saved: escalation steps now reach you by {channel_order_text(channels)} (only the channels each step "
            "uses, in this order).")


# --- the support mailbox ---------------------------------------------------------------------------------

def mail_grouped_line(sender: str, count: int, subject: str) -> str:
    """One more new email from a sender past email.max_pages_per_sender within the hour: no new page."""
    return f"Email {count} within the hour from {sender}, added here instead of a new page: {subject}"


def mail_reply_line(sender: str, words: str) -> str:
    return f"Reply by email from {sender}: {words}" if words else f"Reply by email from {sender}"


def mail_not_counted_line(kind: str, name: str) -> str:
    label = "On It!" if kind == "on_it" else "Done"
    return (f"{label} by email from {name} not counted: unauthenticated (no DKIM or DMARC pass from the team's "
            "mail server). Answer in Slack or by phone.")


def mailbox_unreachable_text(mailbox: str, reason: str) -> str:
    return (f"The support mailbox {mailbox} cannot be read ({reason}): emailed tickets are not becoming pages. "
            "The bot keeps retrying; you will hear when it works again.")


def mailbox_reachable_text(mailbox: str, since: str) -> str:
    return f"The support mailbox {mailbox} is readable again (it was not since {since}); nothing was missed."


# --- the web view and the calendar feeds --------------------------------------------------------------

SIGN_IN_INVALID = "This sign-in link is not valid. Ask for a new one with /oncall web in Slack."
SIGN_IN_USED = "This sign-in link was already used. Ask for a new one with /oncall web in Slack."
SIGN_IN_EXPIRED = ("This sign-in link has expired (links last 10 minutes). "
                   "Ask for a new one with /oncall web in Slack.")
NOT_ON_TEAM = "You are not on the on-call team."
WEB_VIEW_INVITE = "The quarter at a glance, open pages, swaps and response times: the web view."
SIGNED_OUT = "You are not signed in. Ask for a sign-in link with /oncall web in Slack."
APPROVERS_ONLY = "Only approvers (swaps.approvers) can see and decide the swap queue."
CSRF_REFUSED = "This form has expired or did not come from the web view; reload the page and try again."
FEED_TEAM_APPROVERS_ONLY = "The team's calendar feed is for approvers only; here is your own."


def sign_in_dm(url: str) -> str:
    return (f"Your sign-in link to the on-call web view (valid 10 minutes, usable once): {url}\n"
            "Do not share it: it signs in as you.")


def feed_dm(url: str, team_url: str | None) -> str:
    text = (f"Your private on-call calendar: {url}\nSubscribe to it in Google Calendar, Outlook or Apple Calendar; "
            "it lists your on-call weeks, swaps included. Do not share it. "
            "To stop it working, ask an approver to run `oncallbot feeds revoke`.")
    if team_url:
        text += f"\nThe team's calendar (every week, for approvers): {team_url}"
    return text


# --- the office line ---------------------------------------------------------------------------------

NO_TRANSCRIPTION = "no transcription"


def screen_prompt(team: str) -> str:
    """What the person rung hears before the caller is connected."""
    return f"Support call for {team}, press 1 to take it."


def call_taken_summary(caller: str, name: str) -> str:
    return f"Call from {caller}, taken by {name}"


def voicemail_summary(caller: str, duration: str) -> str:
    """`duration` as "0:42"."""
    return f"Voicemail from {caller}, {duration}"


def missed_call_summary(caller: str) -> str:
    return f"Missed call from {caller}"


def missed_call_detail(ringing: bool, seconds: int | None) -> str:
    if ringing:
        return "the caller hung up while the line was ringing"
    return f"the caller hung up without leaving a message ({seconds or 0} s of audio)"


def rang_detail(name: str, failure: str) -> str:
    return f"rang {name}: {failure}"


def voicemail_goodbye() -> str:
    return "Thank you. Your message has been passed on. Goodbye."


def test_call_confirmed() -> str:
    return "Test call confirmed: a customer's call reaches you. Goodbye."


def line_failure_text(caller: str, where: str, error: str) -> str:
    return (f"The office line failed on a call from {caller} ({where}: {error}). The caller was offered the "
            "voicemail greeting; check the pages and the Twilio console for the message.")


def transcription_line(ok: bool) -> str:
    return "Transcription added to the card." if ok else "Transcription failed: listen to the recording."


def slack_grouped_dm(texts: list[str]) -> str:
    """Several DMs to one person that backed up behind Slack's pace, sent as one."""
    return f"{len(texts)} messages for you (grouped while Slack was busy):\n\n" + "\n\n".join(texts)


def slack_grouped_lines(texts: list[str]) -> str:
    """A page's thread lines that backed up, posted as one."""
    return "\n".join(texts)


# --- a storm's cards, folded into one message (domain.pacing) ----------------------------------------

STORM_SUMMARIES_SHOWN = 5  # the commonest summaries, with their counts
STORM_SUMMARY_SHOWN = 100  # characters of each
STORM_RUNS_SHOWN = 6  # runs of consecutive page numbers listed; beyond, the first and the last
STORM_REPLY_HINT = ("This message stands for many pages, so a reply here needs the page's number: "
                    "`on it #42` or `done #42`. `/oncall pages` lists the open pages.")


def _slack_escaped(text: str) -> str:
    """A caller's words in Slack mrkdwn: on one line, never a link or a mention."""
    return " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _page_runs(page_ids: Sequence[int]) -> str:
    ids = sorted(set(page_ids))
    runs: list[tuple[int, int]] = []
    for page_id in ids:
        if runs and page_id == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], page_id)
        else:
            runs.append((page_id, page_id))
    if len(runs) > STORM_RUNS_SHOWN:
        return f"#{ids[0]} to #{ids[-1]}, not all in between"
    return ", ".join(f"#{a}" if a == b else f"#{a}–#{b}" for a, b in runs)


def storm_text(pages: Sequence[tuple[int, str, datetime]], tz: tzinfo, pages_url: str | None) -> str:
    """The storm message: `pages` (id, summary, opened at) folded into it instead of a card each; the
    commonest summaries; where to act on them. Bounded whatever the number of pages (Slack's limits)."""
    count = len(pages)
    times = sorted(at.astimezone(tz) for _, _, at in pages)
    first, last = f"{times[0]:%H:%M}", f"{times[-1]:%H:%M}"
    when = first if first == last else f"{first}–{last}"
    noun = "page" if count == 1 else "pages"
    lines = [f":zap: *Storm: {count} more {noun}* opened {when} ({_page_runs([p for p, _, _ in pages])}), not posted "
             "one by one (Slack allows about one message a second)."]
    commonest = Counter(" ".join(summary.split()) for _, summary, _ in pages).most_common(STORM_SUMMARIES_SHOWN)
    repeated = commonest[0][1] > 1  # else every summary differs: a few of them, without counts
    shown = []
    for summary, n in commonest:
        cut = summary if len(summary) <= STORM_SUMMARY_SHOWN else summary[:STORM_SUMMARY_SHOWN - 1] + "…"
        shown.append(f"• {n} × {_slack_escaped(cut)}" if repeated else f"• {_slack_escaped(cut)}")
    heading = "Most common:\n" if repeated else ("For example:\n" if count > 1 else "")
    lines.append(heading + "\n".join(shown))
    where = ["reply in this thread `on it #N` or `done #N`", "`/oncall pages` lists the open pages"]
    if pages_url:
        where.append(f"the web view's pages list: <{pages_url}|open pages>")
    where.append("by text: reply `on it #N` to the page's SMS")
    lines.append("Each page still escalates on its own. To act on one: " + "; ".join(where) + ".")
    return "\n\n".join(lines)


def storm_thread_line(page_id: int, line: str) -> str:
    """A line of a page folded into a storm message, in that message's thread (where many pages' lines go)."""
    return f"Page #{page_id}: {line}"
