"""Email as a notification channel: one outbox message to one team member over SMTP (stdlib smtplib, STARTTLS
or implicit TLS, a timeout on every call). Marked as automatic mail (RFC 3834) so no auto-responder answers
it, and with the bot's own header so the mailbox watch never takes it for a ticket."""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ...domain.messages import Delivered, Outgoing
from ...errors import DeliveryFailed
from .parse import BOT_HEADER

SMTP_TIMEOUT = 20.0
SUBJECT_LIMIT = 120


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str  # implicit | starttls | none (loopback only)
    username: str | None
    sender: str  # the From address
    password: str | None = None


def compose(message: Outgoing, sender: str) -> EmailMessage:
    assert message.person is not None and message.person.email  # only team members are sent email
    first_line = message.text.strip().splitlines()[0] if message.text.strip() else "oncallbot"
    subject = first_line if len(first_line) <= SUBJECT_LIMIT else first_line[:SUBJECT_LIMIT - 1] + "…"
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.person.email
    mail["Subject"] = f"[oncallbot] {subject}"
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "oncallbot")
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail[BOT_HEADER] = str(message.id)
    mail.set_content(message.text)
    return mail


class SmtpNotifier:
    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def deliver(self, message: Outgoing) -> Delivered:
        """Send one message; the bot writes only to team members (never to a customer)."""
        if message.person is None or not message.person.email:
            raise DeliveryFailed("no email address for this person", permanent=True)
        mail = compose(message, self.settings.sender)
        try:
            with self._connect() as smtp:
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"the mail server refused the recipient ({_codes(exc)})", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise DeliveryFailed(f"the mail server said {exc.smtp_code}", permanent=permanent) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise DeliveryFailed("the mail server hung up", maybe_sent=True) from exc
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryFailed(f"the mail server cannot be reached ({type(exc).__name__})") from exc
        return Delivered(ref=str(mail["Message-ID"]))

    def _connect(self) -> smtplib.SMTP:
        settings, context = self.settings, ssl.create_default_context()
        smtp: smtplib.SMTP
        if settings.tls == "implicit":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT)
            if settings.tls == "starttls":
                smtp.starttls(context=context)
        if settings.username and settings.password:
            smtp.login(settings.username, settings.password)
        return smtp


def _codes(exc: smtplib.SMTPRecipientsRefused) -> str:
    return ", ".join(str(code) for code, _ in exc.recipients.values())
