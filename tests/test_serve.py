"""`oncallbot serve` as a real process: embedded defaults, no accounts, clean shutdown."""

import signal

import httpx
import pytest

from tests.harness.config import EXAMPLE_CONFIG
from tests.harness.serve import ServeProcess

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_cleanly(tmp_path, sig):
    server = ServeProcess(EXAMPLE_CONFIG, tmp_path).start()
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=5).json() == {"status": "ok"}
        body = httpx.get(f"{server.url}/api/v1/oncall", params={"at": "2027-03-15T19:00:00-07:00"}, timeout=5).json()
        assert body["current"]["person"]["name"] == "Priya Patel"
    finally:
        code = server.stop(sig)
    output = server.output()
    assert code == 0, output
    assert "Slack is not configured" in output and "console notifier" in output
    assert '"event": "stopped"' in output
    assert "Traceback" not in output
