"""Fake Twilio REST API (2010-04-01): Messages and Calls.

Errors use Twilio's legacy JSON shape `{"code", "message", "more_info", "status"}`, which the
SDK turns into `TwilioRestException` with `.code` (see twilio/base/version.py `exception`).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from .base import FakeServer, RecordedRequest, Response

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32  # built, not spelled out, so secret scanners stay quiet
DEFAULT_AUTH_TOKEN = "test-twilio-token"

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ROUTE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<kind>Messages|Calls)(?:/(?P<sid>[^/]+))?\.json$")
_RECORDING = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Recordings/(?P<sid>RE[0-9a-f]+)\.(?P<ext>mp3|wav)$")
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
        self._recordings: dict[str, bytes] = {}
        # Called with each message or call created, before the API answers: Twilio's status callback can reach
        # the app before the answer carrying the sid does.
        self.before_answer: Callable[[dict[str, Any]], None] | None = None

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

    def incoming_call(self, to: str, caller: str, send: Send, public_url: str) -> LineCall:
        """A call to one of our numbers: Twilio posts to the number's voice webhook
        ({public_url}/twilio/incoming) and follows the TwiML it gets. `send(url, form, signature)` carries
        each signed request to the bot and returns its response (status_code, text)."""
        call = LineCall(self, send, public_url, to, caller)
        call.start()
        return call

    def add_recording(self, audio: bytes) -> str:
        """A finished recording Twilio keeps; its audio is served at Recordings/{sid}.mp3 (auth required)."""
        sid = "RE" + uuid.uuid4().hex
        with self._lock:
            self._recordings[sid] = audio
        return sid

    def recording_url(self, sid: str) -> str:
        """The RecordingUrl Twilio posts: on api.twilio.com, never reachable without the account's credentials."""
        return f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    def sign(self, url: str, params: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        return RequestValidator(self.auth_token).compute_signature(url, params)

    # -- the API ----------------------------------------------------------------------------
    def _respond(self, request: RecordedRequest) -> Response | None:
        response = super()._respond(request)
        hook = self.before_answer
        if hook is not None and response is not None and response.status == 201:
            hook(json.loads(response.body))  # outside the lock: the hook may call the app, which calls us
        return response

    def error_body(self, status: int) -> Any:
        return _error_body(status, _CODE_FOR_STATUS.get(status, status))

    def handle(self, request: RecordedRequest) -> Response:
        if _basic_auth(request) != (self.account_sid, self.auth_token):
            return _error(401, 20003)
        recording = _RECORDING.match(request.path)
        if recording and request.method == "GET" and recording["account"] == self.account_sid:
            with self._lock:
                audio = self._recordings.get(recording["sid"])
            if audio is None:
                return _error(404, 20404)
            return Response(200, audio, {"Content-Type": "audio/mpeg" if recording["ext"] == "mp3" else "audio/x-wav"})
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
        message_now = format_datetime(self.clock())
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
            "start_time": format_datetime(self.clock()),  # the fake dials at once
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
        now = format_datetime(self.clock())  # Twilio dates are RFC 2822
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


Send = Callable[[str, dict[str, str], str], Any]


class LineCall:
    """A call to the office line as Twilio carries it: it posts, signed, to the webhooks the TwiML names and
    follows what they answer. Drive it as the people on it would: `answer()` / `press("1")` by the person
    rung, `no_answer()`, `leave_message(...)` or `hang_up()` by the caller. `heard` is what the caller heard,
    `screen_heard` what the person rung heard; `ringing` the <Dial> under way, if any."""

    def __init__(self, fake: FakeTwilio, send: Send, public_url: str, to: str, caller: str) -> None:
        self.fake, self._send, self.public_url = fake, send, public_url.rstrip("/")
        self.sid = "CA" + uuid.uuid4().hex
        self.to, self.caller = to, caller
        self.heard: list[str] = []
        self.screen_heard: list[str] = []
        self.rung: list[dict[str, Any]] = []  # every <Dial> this call made: number, caller_id, timeout, url
        self.responses: list[Any] = []  # every answer of the bot to a request about this call
        self.state = "new"  # ringing | screening | bridged | recording | ended
        self._verb: ET.Element | None = None
        self._child_sid: str | None = None
        self._gather: ET.Element | None = None
        self.recording_sid: str | None = None

    # -- Twilio's side ---------------------------------------------------------------------------
    def _post(self, url: str, extra: dict[str, str]) -> Any:
        url = url if url.startswith("http") else self.public_url + url
        params = {"AccountSid": self.fake.account_sid, "CallSid": self.sid, "From": self.caller, "To": self.to,
                  "Caller": self.caller, "Called": self.to, "Direction": "inbound", "ApiVersion": "2010-04-01",
                  "CallStatus": "in-progress", **extra}
        response = self._send(url, params, self.fake.sign(url, params))
        self.responses.append(response)
        return response

    def _follow(self, response: Any) -> None:
        """Run the caller's TwiML until a verb that waits (Dial, Record) or the end."""
        root = _twiml(response)
        for verb in root:
            if verb.tag == "Say":
                self.heard.append(verb.text or "")
            elif verb.tag == "Play":
                self.heard.append(f"play {verb.text}")
            elif verb.tag in ("Dial", "Record"):
                self._verb = verb
                if verb.tag == "Dial":
                    number = verb.find("Number")
                    assert number is not None, "only <Dial><Number> is faked"
                    self.rung.append({"number": (number.text or "").strip(), "caller_id": verb.get("callerId"),
                                      "timeout": verb.get("timeout"), "url": number.get("url"),
                                      "machine_detection": number.get("machineDetection"),
                                      "action": verb.get("action")})
                    self.state = "ringing"
                else:
                    self.state = "recording"
                return
            elif verb.tag == "Hangup":
                break
        self._verb, self.state = None, "ended"

    def start(self) -> None:
        self._follow(self._post("/twilio/incoming", {"CallStatus": "ringing"}))

    @property
    def ringing(self) -> dict[str, Any] | None:
        return self.rung[-1] if self.state in ("ringing", "screening") else None

    def _dial_ended(self, dial_status: str, caller_gone: bool = False, duration: int = 0) -> None:
        assert self._verb is not None and self._verb.tag == "Dial"
        extra = {"DialCallStatus": dial_status, "DialCallSid": self._child_sid or "", "DialCallDuration": str(duration)}
        if caller_gone:
            extra["CallStatus"] = "completed"
        response = self._post(self._verb.get("action") or "", extra)
        self._child_sid = None
        if caller_gone:
            self.state = "ended"
            return
        self._follow(response)

    # -- the person rung -------------------------------------------------------------------------
    def answer(self, answered_by: str = "human") -> None:
        """The cell rung picks up (a person, or a voicemail box: machine_start, machine_end_beep, ...)."""
        ring = self.ringing
        assert ring is not None and self.state == "ringing", f"nothing is ringing ({self.state})"
        self._child_sid = "CA" + uuid.uuid4().hex
        extra = {"CallSid": self._child_sid, "ParentCallSid": self.sid, "To": ring["number"],
                 "Called": ring["number"], "From": ring["caller_id"], "Direction": "outbound-dial"}
        if ring["machine_detection"]:
            extra["AnsweredBy"] = answered_by
        root = _twiml(self._post(ring["url"], extra))
        self._gather = None
        for verb in root:
            if verb.tag == "Gather":
                self._gather = verb
                self.screen_heard += [say.text or "" for say in verb.findall("Say")]
                break
            if verb.tag == "Say":
                self.screen_heard.append(verb.text or "")
        if self._gather is not None:
            self.state = "screening"
        elif len(root) == 0:  # nothing to screen: bridged at once
            self.state = "bridged"
        else:  # hung up on the person rung: the ring ends, picked up but not taken
            self._dial_ended("completed")

    def press(self, digits: str) -> None:
        assert self.state == "screening" and self._gather is not None, f"no prompt to answer ({self.state})"
        ring = self.ringing
        assert ring is not None
        root = _twiml(self._post(self._gather.get("action") or "", {
            "CallSid": self._child_sid or "", "ParentCallSid": self.sid, "To": ring["number"],
            "From": ring["caller_id"], "Digits": digits, "Direction": "outbound-dial"}))
        self.screen_heard += [verb.text or "" for verb in root if verb.tag == "Say"]
        if any(verb.tag == "Hangup" for verb in root):
            self._dial_ended("completed")
        else:
            self.state = "bridged"

    def no_keypress(self) -> None:
        """The prompt times out: the screening's TwiML goes on to its <Hangup/>, the ring ends."""
        assert self.state == "screening"
        self._dial_ended("completed")

    def no_answer(self) -> None:
        """Nobody picks up within the <Dial> timeout."""
        assert self.state == "ringing", f"nothing is ringing ({self.state})"
        self._dial_ended("no-answer")

    def end_call(self, seconds: int = 120) -> None:
        """The bridged conversation ends."""
        assert self.state == "bridged"
        self._dial_ended("completed", duration=seconds)

    # -- the caller ---------------------------------------------------------------------------------
    def hang_up(self) -> None:
        """The caller hangs up: while it rings, the <Dial> ends with the caller gone; at the beep, <Record>
        ends with (almost) no audio."""
        if self.state in ("ringing", "screening"):
            self._dial_ended("canceled", caller_gone=True)
        elif self.state == "recording":
            self.leave_message(seconds=1, transcription=None, caller_gone=True)
        else:
            self.state = "ended"

    def leave_message(self, seconds: int = 42, transcription: str | None = "Hi, this is Sam from ACME, our server "
                      "is down, please call back.", audio: bytes = b"ID3fake-mp3-audio" * 64,
                      order: tuple[str, ...] = ("action", "recording", "transcription"), duplicate: bool = False,
                      caller_gone: bool = False) -> None:
        """Speak after the beep for `seconds`. Twilio then posts the <Record> action, the recording's status
        callback and, when transcription was asked for, the transcription callback (`transcription` None: it
        failed), in `order`, each twice when `duplicate`."""
        assert self.state == "recording" and self._verb is not None, f"no <Record> under way ({self.state})"
        record = self._verb
        self.recording_sid = self.fake.add_recording(audio)
        recording = {"RecordingSid": self.recording_sid, "RecordingUrl": self.fake.recording_url(self.recording_sid),
                     "RecordingDuration": str(seconds)}
        posts: dict[str, tuple[str, dict[str, str]] | None] = {
            "action": (record.get("action") or "", {**recording, "Digits": "hangup"}),
            "recording": (record.get("recordingStatusCallback") or "", {
                **recording, "RecordingStatus": "completed", "RecordingChannels": "1", "RecordingSource": "RecordVerb",
                "CallStatus": "completed"}) if record.get("recordingStatusCallback") else None,
            "transcription": (record.get("transcribeCallback") or "", {
                "TranscriptionSid": "TR" + uuid.uuid4().hex, "TranscriptionStatus": "completed" if transcription else
                "failed", "TranscriptionText": transcription or "", "TranscriptionType": "fast",
                "RecordingSid": self.recording_sid, "RecordingUrl": recording["RecordingUrl"],
                "CallStatus": "completed"}) if record.get("transcribe") == "true" and record.get("transcribeCallback")
            else None,
        }
        for name in order:
            post = posts.get(name)
            for _ in range(2 if duplicate else 1):
                if post is not None:
                    response = self._post(*post)
                    if name == "action" and not caller_gone:
                        self.heard += [verb.text or "" for verb in _twiml(response) if verb.tag == "Say"]
        self.state = "ended"


def _twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, (response.status_code, response.text)
    root = ET.fromstring(response.text)
    assert root.tag == "Response", response.text
    return root
