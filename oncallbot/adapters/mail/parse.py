"""MIME in, `InboundMail` out: encoded-words and charsets decoded (stdlib `email`, policy.default), the
plain-text part preferred over HTML (HTML converted by html2text), quoted history and signatures cut by
mail-parser-reply, attachments named and dropped. No rule here: domain.mail decides what the mail is."""

import hashlib
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

import html2text
from mailparser_reply import EmailReplyParser

from ...domain.mail import InboundMail

BOT_HEADER = "X-Oncallbot"  # on every mail the bot sends: its own mail is never a page
REPLY_LANGUAGES = ["en", "de", "fr", "nl", "it", "sv", "da", "pl"]
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _header(message: EmailMessage, name: str) -> str | None:
    value = message.get(name)
    return " ".join(str(value).split()) if value is not None else None


def _ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def _html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.ignore_images, converter.ignore_emphasis, converter.body_width = True, True, 0
    converter.ignore_links = False
    return converter.handle(html)


def _decoded(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset: keep what can be read
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload or "")
    return content if isinstance(content, str) else ""


def body_text(message: EmailMessage) -> tuple[str, tuple[str, ...]]:
    """The body as text, and the attachments' names."""
    attachments = tuple(part.get_filename() or "(unnamed attachment)"
                        for part in message.iter_attachments()) if message.is_multipart() else ()
    if not message.is_multipart() and message.get_content_disposition() == "attachment":
        return "", (message.get_filename() or "(unnamed attachment)",)
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return "", attachments
    text = _decoded(part)  # type: ignore[arg-type]
    if part.get_content_subtype() == "html":
        text = _html_to_text(text)
    return text.replace("\r\n", "\n").strip(), attachments


def newest_text(text: str) -> str:
    """The newest reply alone: quoted history, "On ... wrote:" blocks and signatures cut."""
    if not text.strip():
        return ""
    parsed = EmailReplyParser(languages=REPLY_LANGUAGES).read(text)
    if not parsed.replies:
        return text.strip()
    first = parsed.replies[0]
    newest = (first.body or first.content or "").strip()
    # A quote with no "On ... wrote:" line above it is still a quote.
    return "\n".join(line for line in newest.splitlines() if not line.lstrip().startswith(">")).strip()


def parse_mail(raw: bytes) -> InboundMail:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
    name, address = next(iter(getaddresses([str(message.get("From", ""))])), ("", ""))
    text, attachments = body_text(message)
    newest = newest_text(text)
    message_ids = _ids(_header(message, "Message-ID"))
    # A message without a Message-ID still gets one stable id: the same mail read twice is one page.
    message_id = message_ids[0] if message_ids else "<sha256." + hashlib.sha256(raw).hexdigest() + "@oncallbot>"
    in_reply_to = _ids(_header(message, "In-Reply-To"))
    references = list(reversed(_ids(_header(message, "References"))))
    return_path = _header(message, "Return-Path")
    return InboundMail(
        message_id=message_id,
        subject=_header(message, "Subject") or "",
        sender_name=name,
        sender_address=address.strip().lower(),
        text=newest,
        reply_text=newest,
        attachments=attachments,
        thread_ids=tuple(dict.fromkeys(in_reply_to + references)),
        auto_submitted=_header(message, "Auto-Submitted"),
        precedence=_header(message, "Precedence"),
        auto_reply_header=message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None,
        return_path_empty=return_path is not None and return_path.strip() in ("<>", ""),
        report=message.get_content_type() == "multipart/report",
        authentication_results=tuple(" ".join(str(v).split()) for v in message.get_all("Authentication-Results", [])),
        from_bot=message.get(BOT_HEADER) is not None,
    )
