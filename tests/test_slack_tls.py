"""The Slack client over TLS, as it talks to slack.com: one TLS context for every call (a new context per call
loaded the CA certificates each time: tens of milliseconds of CPU on every page's card), still verifying the
server's certificate. The real client against the loopback fake Slack, served over TLS with a self-signed
certificate."""

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from oncallbot.adapters.slack.notifier import SlackNotifier, build_web_client
from oncallbot.domain.messages import CardPayload, Outgoing, PageCard
from oncallbot.domain.vocabulary import Channel, MessageKind
from oncallbot.errors import DeliveryFailed
from tests.fakes import FakeSlack

SUPPORT = "C01SUPPORT"


def self_signed(tmp_path) -> str:
    """A certificate for 127.0.0.1 and its key in one PEM file; it is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake slack")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path / "fake-slack.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path)


@pytest.fixture
def tls_slack(tmp_path):
    """The fake Slack behind TLS: (the fake, its https URL, the certificate file a client may trust)."""
    pem = self_signed(tmp_path)
    fake = FakeSlack().start()
    server = fake._server
    assert server is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    host, port = server.server_address[:2]
    yield fake, f"https://{host}:{port}", pem
    fake.stop()


def card(page_id: int) -> Outgoing:
    page = PageCard(page_id, f"Printer on fire {page_id}", "open", "aisha", None, "22:15 PST", None, None, None,
                    None, None, "api", None)
    return Outgoing(page_id, MessageKind.CARD, Channel.SLACK, f"Page #{page_id}: Printer on fire",
                    None, CardPayload(page, update=False), page_id, f"card:{page_id}")


def test_every_call_shares_one_tls_context_that_verifies(tls_slack, monkeypatch):
    fake, url, pem = tls_slack
    client = build_web_client("xoxb-test", url)
    assert client.ssl is not None and client.ssl.verify_mode == ssl.CERT_REQUIRED and client.ssl.check_hostname
    client.ssl.load_verify_locations(pem)  # trusted like a public CA: the context every call uses is this one
    made = []
    default = ssl._create_default_https_context
    monkeypatch.setattr(ssl, "_create_default_https_context", lambda *a, **k: made.append(1) or default(*a, **k))
    notifier = SlackNotifier(client, SUPPORT, None)

    for page_id in (1, 2, 3):
        assert notifier.deliver(card(page_id)).slack_ts

    assert [m["text"] for m in fake.messages(SUPPORT)] == [f"Page #{i}: Printer on fire {i}" for i in (1, 2, 3)]
    assert made == []  # no call made a context of its own


def test_a_server_whose_certificate_is_not_trusted_is_refused(tls_slack):
    fake, url, _ = tls_slack
    notifier = SlackNotifier(build_web_client("xoxb-test", url), SUPPORT, None)

    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        notifier.deliver(card(1))

    assert fake.messages(SUPPORT) == []
