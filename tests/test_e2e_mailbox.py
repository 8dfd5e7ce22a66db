"""Issue 11, done when: `oncallbot serve` against a real Dovecot and a real SMTP server on loopback (and the Slack,
Twilio and Google fakes). An email to the support mailbox becomes a page in Slack at once (IDLE); a team member's
authenticated "Reply to All: On It!" stops its escalation, and a forged one does not."""

import time

import httpx
import pytest

from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness.config import example_settings
from tests.harness.dovecot import PASSWORD
from tests.harness.e2e import api, current_week, e2e_config, e2e_env, seed_quarter, utc_now, wait_until
from tests.harness.gcal import service_account_file
from tests.harness.mail import mail
from tests.harness.mailroom import email_section
from tests.harness.serve import ServeProcess, free_port

pytestmark = pytest.mark.e2e
PEOPLE = {p.id: p for p in example_settings().team_model().people}
PASS = "dkim=pass header.d=example.com; dmarc=pass header.from=example.com"


@pytest.fixture
def stack(tmp_path, dovecot, smtp_server):
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        seeded = seed_quarter(gcal, utc_now())
        key_file = service_account_file(tmp_path, f"{gcal.url}/token")
        port = free_port()
        # A long poll interval: only IDLE can bring the email in time.
        config = e2e_config(tmp_path, port, acknowledgment={"window": "1m"},
                            email=email_section(dovecot, smtp_server, poll_interval="5m"))
        env = {**e2e_env(slack, twilio, gcal, key_file, f"sqlite:///{tmp_path}/e2e.sqlite3"),
               "ONCALLBOT_IMAP_PASSWORD": PASSWORD}
        server = ServeProcess(config, tmp_path, env=env, port=port)
        server.start()
        try:
            wait_until(lambda: httpx.get(f"{server.url}/healthz", timeout=2).json() == {"status": "ok"}, 15,
                       "the mailbox to be read")
            yield server, slack, dovecot, seeded
        finally:
            server.stop()


def test_an_email_becomes_a_page_in_slack_and_only_an_authenticated_reply_stops_it(stack):
    server, slack, dovecot, seeded = stack
    person = PEOPLE[current_week(seeded, utc_now())[1]]
    raw, ticket_id = mail("Checkout broken", "Customers cannot pay since 9pm.")
    sent_at = time.monotonic()
    dovecot.deliver(raw)
    card = wait_until(lambda: next((m for m in slack.messages("C01SUPPORT") if "Checkout broken" in m["text"]), None),
                      5, "the page's card in the support channel")
    print(f"email to Slack card: {time.monotonic() - sent_at:.2f}s")  # the goal: within 2 s with IDLE
    page_id = int(card["text"].split("#")[1].split(":")[0])
    page = api(server, "GET", f"/api/v1/pages/{page_id}").json()
    assert page["source"] == "email" and page["state"] == "open"

    sender = f"{person.name} <{person.email}>"
    dovecot.deliver(mail("Re: Checkout broken", "On It!", sender=sender, in_reply_to=ticket_id)[0])  # no DKIM/DMARC
    wait_until(lambda: any(e["event"] == "not_counted" for e in
                           api(server, "GET", f"/api/v1/pages/{page_id}").json()["timeline"]), 10, "the forged reply")
    assert api(server, "GET", f"/api/v1/pages/{page_id}").json()["state"] == "open"

    genuine = "On It! looking now\n\nOn Tue, Dec 1, 2026, Casey Customer wrote:\n> Customers cannot pay since 9pm.\n"
    dovecot.deliver(mail("Re: Checkout broken", genuine, sender=sender, in_reply_to=ticket_id, auth=PASS)[0])
    page = wait_until(lambda: (p := api(server, "GET", f"/api/v1/pages/{page_id}").json())["state"] == "on_it" and p,
                      10, "the authenticated On It!")
    assert page["on_it_by"] == person.id
    assert {s["status"] for s in page["escalation_steps"]} == {"cancelled"}  # the escalation stopped
    wait_until(lambda: any(m.get("thread_ts") == card["ts"] and f"On It! {person.name}" in m["text"]
                           and "(via email)" in m["text"] for m in slack.messages("C01SUPPORT")), 10,
               "the On It! line in the page's thread")
