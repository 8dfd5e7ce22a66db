"""Reads the rotation from Google Calendar (API v3) and writes reassigned weeks back to it.

The change feed (`syncToken`) cannot be combined with `timeMin`/`timeMax`/`orderBy`, so a fetch is either
full (every occurrence ending after `start_at`, which also yields the first sync token) or incremental
(what changed since the token). A 410 means the token expired: start over with a full sync.

Occurrences come expanded (`singleEvents`): a cancelled occurrence of a recurring event (one week deleted)
is left out of a full listing and arrives in the change feed as cancelled, so its week becomes a hole. The
feed never brings back occurrences nobody edited, so the sync asks for a full fetch now and then (see
services/rotation.py, REEXPAND_AFTER) to expand an endless series further ahead.
"""

import http.client
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import httplib2
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from ...domain.rotation import CalendarEvent
from ...errors import ConfigError, IntegrationError
from ...services.rotation import CalendarFetch

SCOPES = ["https://www.googleapis.com/auth/calendar.events"]
# Write-back names the person here: a service account cannot invite attendees without domain-wide delegation.
PERSON_EMAIL_PROPERTY = "oncall_person_email"
# What a dropped connection, a timeout or a failed token exchange raises below googleapiclient.
TRANSPORT_ERRORS = (OSError, httplib2.HttpLib2Error, http.client.HTTPException)


def build_calendar_service(credentials_path: str, delegated_subject: str | None = None, api_url: str | None = None,
                           timeout: float = 15):
    """A Calendar v3 client acting as the service account (as `delegated_subject` with domain-wide delegation).

    `api_url` points it at another server (a local fake); unset, it talks to Google. Every HTTP call,
    the token exchange included, gives up after `timeout` seconds.
    """
    try:
        credentials = service_account.Credentials.from_service_account_file(credentials_path, scopes=SCOPES)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise ConfigError([f"GOOGLE_APPLICATION_CREDENTIALS: {credentials_path} is not a usable "
                           f"service-account key file ({reason})"]) from None
    if delegated_subject:
        credentials = credentials.with_subject(delegated_subject)
    http = AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
    options = {"api_endpoint": f"{api_url.rstrip('/')}/calendar/v3/"} if api_url else None
    # The discovery document ships with the library: building the client needs no network.
    return build("calendar", "v3", http=http, cache_discovery=False, static_discovery=True, client_options=options)


class GoogleCalendarError(IntegrationError):
    """Google Calendar answered with an HTTP error; `status` is its status code."""

    def __init__(self, message: str, status: int, retry_after: float | None = None):
        super().__init__(message, retry_after)
        self.status = status


class GoogleCalendarConflict(GoogleCalendarError):
    """A write with If-Match found the event edited since that version (412)."""


def _execute(request, num_retries: int, action: str, explain: dict[int, str] | None = None) -> dict:
    """Run a request with googleapiclient's own retries (429, 5xx, 403 rate limits, timeouts; exponential
    backoff with jitter); whatever still fails becomes an IntegrationError. `explain` words known statuses."""
    try:
        return request.execute(num_retries=num_retries)
    except HttpError as exc:
        status = exc.status_code
        detail = (explain or {}).get(status, f"HTTP {status} ({exc.reason})")
        retry_after = exc.resp.get("retry-after", "")
        raise GoogleCalendarError(f"Google Calendar: {action} failed: {detail}", status,
                                  float(retry_after) if retry_after.isdigit() else None) from exc
    except GoogleAuthError as exc:
        raise IntegrationError(f"Google Calendar: {action} failed: the service account got no access token "
                               f"({exc})") from exc
    except TRANSPORT_ERRORS as exc:
        raise IntegrationError(f"Google Calendar: {action} failed: no answer ({type(exc).__name__}: {exc})") from exc


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class GoogleCalendarSource:
    """The rotation calendar as a RotationSource; recurring events arrive expanded (`singleEvents`)."""

    def __init__(self, service, calendar_id: str, timezone: str, num_retries: int = 5, page_size: int = 250):
        self.service = service
        self.calendar_id = calendar_id
        self.tz = ZoneInfo(timezone)  # the team's: all-day events start at its midnight
        self.num_retries = num_retries
        self.page_size = page_size
        self.key = f"google:{calendar_id}"

    def fetch(self, sync_token: str | None, start_at: datetime, end_at: datetime) -> CalendarFetch:
        """`end_at` is not sent: the change feed takes no time bounds (syncToken excludes timeMax), so the
        full sync that starts it is left unbounded too. Occurrences starting past `end_at` (an endless
        recurrence expands for years) are dropped here, and reported removed by the change feed, so the
        stored mirror stays bounded."""
        if sync_token:
            try:
                items, next_token = self._list(syncToken=sync_token)
            except GoogleCalendarError as exc:
                if exc.status != 410:  # 410 Gone: the token expired, only a full sync helps
                    raise
            else:
                events, removed_ids = self._split(items)
                beyond = [e.event_id for e in events if e.start_at >= end_at]
                return CalendarFetch(full=False, events=[e for e in events if e.start_at < end_at],
                                     removed_ids=removed_ids + beyond, next_sync_token=next_token)
        items, next_token = self._list(timeMin=_rfc3339(start_at))
        events, _ = self._split(items)  # a full listing replaces everything: nothing to remove
        return CalendarFetch(full=True, events=[e for e in events if e.start_at < end_at], removed_ids=[],
                             next_sync_token=next_token)

    def _list(self, **query) -> tuple[list[dict], str | None]:
        """Every item of one listing, page after page; the sync token comes with the last page."""
        events = self.service.events()
        request = events.list(calendarId=self.calendar_id, singleEvents=True, maxResults=self.page_size, **query)
        action = f"reading calendar {self.calendar_id}"
        not_found = {404: f"calendar {self.calendar_id} not found (is it shared with the service account?)"}
        items: list[dict] = []
        while request is not None:
            page = _execute(request, self.num_retries, action, not_found)
            items += page.get("items", [])
            request = events.list_next(request, page)
        return items, page.get("nextSyncToken")

    def _split(self, items: list[dict]) -> tuple[list[CalendarEvent], list[str]]:
        """Live occurrences, and the ids of cancelled ones (which carry nothing but their id)."""
        cancelled = [item["id"] for item in items if item.get("status") == "cancelled"]
        return [self._event(item) for item in items if item.get("status") != "cancelled"], cancelled

    def _event(self, item: dict) -> CalendarEvent:
        emails = [attendee["email"] for attendee in item.get("attendees", []) if attendee.get("email")]
        written_back = item.get("extendedProperties", {}).get("private", {}).get(PERSON_EMAIL_PROPERTY)
        if written_back:  # first, so it wins over the attendees the event was created with
            emails.insert(0, written_back)
        return CalendarEvent(
            event_id=item["id"],  # an occurrence's own id, e.g. "abc_20270105T020100Z"
            summary=item.get("summary", ""),
            start_at=self._instant(item["start"]),
            end_at=self._instant(item["end"]),
            all_day="date" in item["start"],
            attendee_emails=tuple(emails),
            etag=item.get("etag"),  # what a write-back sends as If-Match
        )

    def _instant(self, bound: dict) -> datetime:
        if "date" in bound:
            return datetime.combine(date.fromisoformat(bound["date"]), time(0), tzinfo=self.tz).astimezone(UTC)
        return datetime.fromisoformat(bound["dateTime"]).astimezone(UTC)


class GoogleCalendarWriter:
    """Writes a week's new owner onto its calendar occurrence (after an approved swap)."""

    def __init__(self, service, calendar_id: str, num_retries: int = 5):
        self.service = service
        self.calendar_id = calendar_id
        self.num_retries = num_retries

    def reassign(self, event_id: str, person_name: str, person_email: str | None, etag: str | None = None) -> dict:
        """Name the person on one occurrence and return the patched event. With `etag`, only if nobody
        edited the event since that version: else GoogleCalendarConflict, saying what the event reads now.
        A None email clears an earlier write-back's."""
        body = {"summary": f"On call: {person_name}",
                "extendedProperties": {"private": {PERSON_EMAIL_PROPERTY: person_email}}}
        request = self.service.events().patch(calendarId=self.calendar_id, eventId=event_id, body=body,
                                              sendUpdates="none")
        if etag:
            request.headers["If-Match"] = etag  # a plain dict on HttpRequest; 412 when the etag is stale
        explain = {
            412: "the event was edited in the calendar meanwhile (HTTP 412)",
            404: f"no event {event_id} in calendar {self.calendar_id} (HTTP 404)",
        }
        try:
            return _execute(request, self.num_retries, f"reassigning event {event_id}", explain)
        except GoogleCalendarError as exc:
            if exc.status != 412:
                raise
            conflict = exc
        # Read it again only to say what it reads now; writing it again would overwrite the edit.
        try:
            current = _execute(self.service.events().get(calendarId=self.calendar_id, eventId=event_id),
                               self.num_retries, f"reading event {event_id}")
            now_reads = f'; it now reads "{current.get("summary", "")}"'
        except IntegrationError:
            now_reads = ""
        raise GoogleCalendarConflict(f"{conflict}{now_reads}, and was left as it is", 412) from conflict
