"""Twilio: send SMS, place calls, verify webhook signatures.

Twilio's failures leave this module as `DeliveryFailed` (or `ChannelOptedOut`, `InvalidAddress`), with
phone numbers masked, so callers never see an SDK exception or a full number.
"""

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from ...errors import BadInput, ChannelOptedOut, DeliveryFailed, IntegrationError, InvalidAddress
from ...logs import log_event, mask

_log = logging.getLogger(__name__)

SMS_VALIDITY_PERIOD = 600  # seconds in Twilio's queue; a page older than that is dropped, not delivered late
CALL_RING_TIMEOUT = 25  # seconds of ringing before Twilio gives up (and voicemail would pick up)
CALL_STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Answering machine detection, asynchronous: a person hears the page at once while Twilio listens, then posts
# AnsweredBy to the AMD callback. DetectMessageEnd waits for the greeting's end (machine_end_beep/silence/other),
# so a voicemail left then is recorded whole.
MACHINE_DETECTION = "DetectMessageEnd"

LOOKUP_PAGE_SIZE = 200
LOOKUP_LIMIT = 1000  # texts or calls to one number since one send: more than that, and the lookup cannot tell

_TWILIO_ORIGIN = re.compile(r"^https://[^/]+\.twilio\.com(?=/|$)")


class LoopbackAwareHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with a timeout and connection retries always set, optionally sending
    everything meant for https://*.twilio.com to `api_url` (a local fake; $ONCALLBOT_TWILIO_API_URL).

    The final URL is rewritten rather than `client.api.base_url` set, because with TWILIO_REGION or
    TWILIO_EDGE the SDK rewrites the host of base_url too and the request goes nowhere.
    """

    def __init__(self, api_url: str | None = None, timeout: float = 10, max_retries: int = 2):
        # max_retries only retries failed connections: urllib3 never resends a POST that reached Twilio.
        super().__init__(timeout=timeout, max_retries=max_retries)
        self.api_url = api_url.rstrip("/") if api_url else None
        if self.api_url:
            # The parent mounts its retrying adapter on https:// only; a local server is usually http.
            self.session.mount(self.api_url, HTTPAdapter(max_retries=max_retries))
        self._last = threading.local()

    def request(self, method, url, *args, **kwargs):
        if self.api_url:
            api_url = self.api_url
            url = _TWILIO_ORIGIN.sub(lambda _: api_url, url)
        response = super().request(method, url, *args, **kwargs)
        self._last.retry_after = response.headers.get("Retry-After")
        return response

    def last_retry_after(self) -> float | None:
        """Retry-After (seconds) of this thread's last response; the SDK's exceptions drop the headers."""
        try:
            return float(getattr(self._last, "retry_after", None) or "")
        except ValueError:  # absent, or an HTTP date, which Twilio does not send
            return None


class TwilioGateway:
    """Sends SMS and places calls from our number; returns Twilio's SID."""

    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, api_url: str | None = None, timeout: float = 10
    ):
        self.from_number = from_number
        self._http = LoopbackAwareHttpClient(api_url, timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def send_sms(self, to: str, body: str, status_callback: str | None = None) -> str:
        with self._delivery("SMS", to):
            message = self._client.messages.create(
                to=to,
                from_=self.from_number,
                body=body,
                status_callback=status_callback or values.unset,
                validity_period=SMS_VALIDITY_PERIOD,
            )
        log_event(_log, "twilio.sms.sent", sid=message.sid, to=_masked(to))
        return message.sid

    def place_call(self, to: str, twiml: str, status_callback: str | None = None,
                   amd_callback: str | None = None) -> str:
        """Place a call; with `amd_callback`, with asynchronous answering machine detection posting there."""
        amd = {"machine_detection": MACHINE_DETECTION, "async_amd": "true", "async_amd_status_callback": amd_callback,
               "async_amd_status_callback_method": "POST"} if amd_callback else {}
        with self._delivery("Call", to):
            call = self._client.calls.create(
                to=to,
                from_=self.from_number,
                twiml=twiml,
                status_callback=status_callback or values.unset,
                status_callback_event=CALL_STATUS_EVENTS,
                timeout=CALL_RING_TIMEOUT,
                **amd,
            )
        log_event(_log, "twilio.call.placed", sid=call.sid, to=_masked(to))
        return call.sid

    def texts_since(self, to: str, since: datetime, until: datetime | None = None) -> list[tuple[str, str]]:
        """(sid, body) of the texts from our number to `to` created since `since` (and until `until`), oldest
        first. Twilio filters by the day sent; the instant is filtered here. Raises DeliveryFailed when Twilio
        cannot be asked."""
        with self._delivery("Message lookup", to):
            found = self._client.messages.list(to=to, from_=self.from_number, date_sent_after=_day(since),
                                               page_size=LOOKUP_PAGE_SIZE, limit=LOOKUP_LIMIT)
        return [(m.sid, m.body or "") for m in reversed(found)  # listed newest first
                if _within(_created(m), since, until)]

    def calls_since(self, to: str, since: datetime, until: datetime | None = None) -> list[str]:
        """The sids of the calls from our number to `to` created since `since` (and until `until`), oldest
        first."""
        with self._delivery("Call lookup", to):
            found = self._client.calls.list(to=to, from_=self.from_number, start_time_after=_day(since),
                                            page_size=LOOKUP_PAGE_SIZE, limit=LOOKUP_LIMIT)
        return [c.sid for c in reversed(found) if _within(_created(c), since, until)]

    def update_call(self, call_sid: str, twiml: str) -> str:
        """Replace what a live call plays (a voicemail after the beep); returns the call's SID."""
        with self._delivery("Call update", ""):
            call = self._client.calls(call_sid).update(twiml=twiml)
        log_event(_log, "twilio.call.updated", sid=call.sid)
        return call.sid

    @contextmanager
    def _delivery(self, what: str, to: str) -> Iterator[None]:
        action = f"{what} to {_masked(to)}"
        try:
            yield
        # TwilioServiceException: the RFC 9457 error shape some Twilio APIs already answer with.
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _translate(exc, action, to, self._http.last_retry_after()) from exc
        except TwilioException as exc:  # a list page that did not load: the lookup failed, nothing was sent
            status = getattr(exc.args[1] if len(exc.args) > 1 else None, "status_code", "?")
            raise DeliveryFailed(f"{action} failed: Twilio answered HTTP {status}", permanent=False) from exc
        except requests.ReadTimeout as exc:
            # Twilio may have accepted the request: a retry could page the person twice.
            raise DeliveryFailed(
                f"{action}: no answer from Twilio within {self._http.timeout} s; it may have been sent",
                permanent=False, maybe_sent=True,
            ) from exc
        except requests.ConnectionError as exc:
            raise DeliveryFailed(f"{action}: could not reach Twilio ({type(exc).__name__})", permanent=False) from exc


def _configuration(hint: str) -> Callable[[str], DeliveryFailed]:
    def make(message: str) -> DeliveryFailed:
        return DeliveryFailed(f"{message}. This is a configuration problem: {hint}", permanent=True)

    return make


# Twilio error code -> our exception. Twilio splits codes into new ones over time, so codes not
# listed fall back on the HTTP status in _translate.
_ERRORS: dict[int, Callable[[str], DeliveryFailed]] = {
    21610: ChannelOptedOut,  # the person replied STOP to our number
    21211: InvalidAddress,  # invalid 'To' number
    21614: InvalidAddress,  # not a mobile number: SMS impossible, voice may still work
    21217: InvalidAddress,  # the number does not appear to be valid
    20003: _configuration("check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
    21408: _configuration("enable the destination country in the Twilio account's geo permissions"),
    21612: _configuration("TWILIO_FROM_NUMBER cannot reach this number"),
    30034: _configuration("TWILIO_FROM_NUMBER is not registered for US A2P 10DLC"),
}


def _translate(
    exc: TwilioRestException | TwilioServiceException, action: str, to: str, retry_after: float | None
) -> DeliveryFailed:
    detail = exc.msg if isinstance(exc, TwilioRestException) else exc.detail or exc.title
    message = f"{action} failed: Twilio error {exc.code} (HTTP {exc.status}): {_scrub(detail, to)}"
    if exc.code in _ERRORS:
        return _ERRORS[exc.code](message)
    if exc.code == 20429 or exc.status == 429 or exc.status >= 500:
        return DeliveryFailed(message, permanent=False, retry_after=retry_after)
    return DeliveryFailed(message, permanent=True)  # an unknown refusal: this channel is unusable for now


def _within(created: datetime, since: datetime, until: datetime | None) -> bool:
    # `created` is a second late (_created): the second Twilio gives may have begun up to then.
    return created >= since and (until is None or created - timedelta(seconds=1) <= until)


def _day(at: datetime) -> datetime:
    """The day `at` falls on (UTC), as the list filters take it."""
    return datetime.combine(at.astimezone(UTC).date(), time(), UTC)


def _created(resource: Any) -> datetime:
    """When Twilio created it, to the second: a second early, so nothing created in the same second is missed."""
    created = resource.date_created
    return created + timedelta(seconds=1) if isinstance(created, datetime) else datetime.max.replace(tzinfo=UTC)


def _masked(number: str) -> str:
    # mask() recognises E.164 only; normalise first so a national or malformed number is masked too.
    return mask("+" + re.sub(r"\D", "", number))


def _scrub(text: str, to: str) -> str:
    """Twilio's messages quote the number as sent; hide it, and any other number, in our text."""
    return mask(text.replace(to, _masked(to)) if to else text)


_RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
RECORDING_CHUNK = 64 * 1024


class TwilioRecordings:
    """Streams a call recording from Twilio with the account's credentials, so the bot can play a voicemail
    to someone holding a signed link without the recording's URL (or our credentials) ever leaving us."""

    def __init__(self, account_sid: str, auth_token: str, api_url: str | None = None, timeout: float = 10):
        self._account_sid, self._auth = account_sid, (account_sid, auth_token)
        self._api_url = api_url.rstrip("/") if api_url else None
        self._timeout = timeout
        self._session = requests.Session()

    def open(self, recording_sid: str) -> tuple[str, Iterator[bytes]]:
        """(content type, the audio in chunks). Raises BadInput for a SID that is not a recording's, and
        IntegrationError when Twilio does not hand it over."""
        if not _RECORDING_SID.match(recording_sid):
            raise BadInput("not a recording SID")
        url = f"https://api.twilio.com/2010-04-01/Accounts/{self._account_sid}/Recordings/{recording_sid}.mp3"
        if self._api_url:
            api_url = self._api_url
            url = _TWILIO_ORIGIN.sub(lambda _: api_url, url)
        try:
            # (connect, read) timeouts: a stalled Twilio never holds the listener's request forever.
            response = self._session.get(url, auth=self._auth, stream=True, timeout=(self._timeout, 30))
        except requests.RequestException as exc:
            raise IntegrationError(f"could not reach Twilio for the recording ({type(exc).__name__})") from exc
        if response.status_code != 200:
            response.close()
            raise IntegrationError(f"Twilio answered HTTP {response.status_code} for the recording")
        log_event(_log, "twilio.recording.streamed", sid=recording_sid)

        def chunks() -> Iterator[bytes]:
            with response:
                yield from response.iter_content(RECORDING_CHUNK)

        return response.headers.get("Content-Type", "audio/mpeg"), chunks()


class TwilioSignatureVerifier:
    """Checks X-Twilio-Signature on webhooks.

    Twilio signs the public URL it called, so behind a TLS-terminating proxy the configured public URL
    must be validated, not the one this process sees. The scheme has no timestamp: replays are stopped
    by deduplicating on MessageSid/CallSid.
    """

    def __init__(self, auth_token: str, public_url: str):
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def is_valid(self, path_with_query: str, form: dict[str, str], signature: str | None) -> bool:
        return bool(signature) and self._validator.validate(self._public_url + path_with_query, form, signature)
