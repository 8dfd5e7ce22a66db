"""Exactly once, for real: two `serve` replicas on one PostgreSQL database, and a `serve` killed with
kill -9 in the middle of a run of escalations and started again. Every step fires once; nobody gets the
same text twice."""

import signal
import subprocess
import sys
from collections import Counter

import pytest

from oncallbot.adapters.db import Store
from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness.e2e import api, e2e_config, e2e_env, seed_quarter, utc_now, wait_until
from tests.harness.gcal import service_account_file
from tests.harness.serve import ServeProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
FAST_CHAIN = {
    "steps": [{"notify": "oncall", "channels": ["sms"], "after": "0s"},
              {"notify": "manager", "channels": ["sms"], "after": "1s"},
              {"notify": "senior_managers", "channels": ["sms"], "after": "1s"}],
    "repeat_every": "1s", "max_repeats": 0, "phone_throttle": {"calls": 100, "per": "15m"},
}
STEPS = len(FAST_CHAIN["steps"])


@pytest.fixture
def fakes(tmp_path):
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        seed_quarter(gcal, utc_now())
        yield slack, twilio, gcal, service_account_file(tmp_path, f"{gcal.url}/token")


def start_replicas(tmp_path, fakes, database_url, count):
    slack, twilio, gcal, key_file = fakes
    env = e2e_env(slack, twilio, gcal, key_file, database_url)
    servers = []
    for _ in range(count):
        port = free_port()
        config = e2e_config(tmp_path, port, acknowledgment={"window": "1s"}, escalation=FAST_CHAIN)
        servers.append(ServeProcess(config, tmp_path, env=env, port=port))
    upgrade = subprocess.run([sys.executable, "-m", "oncallbot", "db", "upgrade", "--config", str(servers[0].config)],
                             cwd=tmp_path, env=servers[0].env, capture_output=True, text=True, timeout=60)
    assert upgrade.returncode == 0, upgrade.stderr
    return [server.start() for server in servers]


def open_pages(server, count):
    ids = []
    for index in range(count):
        response = api(server, "POST", "/api/v1/pages", json={"summary": f"Ticket {index}", "source": "api",
                                                               "external_id": f"t-{index}"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def step_counts(database_url, page_ids):
    store = Store(database_url)
    try:
        with store.transaction() as tx:
            events = tx.events_of_pages(page_ids)
            pages = {p: tx.page(p) for p in page_ids}
            rows = [n for p in page_ids for n in tx.notifications_of(p)]
            return (Counter(e.page_id for e in events if e.kind == "step"),
                    {p: (page.fired, page.state) for p, page in pages.items()},
                    [(n.key, n.kind, n.channel, n.state, n.person_id) for n in rows])
    finally:
        store.dispose()


def all_steps_fired(database_url, page_ids):
    """Every step fired and every text it queued handed to a sender (a pending row is still on its way)."""
    _, pages, rows = step_counts(database_url, page_ids)
    return all(fired == STEPS for fired, _ in pages.values()) and not any(r[3] == "pending" for r in rows)


def assert_exactly_once(database_url, page_ids, twilio):
    steps, pages, rows = step_counts(database_url, page_ids)
    assert all(steps[p] == STEPS for p in page_ids), steps  # no step fired twice, none skipped
    texts = [(r.form["To"], r.form["Body"]) for r in twilio.requests_to("/Messages.json", method="POST")]
    duplicates = [item for item, n in Counter(texts).items() if n > 1]
    assert duplicates == [], duplicates
    sms_rows = [r for r in rows if r[2] == "sms" and r[1] in ("page", "digest")]
    # Every text the bot meant to send went out once, or was reported as interrupted; none is left behind.
    assert {state for *_, state, _ in sms_rows} <= {"sent", "grouped", "ambiguous", "sending"}
    sent = sum(1 for r in sms_rows if r[3] == "sent")
    interrupted = sum(1 for r in sms_rows if r[3] in ("sending", "ambiguous"))  # killed mid-send: never re-sent
    assert sent <= len(texts) <= sent + interrupted


def test_two_replicas_never_send_the_same_step_twice(tmp_path, fakes, pg_url):
    first, second = start_replicas(tmp_path, fakes, pg_url, 2)
    try:
        page_ids = open_pages(first, 15) + open_pages(second, 0)
        wait_until(lambda: all_steps_fired(pg_url, page_ids), 60, "every step of every page")
        assert_exactly_once(pg_url, page_ids, fakes[1])
        people = {r.form["To"] for r in fakes[1].requests_to("/Messages.json", method="POST")}
        assert len(people) == 3  # on call, their manager, the senior manager
    finally:
        for server in (first, second):
            assert server.stop() == 0, server.output()


def test_kill_9_mid_escalation_then_restart_sends_each_due_step_once(tmp_path, fakes, pg_url):
    [server] = start_replicas(tmp_path, fakes, pg_url, 1)
    page_ids = open_pages(server, 12)
    twilio = fakes[1]
    wait_until(lambda: twilio.requests_to("/Messages.json", method="POST"), 30, "the first text")
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    fired_before, _, _ = step_counts(pg_url, page_ids)
    assert sum(fired_before.values()) < STEPS * len(page_ids)  # killed in the middle of the run

    restarted = ServeProcess(server.config, tmp_path, env=server.env, port=free_port()).start()
    try:
        wait_until(lambda: all_steps_fired(pg_url, page_ids), 60, "every step after the restart")
        assert_exactly_once(pg_url, page_ids, twilio)
    finally:
        assert restarted.stop() == 0, restarted.output()
