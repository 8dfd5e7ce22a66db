"""Mail for the mailbox tests: messages built as real clients send them, and a real SMTP server (aiosmtpd) on a
free loopback port that keeps what the bot sends."""

import threading
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import formatdate, make_msgid

from aiosmtpd.controller import Controller

from .dovecot import free_port

AUTHSERV = "mx.example.com"  # the team's receiving server, as email.authserv_id names it
SUPPORT = "support@example.test"


def mail(subject="Printer on fire", body="Our printer is on fire, please call.",
         sender="Casey Customer <casey@customer.test>", html: str | None = None, message_id: str | None = None,
         in_reply_to: str | None = None,
         references: str | None = None, headers: dict[str, str] | None = None,
         attachment: tuple[str, bytes] | None = None, auth: str | None = None) -> tuple[bytes, str]:
    """A message as raw bytes, and its Message-ID. `auth`: an Authentication-Results header as the team's own
    server would add it on top ("dkim=pass header.d=example.com")."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = formatdate()
    message_id = message_id or make_msgid(domain="customer.test")
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = references or in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    if html is not None and body is None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
    if attachment is not None:
        name, data = attachment
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    raw = message.as_bytes()
    if auth is not None:
        raw = f"Authentication-Results: {AUTHSERV}; {auth}\r\n".encode() + raw
    return raw, message_id


class _Keep:
    def __init__(self, received: list, arrived: threading.Condition):
        self.received, self.arrived = received, arrived

    async def handle_DATA(self, server, session, envelope):
        message = BytesParser(policy=default).parsebytes(envelope.original_content or envelope.content)
        with self.arrived:
            self.received.append((list(envelope.rcpt_tos), message))
            self.arrived.notify_all()
        return "250 OK"


class SmtpServer:
    """aiosmtpd on 127.0.0.1: `received` holds (recipients, message) in arrival order."""

    def __init__(self):
        self.port = free_port()
        self.received: list = []
        self._arrived = threading.Condition()
        self.controller = Controller(_Keep(self.received, self._arrived), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        """Block until `count` messages arrived (a condition with a deadline, not a sleep)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"timed out waiting for {count} messages; got {len(self.received)}")
            return list(self.received)
