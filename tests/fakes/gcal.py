"""Fake Google Calendar API v3 (events list/get/patch) and OAuth token endpoint.

Point googleapiclient at it with `client_options={"api_endpoint": f"{fake.url}/calendar/v3/"}`
(the suffix matters: api_endpoint replaces rootUrl + servicePath). Seeded events are already
expanded single events, so `singleEvents` only matters for `orderBy=startTime`. All-day events
(`{"date": ...}`) are compared as midnight UTC.

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
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

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

    event_ids: list[str]
    seq: int  # the change sequence at the first page: the listing's nextSyncToken


class _ApiError(Exception):
    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class FakeGoogleCalendar(FakeServer):
    def __init__(self, page_limit: int = 2500) -> None:
        super().__init__()
        self.page_limit = page_limit
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

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        """All stored events of the calendar, cancelled ones included."""
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
            entry = calendar.get(unquote(route["event"]))
            if entry is None:
                return _error(404)
            if request.method == "GET":
                return Response(200, entry.event)
            if request.method == "PATCH":
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
            cursor = _Cursor(self._matching(calendar, params), self._seq)
        page_ids, rest = cursor.event_ids[:max_results], cursor.event_ids[max_results:]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{cursor.seq}"',
            "updated": _now(),
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [_listed(calendar[event_id].event) for event_id in page_ids],
        }
        if rest:
            body["nextPageToken"] = f"page-{len(self._cursors) + 1}"
            self._cursors[body["nextPageToken"]] = _Cursor(rest, cursor.seq)
        else:
            body["nextSyncToken"] = f"sync-{self._token_epoch}-{cursor.seq}"
        return Response(200, body)

    def _matching(self, calendar: dict[str, _Entry], params: dict[str, str]) -> list[str]:
        """Ids of the events a list query returns, in order."""
        sync_token = params.get("syncToken")
        if sync_token and any(p in params for p in _NOT_WITH_SYNC_TOKEN):
            raise _ApiError(400, "syncToken cannot be combined with " + ", ".join(_NOT_WITH_SYNC_TOKEN))
        if params.get("orderBy") == "startTime" and params.get("singleEvents") != "true":
            raise _ApiError(400, "The requested ordering is not available for the particular query.")
        entries = list(calendar.values())
        if sync_token:
            epoch, since = _parse_sync_token(sync_token)
            if epoch != self._token_epoch:
                raise _ApiError(410)
            entries = [e for e in entries if e.seq > since]
        else:
            if params.get("showDeleted") != "true":
                entries = [e for e in entries if e.event["status"] != "cancelled"]
            if "timeMin" in params:  # exclusive bound on the event's end
                time_min = _instant(params["timeMin"])
                entries = [e for e in entries if _when(e.event["end"]) > time_min]
            if "timeMax" in params:  # exclusive bound on the event's start
                time_max = _instant(params["timeMax"])
                entries = [e for e in entries if _when(e.event["start"]) < time_max]
        if params.get("orderBy") == "startTime":
            entries.sort(key=lambda e: _when(e.event["start"]))
        elif params.get("orderBy") == "updated":
            entries.sort(key=lambda e: e.seq)
        return [e.event["id"] for e in entries]

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
    return datetime.fromisoformat(bound["date"]).replace(tzinfo=timezone.utc)


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
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
