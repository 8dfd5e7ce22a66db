"""One unauthenticated request must never take paging down: `serve` refuses an oversized body while reading it
(413), whether it declares its length or streams it in chunks, and keeps answering and stops cleanly after."""

import subprocess
import sys

import httpx
import pytest

from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness.e2e import API_TOKEN, api, e2e_config, e2e_env, seed_quarter, utc_now
from tests.harness.gcal import service_account_file
from tests.harness.serve import ServeProcess, free_port

pytestmark = pytest.mark.e2e
TWO_MB = 2 * 1024 * 1024
ROUTES = {  # path -> (headers, one byte of the body)
    "/api/v1/pages": ({"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}, b" "),
    "/slack/events": ({"Content-Type": "application/x-www-form-urlencoded"}, b"x"),
    "/twilio/sms": ({"Content-Type": "application/x-www-form-urlencoded"}, b"x"),
}


def chunks(size: int, byte: bytes, chunk: int = 64 * 1024):
    """A body streamed without Content-Length (Transfer-Encoding: chunked)."""
    for _ in range(size // chunk):
        yield byte * chunk


def healthy(server) -> bool:
    return httpx.get(f"{server.url}/healthz", timeout=5).json() == {"status": "ok"}


@pytest.fixture
def server(tmp_path):
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        seed_quarter(gcal, utc_now())
        port = free_port()
        env = e2e_env(slack, twilio, gcal, service_account_file(tmp_path, f"{gcal.url}/token"),
                      f"sqlite:///{tmp_path}/e2e.sqlite3")
        process = ServeProcess(e2e_config(tmp_path, port), tmp_path, env=env, port=port).start()
        try:
            yield process
        finally:
            process.kill()


def test_two_megabytes_are_refused_on_every_route_and_serve_keeps_answering_then_stops(server):
    for path, (headers, byte) in ROUTES.items():
        for body in (byte * TWO_MB, chunks(TWO_MB, byte)):
            response = httpx.post(f"{server.url}{path}", content=body, headers=headers, timeout=10)
            assert response.status_code == 413, (path, response.text)
            assert "error" in response.json()
            assert healthy(server), path
    assert api(server, "GET", "/api/v1/pages/1").status_code == 404  # nothing was opened
    # A page right after still goes through.
    assert api(server, "POST", "/api/v1/pages", json={"summary": "Voicemail", "source": "phone"}).status_code == 201
    assert server.stop() == 0, server.output()
    assert "Traceback" not in server.output()


def test_a_large_unsigned_slack_body_within_the_limit_is_refused_at_once(server):
    # Just under the limit, so the Slack route reads it all: refusing it must not stall the process.
    response = httpx.post(f"{server.url}/slack/events", content=b"x" * 1_000_000, timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401
    assert healthy(server)
    assert server.stop() == 0, server.output()


def test_logging_a_megabyte_of_untrusted_text_does_not_stall():
    """A log line carries what a caller sent (bolt logs the body of a request it refuses); masking it must take
    time in proportion to its length, or the process holds the GIL and stops answering anything."""
    script = ("import logging; from oncallbot.logs import JsonFormatter; "
              "JsonFormatter().format(logging.makeLogRecord({'msg': 'body: ' + 'x' * 1_000_000}))")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=20)  # was about 15 minutes
