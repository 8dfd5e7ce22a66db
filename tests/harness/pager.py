"""A pager you can drive by hand: the real services and store, a fixed clock, and a recording deliverer."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncallbot.bootstrap import build_procedure
from oncallbot.errors import DeliveryFailed
from oncallbot.services import paging
from oncallbot.services.delivery import Delivered, deliver_pending
from oncallbot.services.rotation import sync_rotation

from .clock import FakeClock
from .config import example_settings

LA = ZoneInfo("America/Los_Angeles")
# Tuesday 2026-11-24 22:00 local: Aisha (manager Omar, senior Rachel) is on call.
NIGHT = datetime(2026, 11, 24, 22, 0, tzinfo=LA)
OFFICE_HOURS = datetime(2026, 11, 24, 10, 0, tzinfo=LA)
MLK_MORNING = datetime(2027, 1, 18, 9, 0, tzinfo=LA)


class RecordingDeliverer:
    """Stands in for Slack and Twilio at the service boundary; `failures` makes a channel fail."""

    def __init__(self):
        self.sent = []
        self.failures: dict[tuple[str, str | None], DeliveryFailed] = {}
        self._ts = 0

    def deliver(self, message):
        key = (message.channel, message.person.id if message.person else None)
        if key in self.failures:
            raise self.failures[key]
        self.sent.append(message)
        self._ts += 1
        return Delivered(ref=f"ref-{self._ts}", slack_channel="C01SUPPORT", slack_ts=f"1700000000.{self._ts:06d}")

    def to(self, person_id, channel=None, kind=None):
        return [m for m in self.sent if m.person and m.person.id == person_id
                and (channel is None or m.channel == channel) and (kind is None or m.kind == kind)]

    def of_kind(self, kind):
        return [m for m in self.sent if m.kind == kind]

    def phone_calls_and_texts(self):
        return [(m.person.id, m.channel) for m in self.sent if m.channel in ("sms", "voice")]


class Pager:
    def __init__(self, store, now: datetime = NIGHT, **overrides):
        self.store = store
        self.settings = example_settings(**overrides)
        self.procedure = build_procedure(self.settings)
        self.clock = FakeClock(now)
        self.deliverer = RecordingDeliverer()
        from oncallbot.adapters.ical.source import ICalendarSource

        source = ICalendarSource(self.settings.resolve_path(self.settings.rotation.ical), self.settings.team.timezone)
        sync_rotation(store, source, self.procedure, self.clock.now())

    def open(self, summary="Voicemail from ACME: server down", **kw):
        page, created = paging.open_page(self.store, self.procedure,
                                         paging.NewPage(summary=summary, source=kw.pop("source", "api"), **kw),
                                         self.clock.now())
        self.deliver()
        return page

    def deliver(self):
        return deliver_pending(self.store, self.procedure, self.deliverer, self.clock.now())

    def advance(self, minutes: float):
        self.clock.advance(timedelta(minutes=minutes))
        fired = paging.fire_due_escalations(self.store, self.procedure, self.clock.now())
        self.deliver()
        return fired

    def ack(self, page_id, person_id, kind="on_it", channel="slack"):
        result = paging.acknowledge_page(self.store, self.procedure, page_id, person_id, kind, channel,
                                         self.clock.now())
        self.deliver()
        return result

    def page(self, page_id):
        return paging.get_page(self.store, page_id)


def run_concurrently(work, threads: int) -> list[Exception]:
    """Run `work()` on `threads` threads at once; the exceptions they raised."""
    errors: list[Exception] = []

    def guarded():
        try:
            work()
        except Exception as exc:  # returned to the test
            errors.append(exc)

    started = [threading.Thread(target=guarded) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return errors
