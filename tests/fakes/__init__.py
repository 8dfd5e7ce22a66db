"""Loopback fakes of the Slack, Twilio and Google Calendar HTTP APIs for the real SDK clients."""

from .base import FakeServer, RecordedRequest, Response
from .gcal import FakeGoogleCalendar
from .heartbeat import FakeHeartbeat
from .slack import FakeSlack
from .twilio import FakeTwilio

__all__ = ["FakeGoogleCalendar", "FakeHeartbeat", "FakeServer", "FakeSlack", "FakeTwilio", "RecordedRequest",
           "Response"]
