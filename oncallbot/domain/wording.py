"""What people read and hear: every outbox text is composed here, when the message is queued, so the row
in the outbox says exactly what its recipient gets. (The Slack card's blocks are laid out by the Slack
adapter from the card; its plain-text fallback is `card_text`.)"""

from collections.abc import Sequence
from datetime import datetime, tzinfo

from .confirmation import ChannelOutcome
from .vocabulary import Channel

CHANNEL_WORDS = {"sms": "SMS", "voice": "call", "slack": "Slack"}
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


def reached_text(name: str, notify: str, channels: Sequence[str]) -> str:
    return f"{name} ({NOTIFY_WORDS[notify]}) by " + ", ".join(CHANNEL_WORDS[c] for c in channels)


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
                               tz: tzinfo | None = None) -> str:
    """The alert to the approvers: who did not confirm, and what happened on each channel."""
    detail = "; ".join(channel_outcome_text(o, tz) for o in outcomes)
    return (f"Test page #{page_id} was not confirmed by {name}" + (f" ({detail})" if detail else "")
            + ": calls may not be reaching the on-call person.")


def test_page_resolved_text(page_id: int, name: str, at: str, channel: str) -> str:
    """After the alert, a confirmation came: `at` the local time, "18:31"."""
    return (f"Resolved: test page #{page_id} was confirmed by {name} at {at} "
            f"(via {CHANNEL_WORDS.get(channel, channel)}), after you were alerted.")


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
    return (f"A {channel} to {name} for page #{page_id} may not have been sent (interrupted mid-send). "
            f"It was not repeated.")


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
