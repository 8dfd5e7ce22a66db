"""Rotation calendars for the tests of what a sync stores: a list of weeks, and calendars written the way teams
publish them (one open-ended weekly series per person), as an .ics file and in the fake Google Calendar."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oncallbot.adapters.gcal.calendar import GoogleCalendarSource, build_calendar_service
from oncallbot.adapters.ical.source import ICalendarSource
from oncallbot.bootstrap import build_procedure
from oncallbot.domain.rotation import CalendarEvent
from oncallbot.services.rotation import CalendarFetch, who_is_on_call

from .config import example_settings
from .gcal import service_account_file

LA = ZoneInfo("America/Los_Angeles")
PROCEDURE = build_procedure(example_settings())
CALENDAR = "rotation@group.calendar.google.com"
FIRST_WEEK = date(2027, 1, 4)  # a Monday; Kelly has it, Marcus the next, and so on, for ever
PAIR = ("kelly", "marcus")
EMAILS = {p.id: p.email for p in PROCEDURE.team.people}
NAMES = {p.id: p.name for p in PROCEDURE.team.people}


def week_event(week_start: date, who: str) -> CalendarEvent:
    """One on-call week of `who`, as a calendar event of exactly the week's window."""
    start, end = PROCEDURE.window.bounds(week_start)
    return CalendarEvent(f"{who}-{week_start}", f"On call: {who}", start.astimezone(LA), end.astimezone(LA))


class ListSource:
    """A rotation source that returns the events it was given (or raises the exception it was given)."""

    key = "test:list"

    def __init__(self, events):
        self.events = events

    def fetch(self, sync_token, start_at, end_at):
        if isinstance(self.events, Exception):
            raise self.events
        return CalendarFetch(full=True, events=list(self.events), removed_ids=[])


def owner_of(week_start: date) -> str:
    """Who the alternating series name for a week."""
    return PAIR[((week_start - FIRST_WEEK).days // 7) % 2]


def night_of(week_start: date) -> datetime:
    """Tuesday 22:00 of the week: after hours, so the on-call person is responsible."""
    return datetime.combine(week_start + timedelta(days=1), time(22, 0), LA)


def on_call(store, at: datetime) -> str | None:
    current = who_is_on_call(store, PROCEDURE, at).neighbours.current
    return current.person_id if current else None


# -- iCalendar ---------------------------------------------------------------------------------------


def ics(*events: str) -> str:
    body = "\n".join(f"BEGIN:VEVENT\nDTSTAMP:20260101T000000Z\n{e.strip()}\nEND:VEVENT" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}\nEND:VCALENDAR\n".replace("\n", "\r\n")


def ics_local(at: date, clock: str = "180100") -> str:
    return f"TZID=America/Los_Angeles:{at:%Y%m%d}T{clock}"


def ics_series(person_id: str, first_week: date, interval: int = 2) -> str:
    return f"""
UID:{person_id}-series
SUMMARY:On call: {NAMES[person_id]}
DTSTART;{ics_local(first_week)}
DTEND;{ics_local(first_week + timedelta(weeks=1), "065900")}
RRULE:FREQ=WEEKLY;INTERVAL={interval}
"""


def ics_cancelled_week(person_id: str, week_start: date) -> str:
    """How a calendar exports one deleted occurrence of a series: an override that cancels it."""
    return f"""
UID:{person_id}-series
RECURRENCE-ID;{ics_local(week_start)}
STATUS:CANCELLED
SUMMARY:On call: {NAMES[person_id]}
DTSTART;{ics_local(week_start)}
DTEND;{ics_local(week_start + timedelta(weeks=1), "065900")}
"""


PAIR_ICS = (ics_series("kelly", FIRST_WEEK), ics_series("marcus", FIRST_WEEK + timedelta(weeks=1)))


def ical_source(path) -> ICalendarSource:
    return ICalendarSource(str(path), PROCEDURE.window.timezone)


# -- Google Calendar ---------------------------------------------------------------------------------


def series_id(person_id: str) -> str:
    return f"series{person_id}"  # Google's ids are base32hex: lowercase letters and digits


def google_series(person_id: str, first_week: date, interval: int = 2) -> dict:
    start = datetime.combine(first_week, time(18, 1), LA)
    end = datetime.combine(first_week + timedelta(weeks=1), time(6, 59), LA)
    return {"id": series_id(person_id), "summary": f"On call: {NAMES[person_id]}",
            "start": {"dateTime": start.isoformat(), "timeZone": str(LA)},
            "end": {"dateTime": end.isoformat(), "timeZone": str(LA)},
            "recurrence": [f"RRULE:FREQ=WEEKLY;INTERVAL={interval}"],
            "attendees": [{"email": EMAILS[person_id]}]}


def publish_pair(gcal) -> None:
    gcal.put_event(CALENDAR, google_series("kelly", FIRST_WEEK))
    gcal.put_event(CALENDAR, google_series("marcus", FIRST_WEEK + timedelta(weeks=1)))


def cancel_google_week(gcal, week_start: date) -> str:
    """Delete one week of the series in the calendar, as a person does in Google Calendar."""
    return gcal.cancel_occurrence(CALENDAR, series_id(owner_of(week_start)),
                                  datetime.combine(week_start, time(18, 1), LA))


def google_source(gcal, tmp_path) -> GoogleCalendarSource:
    key_file = service_account_file(tmp_path, f"{gcal.url}/token")
    return GoogleCalendarSource(build_calendar_service(key_file, api_url=gcal.url), CALENDAR,
                                PROCEDURE.window.timezone)


def google_listings(gcal) -> tuple[int, int]:
    """How many listings the bot asked Google for: (full, incremental), counting first pages only."""
    firsts = [r for r in gcal.requests_to("/events", method="GET") if "pageToken" not in r.query]
    incremental = sum(1 for r in firsts if "syncToken" in r.query)
    return len(firsts) - incremental, incremental

