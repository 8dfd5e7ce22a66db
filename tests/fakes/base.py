"""A loopback HTTP server that records requests and can inject faults.

Vendor fakes subclass `FakeServer` and implement `handle` (the API) and `error_body` (the
vendor's error JSON for injected statuses). Everything binds to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as sent (still percent-encoded), without the query string
    query: dict[str, list[str]]
    headers: Message  # case-insensitive: headers["authorization"] == headers["Authorization"]
    body: bytes
    form: dict[str, str]  # first value of each form field; all values are in form_lists
    form_lists: dict[str, list[str]]
    json: Any  # parsed body when it was sent as JSON, else None
    status: int = 0  # the status this fake answered with
    received_at: float = 0.0  # time.time() on arrival, for latency measurements (bench/)


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON, str/bytes sent as is, None -> empty
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    path_suffix: str
    method: str | None
    status: int | None
    times: int
    retry_after: int | None
    body: Any
    delay: float | None
    hold: threading.Event | None = None  # answered once it is set (at most HOLD_LIMIT later)

    def matches(self, method: str, path: str) -> bool:
        return path.endswith(self.path_suffix) and self.method in (None, method)


HOLD_LIMIT = 20.0  # seconds a held request waits for its release at most


@dataclass(frozen=True)
class RandomFaults:
    """Faults at random, as real providers have bad moments: a share of calls answered with 500, with 429 and
    Retry-After, or only after `slow_delay` (longer than the client waits: handled, but the client gave up)."""

    server_error: float = 0.05
    rate_limited: float = 0.02
    slow: float = 0.01
    slow_delay: float = 11.0  # our clients wait 10 s
    retry_after: int = 1
    seed: int | None = None


class FakeServer:
    def __init__(self) -> None:
        self._lock = threading.RLock()  # guards recorded requests, faults and vendor state
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._all_requests: list[RecordedRequest] = []  # never cleared: the privacy scan (tests/harness/privacy.py)
        self._faults: list[_Fault] = []
        self._random_faults: RandomFaults | None = None
        self._random = random.Random()
        self.random_fault_counts: dict[str, int] = {"server_error": 0, "rate_limited": 0, "slow": 0}
        self._server: ThreadingHTTPServer | None = None
        # The vendor's clock, for the times it gives (Twilio's date_created, Slack's ts): a test that injects
        # its own clock sets it, as a provider's clock agrees with ours within seconds.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        # shutdown() waits up to one poll interval; the default 0.5 s would dominate test time.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on an injected delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- recorded requests ------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def all_requests(self) -> list[RecordedRequest]:
        """Every request received, even those a `clear()` forgot."""
        with self._lock:
            return list(self._all_requests)

    def requests_to(self, path_suffix: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(path_suffix) and method in (None, r.method)]

    def clear(self) -> None:
        """Forget recorded requests (vendor state and pending faults are kept)."""
        with self._lock:
            self._requests.clear()

    def wait_for(
        self,
        predicate: str | Callable[[RecordedRequest], bool],
        timeout: float = 5.0,
        count: int = 1,
    ) -> list[RecordedRequest]:
        """Block until `count` recorded requests match; a str predicate is a path suffix."""
        def matches(r: RecordedRequest) -> bool:
            return r.path.endswith(predicate) if isinstance(predicate, str) else predicate(r)

        with self._changed:
            matched: list[RecordedRequest] = []

            def enough() -> bool:
                matched[:] = [r for r in self._requests if matches(r)]
                return len(matched) >= count

            if not self._changed.wait_for(enough, timeout):
                seen = "\n  ".join(f"{r.method} {r.path} -> {r.status}" for r in self._requests)
                raise AssertionError(
                    f"{type(self).__name__}: {len(matched)}/{count} matching requests after {timeout}s; "
                    f"received:\n  {seen or '(nothing)'}"
                )
            return matched

    # -- fault injection --------------------------------------------------------------------
    def inject(
        self,
        path_suffix: str,
        status: int | None = None,
        times: int = 1,
        retry_after: int | None = None,
        body: Any = None,
        delay: float | None = None,
        method: str | None = None,
        hold: threading.Event | None = None,
    ) -> None:
        """The next `times` requests whose path ends with `path_suffix` are answered with
        `status` (and the vendor's error body unless `body` is given), after `delay` seconds, or once
        `hold` is set (at most HOLD_LIMIT seconds later: a test that forgets it fails, never hangs).
        With status None the request is only delayed, then handled normally; it is recorded when answered."""
        with self._lock:
            self._faults.append(_Fault(path_suffix, method, status, times, retry_after, body, delay, hold))

    def fail_at_random(self, faults: RandomFaults | None) -> None:
        """From now on, answer a share of all requests with a fault (None: stop). Faults set with `inject`
        come first."""
        with self._lock:
            self._random_faults = faults
            self._random = random.Random(faults.seed if faults else None)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
            return self._random_fault(method, path)

    def _random_fault(self, method: str, path: str) -> _Fault | None:
        chances = self._random_faults
        if chances is None:
            return None
        draw = self._random.random()
        if draw < chances.server_error:
            self.random_fault_counts["server_error"] += 1
            return _Fault(path, method, 500, 1, None, None, None)
        draw -= chances.server_error
        if draw < chances.rate_limited:
            self.random_fault_counts["rate_limited"] += 1
            return _Fault(path, method, 429, 1, chances.retry_after, None, None)
        draw -= chances.rate_limited
        if draw < chances.slow:
            self.random_fault_counts["slow"] += 1
            return _Fault(path, method, None, 1, None, None, chances.slow_delay)
        return None

    # -- vendor hooks -----------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        """Answer one request; called with the lock held so vendor state needs no more locking."""
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        """The vendor's error payload for an injected `status`."""
        raise NotImplementedError

    # -- plumbing ---------------------------------------------------------------------------
    def _respond(self, request: RecordedRequest) -> Response | None:
        """Apply a fault or the vendor handler, record, and encode the body (under the lock,
        as it may reference vendor state). None: the fake is stopping."""
        fault = self._take_fault(request.method, request.path)
        if fault and fault.delay and self._stopping.wait(fault.delay):
            return None
        if fault and fault.hold:
            fault.hold.wait(HOLD_LIMIT)
            if self._stopping.is_set():
                return None
        with self._lock:
            if fault and fault.status is not None:
                body = fault.body if fault.body is not None else self.error_body(fault.status)
                response = Response(fault.status, body)
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = str(fault.retry_after)
            else:
                try:
                    response = self.handle(request)
                except Exception:  # a bug in the fake: make it visible to the test, not a hang
                    response = Response(500, traceback.format_exc())
            self._requests.append(replace(request, status=response.status))
            self._all_requests.append(self._requests[-1])
            self._changed.notify_all()
            payload, content_type = _encode(response.body)
        headers = {"Content-Type": content_type, **response.headers} if payload else response.headers
        return Response(response.status, payload, headers)


def _parse(method: str, target: str, headers: Message, body: bytes) -> RecordedRequest:
    url = urlsplit(target)
    content_type = headers.get_content_type()
    form_lists: dict[str, list[str]] = {}
    parsed_json = None
    if content_type == "application/x-www-form-urlencoded":
        form_lists = parse_qs(body.decode(), keep_blank_values=True)
    elif content_type == "application/json" and body:
        parsed_json = json.loads(body)
    return RecordedRequest(
        method=method,
        path=url.path,
        query=parse_qs(url.query, keep_blank_values=True),
        headers=headers,
        body=body,
        form={k: v[0] for k, v in form_lists.items()},
        form_lists=form_lists,
        json=parsed_json,
        received_at=time.time(),
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout tests) leaves a broken pipe behind; that is expected.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs; needs Content-Length always

        def _dispatch(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            response = fake._respond(_parse(self.command, self.path, self.headers, body))
            if response is None:
                self.close_connection = True
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        def log_message(self, format, *args) -> None:  # keep test output quiet
            pass

    return Handler


def _encode(body: Any) -> tuple[bytes, str]:
    if body is None:
        return b"", ""
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json; charset=utf-8"
