"""Idempotency keys of outbox rows: the one place that builds them. A key only deduplicates (the same
message is queued once); nothing reads a key back to learn what a row means: the row's own fields say it.
"""

from datetime import date, datetime


def page_card(page_id: int) -> str:
    return f"page:{page_id}:card"


def card_update(page_id: int, state: str, at: datetime) -> str:
    return f"page:{page_id}:card:{state}:{at.isoformat()}"


def acknowledged(page_id: int, state: str) -> str:
    return f"page:{page_id}:ack:{state}"


def escalated(page_id: int, at: datetime) -> str:
    return f"page:{page_id}:escalated:{at.isoformat()}"


def dismissed(page_id: int) -> str:
    return f"page:{page_id}:dismissed"


def step_reach(page_id: int, step: int, person_id: str) -> str:
    """Reaching one person for one step, on whichever channel: a row's `reach_key`. Its channels' keys are
    `on_channel(reach, channel)`, so a fallback to another channel is queued at most once per step."""
    return f"page:{page_id}:step:{step}:{person_id}"


def on_channel(reach: str, channel: str) -> str:
    return f"{reach}:{channel}"


def page_step(page_id: int, step: int, person_id: str, channel: str) -> str:
    return on_channel(step_reach(page_id, step, person_id), channel)


def step_office(page_id: int, step: int) -> str:
    return f"page:{page_id}:step:{step}:office"


def step_thread(page_id: int, step: int) -> str:
    return f"page:{page_id}:step:{step}:thread"


def digest(person_id: str, slot: str) -> str:
    return f"digest:{person_id}:{slot}"


def digest_reach(person_id: str, slot: str) -> str:
    """The fallbacks of a digest (another channel when its text fails) share one reach key."""
    return f"{digest(person_id, slot)}:fallback"


def done_reminder(page_id: int, on_it_at: datetime, number: int) -> str:
    return f"page:{page_id}:done-reminder:{on_it_at.isoformat()}:{number}"


def approver_report(subject: str, approver_id: str) -> str:
    """One DM per approver per reported subject (the subjects below, or a caller's own)."""
    return f"report:{subject}:{approver_id}"


# --- subjects of reports to the approvers -----------------------------------------------------------

def test_page_nobody(week: date) -> str:
    return f"test-page-nobody:{week}"


def job_missed(job: str, occasion: date) -> str:
    """A once-per-occasion job (the test page, the weekly report) skipped past its grace after downtime."""
    return f"job-missed:{job}:{occasion}"


def test_page_unconfirmed(page_id: int) -> str:
    return f"test-page-unconfirmed:{page_id}"


def test_page_resolved(page_id: int) -> str:
    """The approvers were alerted about the test page, then it was confirmed: told once."""
    return f"test-page-resolved:{page_id}"


WATCH_PREFIX = "watch:"  # the bot's alarms about itself: not counted as the outbox moving (store.outbox_state)


def watch_alert(check: str, episode: str, ended: bool = False) -> str:
    """The bot watching itself: a stuck outbox or a failing sync (`check`), one report per episode and one
    when it ends. `episode` names it by a value that holds while it lasts (domain.watch)."""
    return f"{WATCH_PREFIX}{check}:{episode}" + (":ended" if ended else "")


def watch_alert_on(subject: str, approver_id: str, channel: str) -> str:
    """A watch alert goes to each approver on every channel they have: one that still works gets it."""
    return f"{subject}:{approver_id}:{channel}"


def voicemail(call_sid: str) -> str:
    """The one voicemail left on a call a machine answered."""
    return f"voicemail:{call_sid}"


def opted_out(person_id: str, channel: str, day: date | None = None) -> str:
    return f"optout:{person_id}:{channel}" + (f":{day}" if day else "")


def delivery_failed(notification_id: int) -> str:
    return f"failed:{notification_id}"


def delivery_ambiguous(notification_id: int) -> str:
    return f"ambiguous:{notification_id}"


def writeback_failed(notification_id: int) -> str:
    return f"writeback:{notification_id}"


# --- swap requests ----------------------------------------------------------------------------------

def swap_message(request_id: str, person_id: str, step: str) -> str:
    """A DM about a request, once per person per transition (`step`: the state it moved to)."""
    return f"swap:{request_id}:{step}:{person_id}"


def swap_update(request_id: str, person_id: str, step: str) -> str:
    """The redraw of a person's DMs about a request after a transition."""
    return f"swap:{request_id}:{step}:{person_id}:update"


def swap_reminder(request_id: str) -> str:
    """The approvers' one reminder, 48 h before a request expires (an approver_report subject)."""
    return f"swap-reminder:{request_id}"


# --- the week's start -------------------------------------------------------------------------------

def handoff_post(week: date) -> str:
    """The handoff's post in the support channel, once per week."""
    return f"handoff:{week}:channel"


def handoff_dm(week: date, person_id: str) -> str:
    """The handoff's DM to the incoming or outgoing person, once per week each."""
    return f"handoff:{week}:{person_id}"


def week_reminder(week: date, person_id: str) -> str:
    """The reminder before a person's week, once per person and week."""
    return f"week-reminder:{week}:{person_id}"


def oncall_group_problem(group_id: str, problem: str) -> str:
    """The on-call user group cannot be kept (a missing scope, no user groups on the plan, an unknown group):
    told once per problem."""
    return f"oncall-group:{group_id}:{problem}"


def oncall_group_nobody(group_id: str, week: date) -> str:
    """Nobody (or nobody with a Slack id) is on call in a week: the group keeps its last member, told once."""
    return f"oncall-group-nobody:{group_id}:{week}"


def verification_code(person_id: str, number_tag: str, code_number: int) -> str:
    """The SMS carrying a verification code: once per number and code (`number_tag`: never the number)."""
    return f"verify:{person_id}:{number_tag}:code:{code_number}"


def verification_dm(person_id: str, number_tag: str, code_number: int) -> str:
    """The Slack DM that goes with a code's SMS, with the button to type it in Slack."""
    return f"verify:{person_id}:{number_tag}:dm:{code_number}"


def verification_reminder(person_id: str, number_tag: str) -> str:
    """The person's one reminder that their number is still unverified after 48 hours."""
    return f"verify:{person_id}:{number_tag}:reminder"


def verification_overdue(person_id: str, number_tag: str) -> str:
    """The approvers' subject for the same reminder."""
    return f"verify-overdue:{person_id}:{number_tag}"


# --- inbound events: handled once, recorded in the transaction of what they changed ----------------------

def slack_event(event_id: str) -> str:
    """A Slack Events API delivery (its `event_id`, the same on Slack's retries)."""
    return f"slack:{event_id}"


def twilio_sms(message_sid: str) -> str:
    """An SMS Twilio posted to us (its `MessageSid`, the same when the webhook is sent again)."""
    return f"twilio-sms:{message_sid}"


# --- the support mailbox -------------------------------------------------------------------------------

def mail_message(message_id: str) -> str:
    """An email handled once, however many replicas or restarts see it (an inbound dedupe key)."""
    return f"mail:{message_id}"


def mail_grouped(page_id: int, message_id: str) -> str:
    """The thread line of one more email from a storming sender, joined to their latest page."""
    return f"page:{page_id}:mail-grouped:{message_id}"


def mail_reply(page_id: int, message_id: str) -> str:
    """The thread line of a reply by email that is no acknowledgment (or not counted as one)."""
    return f"page:{page_id}:mail-reply:{message_id}"


def mailbox_unreachable(mailbox: str, since: datetime) -> str:
    """The approvers hear once per outage that the mailbox cannot be read, and once that it can again."""
    return f"mailbox-unreachable:{mailbox}:{since.isoformat()}"


def mailbox_reachable(mailbox: str, since: datetime) -> str:
    return f"mailbox-reachable:{mailbox}:{since.isoformat()}"


def report_email(subject: str, person_id: str) -> str:
    """The weekly report's copy by email (report.email), once per approver."""
    return f"report:{subject}:{person_id}:email"


def sign_in_link(person_id: str, link_id: str) -> str:
    """The DM carrying one sign-in link (a new link each time it is asked for; `link_id` names it)."""
    return f"web-sign-in:{person_id}:{link_id}"


def feed_link(person_id: str, link_id: str) -> str:
    return f"feed-link:{person_id}:{link_id}"


# --- the office line ---------------------------------------------------------------------------------

def line_failure(call_sid: str, where: str) -> str:
    """The office line failed on a call (the caller got the voicemail greeting): the approvers told once."""
    return f"line-failure:{call_sid}:{where}"


def transcribed(page_id: int) -> str:
    """The thread line saying a voicemail's transcription arrived (or failed), once."""
    return f"page:{page_id}:transcribed"


def missed_call(page_id: int) -> str:
    return f"page:{page_id}:missed-call"
