"""The outbox's and the timeline's words, in one place. Each value is the string stored in the database
today, so adopting the enums needed no migration.

- MessageKind: what an outbox row is (a page's Slack card, a line in its thread, a call or text, ...).
- Channel: how it travels.
- NotificationState: where an outbox row stands; `grouped` rows are deliberately never sent (a digest
  covers them), `ambiguous` ones were interrupted mid-send and are never re-sent.
- PageState: where a page stands; `dismissed` is closed as not a ticket.
- PageEventKind: the lines of a page's timeline.
"""

from enum import StrEnum


class MessageKind(StrEnum):
    CARD = "card"  # the page's Slack message with its buttons
    CARD_UPDATE = "card_update"  # the same message, redrawn after a change
    THREAD = "thread"  # a line in the page's Slack thread
    CHANNEL = "channel"  # a post in a team channel (the office's)
    PAGE = "page"  # a page to a person: SMS, call or Slack DM
    DIGEST = "digest"  # one text for several pages waiting on a person
    REPORT = "report"  # a DM to a person: approvers' reports, rotation changes
    REMINDER = "reminder"  # "is it done?" to whoever holds a page at On It!
    WRITEBACK = "writeback"  # an approved change written to the rotation calendar
    SWAP = "swap"  # a DM about a swap request, with the buttons this recipient may press
    SWAP_UPDATE = "swap_update"  # the DMs already sent about a request, redrawn after a transition
    VOICEMAIL = "voicemail"  # words left on a page call a machine answered (the live call's TwiML replaced)
    VERIFY = "verify"  # a DM asking a person to verify their number, with the button that opens the code form


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    SLACK = "slack"
    CALENDAR = "calendar"
    EMAIL = "email"  # SMTP, to team members only


PHONE_CHANNELS = (Channel.SMS, Channel.VOICE)


class NotificationState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    GROUPED = "grouped"


class PageState(StrEnum):
    OPEN = "open"
    ON_IT = "on_it"
    DONE = "done"
    DISMISSED = "dismissed"


class PageEventKind(StrEnum):
    OPENED = "opened"
    STEP = "step"
    GROUPED = "grouped"
    THROTTLED = "throttled"
    NOTIFIED = "notified"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERY_AMBIGUOUS = "delivery_ambiguous"
    ON_IT = "on_it"
    DONE = "done"
    ESCALATED = "escalated"
    DISMISSED = "dismissed"
    REMINDED = "reminded"
    REMINDER_SKIPPED = "reminder_skipped"
    DELIVERED = "delivered"  # Twilio's status: a text delivered, a call picked up (detail: the status)
    VOICEMAIL = "voicemail"  # words left on a call a machine answered
    EMAIL = "email"  # a reply by email in the page's thread (detail: who, masked, and its first words)
    NOT_COUNTED = "not_counted"  # an emailed On It!/Done that did not count (detail: why)
    ANSWERED = "answered"  # who picked up a call: human, machine or unknown (detail; Twilio's AnsweredBy after)
    RANG = "rang"  # the office line rang a person who did not take the call (detail: why)
    MISSED_CALL = "missed_call"  # the caller hung up without leaving a message
    TRANSCRIBED = "transcribed"  # a voicemail's transcription arrived, or failed (detail)
    LINE_TEST = "line_test"  # the weekly test call through the office line: what happened (detail)


class SlackTarget(StrEnum):
    """The team channels a message can go to (configured as slack.support_channel and slack.office_channel)."""

    SUPPORT = "support"
    OFFICE = "office"
