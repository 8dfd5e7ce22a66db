"""A calendar feed written as iCalendar (RFC 5545) with the icalendar library: one event per on-call week, its
exact start and end in the team's zone (with the zone's VTIMEZONE), a UID that stays with the week and a
SEQUENCE that grows with each change of it, so Google Calendar, Outlook and Apple Calendar update in place."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from ...domain.web import FeedWeek

PRODID = "-//oncallbot//on-call rotation//EN"


def feed_ics(weeks: Sequence[FeedWeek], name: str, timezone: str, generated_at: datetime) -> bytes:
    tz = ZoneInfo(timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", timezone)
    # How often a calendar app should fetch it again (RFC 7986; Outlook reads X-PUBLISHED-TTL).
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", timedelta(hours=1))
    for week in weeks:
        event = Event()
        event.add("uid", week.uid)
        event.add("dtstamp", generated_at)
        event.add("dtstart", week.start_at.astimezone(tz))
        event.add("dtend", week.end_at.astimezone(tz))
        event.add("sequence", week.sequence)
        event.add("summary", f"On call: {week.person_name}" + (" (swapped)" if week.changed else ""))
        event.add("transp", "TRANSPARENT")  # on call is not busy: the calendar must not block meetings
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
