"""`serve` restarted while the calendar hangs: escalation and delivery start at once, the rotation sync catches
up in the background."""

import subprocess
import sys

import pytest

from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness.config import example_settings
from tests.harness.e2e import api, current_week, e2e_config, e2e_env, seed_quarter, utc_now
from tests.harness.gcal import service_account_file
from tests.harness.serve import ServeProcess, free_port

pytestmark = pytest.mark.e2e
PEOPLE = {p.id: p for p in example_settings().team_model().people}
HANG = 600  # longer than the whole test: the Google client's own timeout (15 s) gives up first


def answered_listings(gcal):
    return gcal.requests_to("/events", method="GET")  # a fake records a request once it has answered it


def test_a_page_is_sent_while_the_first_sync_still_waits_on_the_calendar(tmp_path):
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        seeded = seed_quarter(gcal, utc_now())
        port = free_port()
        config = e2e_config(tmp_path, port)
        env = e2e_env(slack, twilio, gcal, service_account_file(tmp_path, f"{gcal.url}/token"),
                      f"sqlite:///{tmp_path}/e2e.sqlite3")
        server = ServeProcess(config, tmp_path, env=env, port=port)
        # The rotation as the previous run left it, then the calendar stops answering.
        synced = subprocess.run([sys.executable, "-m", "oncallbot", "sync", "--config", str(config)], cwd=tmp_path,
                                env=server.env, capture_output=True, text=True, timeout=60)
        assert synced.returncode == 0, synced.stderr
        before = len(answered_listings(gcal))
        gcal.inject("/events", method="GET", delay=HANG)

        server.start(wait_for_sync=False)
        try:
            _, person_id = current_week(seeded, utc_now())
            response = api(server, "POST", "/api/v1/pages", json={"summary": "Voicemail: site down",
                                                                  "source": "phone"})
            assert response.status_code == 201 and response.json()["responsible"] == person_id
            page_id = response.json()["id"]
            card = slack.wait_for(lambda r: r.path.endswith("chat.postMessage") and
                                  f"Page #{page_id}" in (r.json or {}).get("text", ""), timeout=10)[0]
            assert f"<@{PEOPLE[person_id].slack_id}>" in str(card.json["blocks"])
            assert len(answered_listings(gcal)) == before  # the first sync is still waiting on the calendar

            # The client gives up on the hung request, retries, and the sync completes in the background.
            gcal.wait_for(lambda r: r.path.endswith("/events") and r.method == "GET", count=before + 1, timeout=60)
            server.wait_for_output('"event": "rotation synced"', timeout=30)
        finally:
            code = server.stop()
        assert code == 0, server.output()
