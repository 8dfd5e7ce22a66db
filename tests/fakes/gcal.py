"""Fake Google Calendar API v3 (events list/get/patch) and OAuth token endpoint.

Point googleapiclient at it with `client_options={"api_endpoint": f"{fake.url}/calendar/v3/"}`
(the suffix matters: api_endpoint replaces rootUrl + servicePath). All-day events (`{"date": ...}`)
are compared as midnight UTC.

A seeded event with `recurrence` (RRULE lines) is a recurring series, as Google keeps it: with
`singleEvents=true` a listing expands it into occurrences with ids `<series>_<original start>`,
an exception (an event with `recurringEventId` and `originalStartTime`, e.g. one occurrence cancelled
with `cancel_occurrence`) stands in for its occurrence, and cancelled occurrences are left out unless
the listing is a change feed or asks for `showDeleted`. Google expands an endless series only so far
(it does not say how far); the fake stops `recurrence_span` after the listing's timeMin, or after the
series' start in a change feed, where a changed series brings all of its occurrences.

Every change gets a sequence number. A sync token carries the sequence its listing started at,
so an incremental sync returns exactly the events changed since; a page token names the rest of
its listing, kept server-side.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from .base import FakeServer, RecordedRequest, Response

ACCESS_TOKEN = "ya29.fake"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

_ROUTE = re.compile(r"^/calendar/v3/calendars/(?P<calendar>[^/]+)/events(?:/(?P<event>[^/]+))?$")
# The docs list these as not combinable with syncToken (calendar.v3.json, events.list).
_NOT_WITH_SYNC_TOKEN = ("iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty",
                        "timeMin", "timeMax", "updatedMin")
_ERRORS = {  # status -> (domain, reason, message) as Google sends them
    400: ("global", "invalid", "Bad Request"),
    401: ("global", "authError", "Invalid Credentials"),
    403: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    404: ("global", "notFound", "Not Found"),
    410: ("global", "fullSyncRequired", "Sync token is no longer valid, a full sync is required."),
    412: ("global", "conditionNotMet", "Precondition Failed"),
    429: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("global", "backendError", "Backend Error"),
    503: ("global", "backendError", "Backend Error"),
}


@dataclass
class _Entry:
    event: dict[str, Any]
    seq: int  # sequence number of its last change


@dataclass
class _Cursor:
    """What a page token stands for: the rest of a listing, fixed when its first page was served,
    so changes made while a client pages can neither skip nor shift events."""

    items: list[dict[str, Any]]
    seq: int  # the change sequence at the first page: the listing's nextSyncToken


class _ApiError(Exception):
    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class FakeGoogleCalendar(FakeServer):
    def __init__(self, page_limit: int = 2500, recurrence_span: timedelta = timedelta(days=730)) -> None:
        super().__init__()
        self.page_limit = page_limit
        self.recurrence_span = recurrence_span
        self._calendars: dict[str, dict[str, _Entry]] = {}
        self._seq = 0
        self._token_epoch = 0  # bumped by expire_sync_tokens(); older sync tokens answer 410
        self._cursors: dict[str, _Cursor] = {}

    # -- seeding and inspection -------------------------------------------------------------
    def add_calendar(self, calendar_id: str) -> None:
        """An empty calendar (put_event creates calendars too; unknown ones answer 404)."""
        with self._lock:
            self._calendars.setdefault(calendar_id, {})

    def put_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an event (Google's JSON shape); fills id, status, etag, updated."""
        with self._lock:
            stored = {"kind": "calendar#event", "id": uuid.uuid4().hex, "status": "confirmed"}
            stored.update(copy.deepcopy(event))
            self._calendars.setdefault(calendar_id, {})[stored["id"]] = _Entry(stored, 0)
            return self._touch(calendar_id, stored["id"])

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        """Gone for good (as once the trash is emptied): the API answers 404 for it."""
        with self._lock:
            del self._calendars[calendar_id][event_id]

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        with self._lock:
            self._calendars[calendar_id][event_id].event["status"] = "cancelled"
            self._touch(calendar_id, event_id)

    def cancel_occurrence(self, calendar_id: str, series_id: str, original_start: datetime | date) -> str:
        """Delete one occurrence of a recurring series, as the Calendar UI does: an exception with status
        cancelled and the occurrence's id (returned)."""
        with self._lock:
            calendar = self._calendars[calendar_id]
            series = calendar[series_id].event
            zone = _series_instant(series["start"]).tzinfo
            start = (original_start.astimezone(zone) if isinstance(original_start, datetime)
                     else _series_instant(original_start))
            occurrence = _occurrence(series, start)
            occurrence["status"] = "cancelled"
            calendar[occurrence["id"]] = _Entry(occurrence, 0)
            self._touch(calendar_id, occurrence["id"])
            return occurrence["id"]

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        """All stored events of the calendar (series, not their occurrences), cancelled ones included."""
        with self._lock:
            return [copy.deepcopy(e.event) for e in self._calendars.get(calendar_id, {}).values()]

    def expire_sync_tokens(self) -> None:
        with self._lock:
            self._token_epoch += 1

    def assertions(self) -> list[dict[str, Any]]:
        """Claims of the JWTs posted to /token (not verified: the fake trusts everyone)."""
        return [_jwt_claims(r.form["assertion"]) for r in self.requests_to("/token") if "assertion" in r.form]

    # -- the API ----------------------------------------------------------------------------
    def error_body(self, status: int) -> Any:
        return _error_body(status)

    def handle(self, request: RecordedRequest) -> Response:
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        route = _ROUTE.match(request.path)
        if not route:
            return _error(404)
        calendar_id = unquote(route["calendar"])
        calendar = self._calendars.get(calendar_id)
        if calendar is None:
            return _error(404)
        try:
            if route["event"] is None:
                return self._list(calendar, request) if request.method == "GET" else _error(404)
            event_id = unquote(route["event"])
            entry = calendar.get(event_id) or self._unchanged_occurrence(calendar, event_id)
            if entry is None:
                return _error(404)
            if request.method == "GET":
                return Response(200, entry.event)
            if request.method == "PATCH":
                calendar[event_id] = entry  # editing one occurrence makes it an exception of its series
                return self._patch(calendar_id, entry, request)
            return _error(404)
        except _ApiError as exc:
            return _error(exc.status, exc.message)

    def _list(self, calendar: dict[str, _Entry], request: RecordedRequest) -> Response:
        params = {k: v[0] for k, v in request.query.items()}
        # Google may answer with fewer items than asked for; `page_limit` makes the fake do so.
        max_results = min(int(params.get("maxResults", 250)), self.page_limit)
        if not 1 <= max_results <= 2500:
            raise _ApiError(400, "Invalid value for maxResults")
        if "pageToken" in params:
            cursor = self._cursors.get(params["pageToken"])
            if cursor is None:
                raise _ApiError(400, "Invalid page token value")
        else:
            cursor = _Cursor(copy.deepcopy(self._matching(calendar, params)), self._seq)
        page, rest = cursor.items[:max_results], cursor.items[max_results:]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{cursor.seq}"',
            "updated": _now(),
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [_listed(item) for item in page],
        }
        if rest:
            body["nextPageToken"] = f"page-{len(self._cursors) + 1}"
            self._cursors[body["nextPageToken"]] = _Cursor(rest, cursor.seq)
        else:
            body["nextSyncToken"] = f"sync-{self._token_epoch}-{cursor.seq}"
        return Response(200, body)

    def _matching(self, calendar: dict[str, _Entry], params: dict[str, str]) -> list[dict[str, Any]]:
        """The events a list query returns, in order."""
        sync_token = params.get("syncToken")
        if sync_token and any(p in params for p in _NOT_WITH_SYNC_TOKEN):
            raise _ApiError(400, "syncToken cannot be combined with " + ", ".join(_NOT_WITH_SYNC_TOKEN))
        if params.get("orderBy") == "startTime" and params.get("singleEvents") != "true":
            raise _ApiError(400, "The requested ordering is not available for the particular query.")
        single = params.get("singleEvents") == "true"
        since = None
        if sync_token:
            epoch, since = _parse_sync_token(sync_token)
            if epoch != self._token_epoch:
                raise _ApiError(410)
        time_min = _instant(params["timeMin"]) if "timeMin" in params and not sync_token else None
        listed: list[tuple[int, dict[str, Any]]] = []
        for entry in calendar.values():
            if since is not None and entry.seq <= since:
                continue
            if single and "recurrence" in entry.event:
                listed += [(entry.seq, occurrence) for occurrence in self._occurrences(entry.event, time_min)
                           if occurrence["id"] not in calendar]  # an exception stands in for it
            else:
                listed.append((entry.seq, entry.event))
        if not sync_token:  # a change feed always brings cancellations
            if params.get("showDeleted") != "true":
                # Without singleEvents, cancelled occurrences (not series) still show, as Google documents.
                listed = [(seq, e) for seq, e in listed
                          if e["status"] != "cancelled" or (not single and "recurringEventId" in e)]
            if time_min is not None:  # exclusive bound on the event's end
                listed = [(seq, e) for seq, e in listed if "recurrence" in e or _when(e["end"]) > time_min]
            if "timeMax" in params:  # exclusive bound on the event's start
                time_max = _instant(params["timeMax"])
                listed = [(seq, e) for seq, e in listed if "recurrence" in e or _when(e["start"]) < time_max]
        if params.get("orderBy") == "startTime":
            listed.sort(key=lambda item: _when(item[1]["start"]))
        elif params.get("orderBy") == "updated":
            listed.sort(key=lambda item: item[0])
        return [event for _, event in listed]

    def _occurrences(self, series: dict[str, Any], time_min: datetime | None) -> list[dict[str, Any]]:
        """A series expanded as `singleEvents=true` lists it; each occurrence has the series' status."""
        first = _series_instant(series["start"])
        rule = rrulestr("\n".join(line for line in series["recurrence"] if line.startswith("RRULE")), dtstart=first)
        stop = (time_min or first) + self.recurrence_span
        occurrences = []
        for start in rule:
            if start >= stop:
                break
            occurrences.append(_occurrence(series, start))
        return occurrences

    def _unchanged_occurrence(self, calendar: dict[str, _Entry], event_id: str) -> _Entry | None:
        """An occurrence of a series read by its own id, as events.get and events.patch take it."""
        series = calendar.get(event_id.rpartition("_")[0])
        if series is None or "recurrence" not in series.event:
            return None
        found = [o for o in self._occurrences(series.event, None) if o["id"] == event_id]
        return _Entry(found[0], series.seq) if found else None

    def _patch(self, calendar_id: str, entry: _Entry, request: RecordedRequest) -> Response:
        if_match = request.headers.get("If-Match")
        if if_match and if_match != entry.event["etag"]:
            return _error(412)
        if not isinstance(request.json, dict):
            raise _ApiError(400, "Patch body must be a JSON object")
        _merge(entry.event, {k: v for k, v in request.json.items() if k not in ("id", "etag", "updated")})
        return Response(200, self._touch(calendar_id, entry.event["id"]))

    def _touch(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """Record a change: new sequence number, etag and updated time."""
        self._seq += 1
        entry = self._calendars[calendar_id][event_id]
        entry.seq = self._seq
        entry.event.update(etag=f'"{self._seq}"', updated=_now())
        return copy.deepcopy(entry.event)

    def _token(self, request: RecordedRequest) -> Response:
        if request.form.get("grant_type") != JWT_BEARER or "assertion" not in request.form:
            return Response(400, {"error": "unsupported_grant_type"})
        return Response(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})


def _listed(event: dict[str, Any]) -> dict[str, Any]:
    """Cancelled events are listed with their identity only, as Google does."""
    if event["status"] != "cancelled":
        return event
    keep = ("id", "status", "recurringEventId", "originalStartTime")
    return {k: event[k] for k in keep if k in event}


def _series_instant(bound: dict[str, str] | datetime | date) -> datetime:
    """A series' start as an aware datetime in its own zone (all-day: midnight UTC), which the RRULE
    steps in wall-clock time, so a weekly 18:01 stays 18:01 across DST."""
    if isinstance(bound, datetime):
        return bound
    if isinstance(bound, date):
        return datetime.combine(bound, time(0), UTC)
    if "date" in bound:
        return datetime.combine(date.fromisoformat(bound["date"]), time(0), UTC)
    start = _instant(bound["dateTime"])
    return start.astimezone(ZoneInfo(bound["timeZone"])) if "timeZone" in bound else start


def _occurrence(series: dict[str, Any], start: datetime) -> dict[str, Any]:
    """One occurrence of `series` starting at `start` (in the series' zone), shaped as Google lists it."""
    occurrence = {k: copy.deepcopy(v) for k, v in series.items() if k != "recurrence"}
    first, finish = _series_instant(series["start"]), _series_instant(series["end"])
    wall_length = finish.replace(tzinfo=None) - first.replace(tzinfo=None)
    end = (start.replace(tzinfo=None) + wall_length).replace(tzinfo=start.tzinfo)
    if "date" in series["start"]:
        occurrence["id"] = f"{series['id']}_{start:%Y%m%d}"
        occurrence["start"], occurrence["end"] = {"date": start.date().isoformat()}, {"date": end.date().isoformat()}
    else:
        occurrence["id"] = f"{series['id']}_{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        zone = {"timeZone": series["start"]["timeZone"]} if "timeZone" in series["start"] else {}
        occurrence["start"] = {"dateTime": start.isoformat(), **zone}
        occurrence["end"] = {"dateTime": end.isoformat(), **zone}
    occurrence["recurringEventId"] = series["id"]
    occurrence["originalStartTime"] = dict(occurrence["start"])
    return occurrence


def _parse_sync_token(token: str) -> tuple[int, int]:
    """Ours are "sync-<epoch>-<seq>"; clients must treat them as opaque."""
    prefix, *numbers = token.split("-")
    if prefix != "sync" or len(numbers) != 2 or not all(n.isdigit() for n in numbers):
        raise _ApiError(400, "Invalid sync token value")
    return int(numbers[0]), int(numbers[1])


def _instant(value: str) -> datetime:
    """RFC 3339 with a mandatory offset, as Google requires for timeMin/timeMax."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _ApiError(400, f"Bad Request: {value!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise _ApiError(400, f"Bad Request: {value!r} has no UTC offset")
    return parsed


def _when(bound: dict[str, str]) -> datetime:
    if "dateTime" in bound:
        return _instant(bound["dateTime"])
    return datetime.fromisoformat(bound["date"]).replace(tzinfo=UTC)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Patch semantics: objects merge recursively, lists and scalars replace, null deletes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jwt_claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
    domain, reason, default_message = _ERRORS.get(status, ("global", "unknown", f"HTTP {status}"))
    message = message or default_message
    return {"error": {"code": status, "message": message,
                      "errors": [{"domain": domain, "reason": reason, "message": message}]}}


def _error(status: int, message: str | None = None) -> Response:
    return Response(status, _error_body(status, message))
