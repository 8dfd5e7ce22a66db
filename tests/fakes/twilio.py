"""Fake Twilio REST API (2010-04-01): Messages and Calls.

Errors use Twilio's legacy JSON shape `{"code", "message", "more_info", "status"}`, which the
SDK turns into `TwilioRestException` with `.code` (see twilio/base/version.py `exception`).
"""

from __future__ import annotations

import base64
import copy
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from .base import FakeServer, RecordedRequest, Response

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32  # built, not spelled out, so secret scanners stay quiet
DEFAULT_AUTH_TOKEN = "test-twilio-token"

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ROUTE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<kind>Messages|Calls)(?:/(?P<sid>[^/]+))?\.json$")
_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21205: "Url parameter is required.",
    21610: "Attempt to send to unsubscribed recipient",
}
_CODE_FOR_STATUS = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._opted_out: set[str] = set()
        self._messages: dict[str, dict[str, Any]] = {}
        self._calls: dict[str, dict[str, Any]] = {}

    # -- seeding and inspection -------------------------------------------------------------
    def opt_out(self, number: str) -> None:
        """The number replied STOP: messages to it now fail with 21610 (calls still work)."""
        with self._lock:
            self._opted_out.add(number)

    def opt_in(self, number: str) -> None:
        with self._lock:
            self._opted_out.discard(number)

    def sms_to(self, number: str) -> list[dict[str, Any]]:
        """Accepted messages to `number`: the API resource plus status_callback, validity_period."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages.values() if m["to"] == number]

    def calls_to(self, number: str) -> list[dict[str, Any]]:
        """Accepted calls to `number`: the API resource plus twiml, url, status_callback,
        status_callback_event (list) and timeout, as sent."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls.values() if c["to"] == number]

    def all_texts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages.values()]

    def all_calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls.values()]

    def amd_callback(self, call_sid: str, answered_by: str, duration_ms: int = 4200) -> tuple[str, dict[str, str], str]:
        """What Twilio posts to a call's AsyncAmdStatusCallback once it knows who picked up: the URL, the form
        (CallSid, AnsweredBy: human, machine_start, machine_end_beep, machine_end_silence, machine_end_other,
        fax or unknown, MachineDetectionDuration) and its X-Twilio-Signature over that URL."""
        from twilio.request_validator import RequestValidator

        with self._lock:
            call = self._calls[call_sid]
            url = call["async_amd_status_callback"]
            if not url:
                raise AssertionError("the call was placed without answering machine detection")
            params = {"AccountSid": self.account_sid, "CallSid": call_sid, "AnsweredBy": answered_by,
                      "MachineDetectionDuration": str(duration_ms)}
        return url, params, RequestValidator(self.auth_token).compute_signature(url, params)

    # -- the API ----------------------------------------------------------------------------
    def error_body(self, status: int) -> Any:
        return _error_body(status, _CODE_FOR_STATUS.get(status, status))

    def handle(self, request: RecordedRequest) -> Response:
        if _basic_auth(request) != (self.account_sid, self.auth_token):
            return _error(401, 20003)
        route = _ROUTE.match(request.path)
        if not route or route["account"] != self.account_sid:
            return _error(404, 20404)
        store = self._messages if route["kind"] == "Messages" else self._calls
        if route["sid"]:
            resource = store.get(route["sid"])
            if resource is None:
                return _error(404, 20404)
            if request.method == "POST" and "Status" in request.form:  # calls(sid).update(status="completed")
                resource["status"] = request.form["Status"]
            if request.method == "POST" and "Twiml" in request.form:  # calls(sid).update(twiml=...): a live call
                resource["twiml_updates"].append(request.form["Twiml"])
            return Response(200, resource)
        if request.method == "GET":
            return self._list(route["kind"], store, request)
        if request.method != "POST":
            return _error(404, 20404)
        if route["kind"] == "Messages":
            return self._create_message(request.form)
        return self._create_call(request.form, request.form_lists)

    def _list(self, kind: str, store: dict[str, dict[str, Any]], request: RecordedRequest) -> Response:
        """Messages filtered by To, From and DateSent> (on or after that day, as Twilio reads it); Calls by
        To, From and StartTime>. Newest first, paged by PageSize and Page, in Twilio's list shape."""
        query = {k: v[0] for k, v in request.query.items()}
        day_filter = "DateSent>" if kind == "Messages" else "StartTime>"
        day_field = "date_sent" if kind == "Messages" else "start_time"
        since = query.get(day_filter)
        listed = [r for r in store.values()
                  if query.get("To") in (None, r["to"]) and query.get("From") in (None, r["from"])
                  and (since is None or (r[day_field] and _day(r[day_field]) >= since[:10]))]
        listed.reverse()  # kept in the order created
        size, page = max(1, min(int(query.get("PageSize", 50)), 1000)), int(query.get("Page", 0))
        shown = listed[page * size:(page + 1) * size]
        uri = request.path
        more = (page + 1) * size < len(listed)
        next_uri = f"{uri}?{urlencode({**query, 'Page': page + 1, 'PageSize': size})}" if more else None
        return Response(200, {kind.lower(): shown,
                              "end": page * size + len(shown) - 1, "first_page_uri": uri, "next_page_uri": next_uri,
                              "page": page, "page_size": size, "previous_page_uri": None,
                              "start": page * size, "uri": uri})

    def _create_message(self, form: dict[str, str]) -> Response:
        to = form.get("To", "")
        if not _E164.match(to):
            return _error(400, 21211)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603)
        if not form.get("Body"):
            return _error(400, 21602)
        if to in self._opted_out:
            return _error(400, 21610)
        message_now = format_datetime(datetime.now(UTC))
        message = self._resource("SM", "Messages", form) | {
            "body": form["Body"],
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": "0",
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "error_code": None,
            "error_message": None,
            "date_sent": message_now,  # the fake hands it to the carrier at once
            "status_callback": form.get("StatusCallback"),
            "validity_period": form.get("ValidityPeriod"),
        }
        self._messages[message["sid"]] = message
        return Response(201, message)

    def _create_call(self, form: dict[str, str], form_lists: dict[str, list[str]]) -> Response:
        if not _E164.match(form.get("To", "")):
            return _error(400, 21211)
        if not form.get("From"):
            return _error(400, 21603)
        if not form.get("Url") and not form.get("Twiml"):
            return _error(400, 21205)
        call = self._resource("CA", "Calls", form) | {
            "direction": "outbound-api",
            "parent_call_sid": None,
            "duration": None,
            "start_time": format_datetime(datetime.now(UTC)),  # the fake dials at once
            "end_time": None,
            "twiml": form.get("Twiml"),
            "url": form.get("Url"),
            "status_callback": form.get("StatusCallback"),
            "status_callback_event": form_lists.get("StatusCallbackEvent", []),
            "timeout": form.get("Timeout"),
            # Answering machine detection, as sent (None when off)
            "machine_detection": form.get("MachineDetection"),
            "async_amd": form.get("AsyncAmd"),
            "async_amd_status_callback": form.get("AsyncAmdStatusCallback"),
            "async_amd_status_callback_method": form.get("AsyncAmdStatusCallbackMethod"),
            "twiml_updates": [],  # each TwiML that replaced what the live call plays
        }
        self._calls[call["sid"]] = call
        return Response(201, call)

    def _resource(self, prefix: str, kind: str, form: dict[str, str]) -> dict[str, Any]:
        sid = prefix + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC))  # Twilio dates are RFC 2822
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": form["To"],
            "from": form.get("From"),
            "status": "queued",
            "date_created": now,
            "date_updated": now,
            "price": None,
            "price_unit": "USD",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/{kind}/{sid}.json",
        }


def _day(rfc2822: str) -> str:
    return parsedate_to_datetime(rfc2822).astimezone(UTC).date().isoformat()


def _basic_auth(request: RecordedRequest) -> tuple[str, str] | None:
    scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
    if scheme != "Basic":
        return None
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password


def _error_body(status: int, code: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": _MESSAGES.get(code, f"HTTP {status}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _error(status: int, code: int) -> Response:
    return Response(status, _error_body(status, code))
