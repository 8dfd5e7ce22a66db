"""Routes each outbox message to Slack, Twilio or, without credentials, the console notifier."""

import threading
from datetime import datetime

from ..domain.messages import (
    CardPayload,
    Delivered,
    Found,
    Outgoing,
    PagePayload,
    SendCheck,
    ThreadPayload,
    VoicemailPayload,
    WritebackPayload,
)
from ..errors import DeliveryFailed, EditConflict, IntegrationError
from .console_notifier import ConsoleNotifier

LINE_TEST_HOLD_SECONDS = 120  # longer than the line rings anyone; the line ends the call before


class NotificationRouter:
    def __init__(self, console: ConsoleNotifier, public_url: str, slack=None, twilio=None, calendar=None, email=None):
        self.console, self.slack, self.twilio, self.calendar, self.email = console, slack, twilio, calendar, email
        self._calendar_lock = threading.Lock()  # httplib2, under the Google client, is not thread-safe
        self.public_url = public_url.rstrip("/")

    def deliver(self, message: Outgoing) -> Delivered:
        if message.channel == "slack":
            return self.slack.deliver(message) if self.slack else self._console(message)
        if message.channel == "email":
            return self.email.deliver(message) if self.email else self._console(message)
        if isinstance(message.payload, WritebackPayload):
            writeback = message.payload
            if self.calendar is None:
                raise DeliveryFailed("the rotation calendar is read-only here (rotation.source is ical): "
                                     "change it by hand", permanent=True)
            if not writeback.etag:  # queued before etags were stored: never write blind over an edit
                raise DeliveryFailed("the event's version is unknown, so it was not written (it could "
                                     "overwrite an edit)", permanent=True)
            # services.rotation queues a write-back only for a person of the team (it names them)
            assert message.person is not None
            try:
                with self._calendar_lock:
                    event = self.calendar.reassign(writeback.event_id, message.person.name, message.person.email,
                                                   etag=writeback.etag)
            except IntegrationError as exc:
                status = getattr(exc, "status", None)
                if status == 412:
                    raise EditConflict(str(exc)) from exc
                raise DeliveryFailed(str(exc), permanent=status is not None and 400 <= status < 500
                                     and status != 429) from exc
            return Delivered(ref=event.get("etag"))
        if message.person is None or not message.person.phone:
            raise DeliveryFailed(f"no phone number for {message.channel}", permanent=True)
        if self.twilio is None:
            return self._console(message)
        status_url = f"{self.public_url}/twilio/status"
        if message.channel == "sms":
            return Delivered(ref=self.twilio.send_sms(message.person.phone, message.text, status_url))
        if message.channel == "voice" and isinstance(message.payload, PagePayload) and message.payload.through_line:
            from .twilio.twiml import line_test_hold_twiml

            # The weekly test call: the bot calls its own office line and listens; the line's routing rings
            # the person with the customers' screening, and their keypress there confirms the page.
            return Delivered(ref=self.twilio.place_call(message.payload.through_line,
                                                        line_test_hold_twiml(LINE_TEST_HOLD_SECONDS), status_url))
        if message.channel == "voice" and isinstance(message.payload, PagePayload):
            from .twilio.twiml import page_call_twiml

            page_id = message.payload.page_id
            gather_url = f"{self.public_url}/twilio/voice?page={page_id}"
            # Asynchronous answering machine detection: a person hears the page at once; who picked up
            # (human or machine) arrives at /twilio/amd, and only the keypress confirms.
            amd_url = f"{self.public_url}/twilio/amd?page={page_id}"
            return Delivered(ref=self.twilio.place_call(message.person.phone, page_call_twiml(message.text, gather_url),
                                                        status_url, amd_callback=amd_url))
        if message.channel == "voice" and isinstance(message.payload, VoicemailPayload):
            from .twilio.twiml import voicemail_twiml

            return Delivered(ref=self.twilio.update_call(message.payload.call_sid, voicemail_twiml(message.text)))
        raise DeliveryFailed(f"unknown channel {message.channel}", permanent=True)

    def find_sent(self, message: Outgoing, since: datetime, until: datetime | None = None) -> Found:
        """Whether the provider has a send that was interrupted (services.delivery.reap_stale_sends). A text
        is matched by its body; a call carries nothing of ours, so the calls to that number are returned for
        the outbox to place by elimination. The console, the mailbox and the calendar cannot tell."""
        if message.channel == "slack":
            return self.slack.find_sent(message, since, until) if self.slack else Found(SendCheck.UNKNOWN)
        if self.twilio is None or message.person is None or not message.person.phone:
            return Found(SendCheck.UNKNOWN)
        phone = message.person.phone
        try:
            if message.channel == "sms":
                return Found(SendCheck.CANDIDATES,
                             refs=tuple(sid for sid, body in self.twilio.texts_since(phone, since, until)
                                        if body == message.text))
            if message.channel == "voice" and isinstance(message.payload, PagePayload):
                return Found(SendCheck.CANDIDATES, refs=tuple(self.twilio.calls_since(phone, since, until)))
        except DeliveryFailed:
            return Found(SendCheck.UNREACHABLE)
        return Found(SendCheck.UNKNOWN)  # a voicemail left on a live call, a calendar write-back, an email

    def _console(self, message: Outgoing) -> Delivered:
        if message.person:
            recipient = message.person.name
        elif isinstance(message.payload, (CardPayload, ThreadPayload)):
            recipient = f"#{message.target} thread of page {message.payload.card.id}"
        else:
            recipient = f"#{message.target}"
        text = message.text
        if isinstance(message.payload, CardPayload):
            card = message.payload.card
            text = f"page #{card.id} [{card.state}] {card.summary} (On It! due by {card.deadline})"
        ref = self.console.send(message.channel, recipient, text)
        if isinstance(message.payload, CardPayload) and not message.payload.update:
            return Delivered(ref=ref, slack_channel="console", slack_ts=f"console-{message.payload.card.id}")
        return Delivered(ref=ref)
