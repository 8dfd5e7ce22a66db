"""Issue 11: the mailbox's rules, pure (domain.mail) and as the configuration and the SMTP channel apply them."""

from datetime import timedelta

import pytest

from oncallbot.bootstrap import Environment, build_deliverer
from oncallbot.config import parse_settings
from oncallbot.domain.mail import InboundMail, MailPolicy, authenticated, loop_reason, sender_label
from oncallbot.errors import ConfigError
from oncallbot.services import reports
from oncallbot.services.delivery import deliver_pending
from tests.harness.config import EXAMPLE_CONFIG, example_data
from tests.harness.mailroom import email_section
from tests.harness.pager import Pager

POLICY = MailPolicy(frozenset({"support@example.test", "oncallbot@example.com"}), "mx.example.com")


def inbound(**fields) -> InboundMail:
    base = dict(message_id="<1@x>", subject="Help", sender_name="Casey", sender_address="casey@customer.test",
                text="Help", reply_text="Help")
    return InboundMail(**{**base, **fields})


@pytest.mark.parametrize("results, expected", [
    (["mx.example.com; dkim=pass header.d=example.com header.s=s1"], True),
    (["mx.example.com 1; dmarc=pass (p=reject) header.from=example.com; spf=fail"], True),
    (["mx.example.com; dkim=pass header.i=@mail.example.com"], False),  # a subdomain does not speak for its parent
    (["mx.example.com; dkim=pass header.d=evil.test; dmarc=fail header.from=example.com"], False),  # another signer
    (["mx.example.com; spf=pass smtp.mailfrom=example.com"], False),  # SPF alone is not alignment
    (["other.server; dkim=pass header.d=example.com"], False),  # not the team's server
    # the sender's own header sits below ours; ours says fail
    (["mx.example.com; dkim=fail header.d=example.com", "mx.example.com; dkim=pass header.d=example.com"], False),
    ([], False),
])
def test_an_emailed_acknowledgment_counts_only_when_the_teams_server_vouches_for_the_domain(results, expected):
    assert authenticated(results, "mx.example.com", "example.com") is expected


def test_without_an_authserv_id_no_emailed_acknowledgment_counts():
    assert not authenticated(["mx.example.com; dkim=pass header.d=example.com"], None, "example.com")


@pytest.mark.parametrize("fields, reason", [
    ({"auto_submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
    ({"auto_submitted": "auto-generated"}, "Auto-Submitted: auto-generated"),
    ({"precedence": "bulk"}, "Precedence: bulk"),
    ({"precedence": "list"}, "Precedence: list"),
    ({"auto_reply_header": True}, "an auto-reply header"),
    ({"subject": "Out of Office: back Monday"}, "an out-of-office reply"),
    ({"subject": "Automatic reply: Help"}, "an out-of-office reply"),
    ({"return_path_empty": True}, "a bounce or delivery report"),
    ({"report": True}, "a bounce or delivery report"),
    ({"sender_address": "mailer-daemon@mx.customer.test"}, "a bounce or delivery report"),
    ({"from_bot": True}, "the bot's own mail"),
    ({"sender_address": "oncallbot@example.com"}, "the bot's own mail"),
])
def test_loops_bounces_and_the_bots_own_mail_are_never_pages(fields, reason):
    assert loop_reason(inbound(**fields), POLICY) == reason


def test_a_person_writing_is_no_loop():
    assert loop_reason(inbound(auto_submitted="no", subject="Out of ink"), POLICY) is None


def test_the_customer_is_named_by_name_and_domain_only():
    assert sender_label("Casey Customer", "casey@customer.test") == "Casey Customer (customer.test)"
    assert sender_label("casey@customer.test", "casey@customer.test") == "someone at customer.test"
    assert sender_label("", "casey@customer.test") == "someone at customer.test"


def _config(**sections):
    data = example_data()
    data.update(sections)
    return data


@pytest.mark.parametrize("sections, problem", [
    ({"escalation": {"steps": [{"notify": "oncall", "channels": ["email"]}]}},
     "escalation.steps: email is used but email.smtp is not configured"),
    ({"report": {"email": True}}, "report.email: email is used but email.smtp is not configured"),
    ({"email": {"imap": {"host": "imap.example.com", "username": "s@example.com", "tls": "none"}}},
     'email.imap.tls: "none" is allowed only to a loopback host, not "imap.example.com"'),
    ({"email": {"imap": {"host": "outlook.office365.com", "username": "s@example.com", "auth": "microsoft"}}},
     "email.imap.tenant_id: required (with client_id) when email.imap.auth is microsoft"),
    ({"email": {"imap": {"host": "imap.example.com", "username": "s@example.com", "tls": "ssl"}}},
     "email.imap.tls: \"ssl\" input should be 'implicit', 'starttls' or 'none'"),
    ({"email": {"smtp": {"host": "smtp.example.com"}}}, "email.smtp.from: is required"),
    ({"email": {"max_pages_per_sender": 0}},
     "email.max_pages_per_sender: 0 input should be greater than or equal to 1"),
])
def test_email_configuration_errors_name_the_key(sections, problem):
    with pytest.raises(ConfigError) as caught:
        parse_settings(_config(**sections), EXAMPLE_CONFIG.parent)
    assert problem in caught.value.problems


def test_without_an_email_section_nothing_changes():
    settings = parse_settings(_config(), EXAMPLE_CONFIG.parent)
    assert settings.email is None and settings.report.email is False
    assert build_deliverer(settings, Environment()).email is None


def test_an_escalation_step_by_email_reaches_the_smtp_server(store, smtp_server):
    pager = Pager(store, email=email_section(smtp=smtp_server),
                  escalation={"steps": [{"notify": "oncall", "channels": ["email", "slack"]}]})
    router = build_deliverer(pager.settings, Environment())
    page = pager.open("Voicemail from ACME: server down")
    pager.clock.advance(timedelta(minutes=15))
    from oncallbot.services import paging

    paging.fire_due_escalations(store, pager.procedure, pager.clock.now())
    deliver_pending(store, pager.procedure, router, pager.clock.now())
    [(recipients, message)] = smtp_server.wait_for(1)
    assert recipients == ["aisha.khan@example.com"]  # the on-call person, never a customer
    assert message["Subject"] == f"[oncallbot] Page #{page.id} needs an On It!: Voicemail from ACME: server down"
    assert message["Auto-Submitted"] == "auto-generated" and message["X-Auto-Response-Suppress"] == "All"
    assert message["From"] == "oncallbot@example.com"
    notified = [e for e in paging.get_page(store, page.id).timeline if e.kind == "notified"]
    assert {(e.person_id, e.channel) for e in notified} >= {("aisha", "email")}


def test_an_email_the_smtp_server_cannot_take_falls_back_to_the_persons_other_channels(store):
    from tests.harness.dovecot import free_port

    closed = type("Closed", (), {"port": free_port()})()  # nothing listens there: the connection is refused
    pager = Pager(store, email=email_section(smtp=closed),
                  escalation={"steps": [{"notify": "oncall", "channels": ["email"]}]})
    router = build_deliverer(pager.settings, Environment())
    router.slack = pager.deliverer  # Slack and the phone recorded; email really sent (and refused)
    router.twilio = None
    page = pager.open()
    pager.clock.advance(timedelta(minutes=15))
    from oncallbot.services import paging

    paging.fire_due_escalations(store, pager.procedure, pager.clock.now())
    for _ in range(6):  # each retry of the refused email, then its fallbacks
        deliver_pending(store, pager.procedure, router, pager.clock.now())
        pager.clock.advance(timedelta(minutes=1))
    timeline = paging.get_page(store, page.id).timeline
    assert any(e.kind == "delivery_failed" and e.channel == "email" for e in timeline)
    assert any(m.person.id == "aisha" and m.channel == "slack" for m in pager.deliverer.sent if m.person)


def test_the_weekly_report_goes_by_email_too_when_report_email_is_on(store, smtp_server):
    pager = Pager(store, email=email_section(smtp=smtp_server), report={"email": True})
    router = build_deliverer(pager.settings, Environment())
    assert reports.send_weekly_report(store, pager.procedure, pager.clock.now())
    deliver_pending(store, pager.procedure, router, pager.clock.now())
    received = smtp_server.wait_for(2)
    assert sorted(r for rs, _ in received for r in rs) == ["dana.whitfield@example.com", "omar.haddad@example.com"]
    assert all(m["Auto-Submitted"] == "auto-generated" for _, m in received)
