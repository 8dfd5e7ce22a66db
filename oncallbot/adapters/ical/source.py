"""Reads the rotation from an iCalendar file or URL (what Google Calendar exports).

recurring-ical-events expands RRULE, EXDATE, RECURRENCE-ID and TZID; floating times are read in the
team's zone. It also yields cancelled occurrences (STATUS:CANCELLED, which is how a calendar exports one
deleted week of a series: a RECURRENCE-ID override that cancels it); they name nobody, so they are left out
and the week is a hole.
"""

import urllib.request
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from ...domain.rotation import CalendarEvent
from ...errors import IntegrationError
from ...services.rotation import CalendarFetch

FETCH_TIMEOUT_SECONDS = 15


class ICalendarSource:
    def __init__(self, location: str, timezone: str):
        self.location = location
        self.tz = ZoneInfo(timezone)
        self.key = f"ical:{location}"

    def fetch(self, sync_token: str | None, start_at: datetime, end_at: datetime) -> CalendarFetch:
        """An iCalendar file has no change feed: every fetch is a full one."""
        return CalendarFetch(full=True, events=self.events_between(start_at, end_at), removed_ids=[])

    def _read(self) -> bytes:
        try:
            if self.location.startswith(("http://", "https://")):
                with urllib.request.urlopen(self.location, timeout=FETCH_TIMEOUT_SECONDS) as response:
                    return response.read()
            with open(self.location, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise IntegrationError(f"cannot read the rotation calendar {self.location}: {exc}") from exc

    def events_between(self, start_at: datetime, end_at: datetime) -> list[CalendarEvent]:
        try:
            import icalendar  # here, not at the top: `who` and the other commands that do not sync start faster
            import recurring_ical_events

            calendar = icalendar.Calendar.from_ical(self._read())
            occurrences = recurring_ical_events.of(calendar).between(start_at, end_at)
        except (ValueError, KeyError) as exc:
            raise IntegrationError(f"the rotation calendar {self.location} is not valid iCalendar: {exc}") from exc
        return [self._event(component) for component in occurrences
                if component.name == "VEVENT" and str(component.get("STATUS", "")).upper() != "CANCELLED"]

    def _aware(self, value: date | datetime) -> datetime:
        if not isinstance(value, datetime):
            return datetime.combine(value, time(0), tzinfo=self.tz).astimezone(UTC)
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        return value.astimezone(UTC)

    def _event(self, component) -> CalendarEvent:
        start = component.decoded("DTSTART")
        end = component.decoded("DTEND") if "DTEND" in component else start + component.decoded("DURATION")
        attendees = component.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        emails = tuple(str(a).removeprefix("mailto:").removeprefix("MAILTO:") for a in attendees)
        start_at = self._aware(start)
        return CalendarEvent(
            event_id=f"{component.get('UID', '')}@{start_at.isoformat()}",
            summary=str(component.get("SUMMARY", "")),
            start_at=start_at,
            end_at=self._aware(end),
            all_day=not isinstance(start, datetime),
            attendee_emails=emails,
        )
