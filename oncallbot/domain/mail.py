"""The support mailbox's rules: which mail a person wrote (not a loop, a bounce or the bot itself), whose
emailed acknowledgment counts (the team's own receiving server vouches for the sender's domain), and when
one sender's mail is a storm. Pure: the mail adapter parses MIME and hands over an `InboundMail`."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

DETAILS_LIMIT = 4000  # a page's details from an email: the newest text, not the whole history
STORM_WINDOW = timedelta(hours=1)
NO_SUBJECT = "(email without a subject)"


@dataclass(frozen=True)
class InboundMail:
    """One message as the rules need it. `text` is the body as plain text with quoted history and signature
    cut; `reply_text` is the newest fragment only (what an On It! is read from)."""

    message_id: str  # "<...>", as in the header (or one the adapter derived when it was missing)
    subject: str
    sender_name: str
    sender_address: str  # lower case
    text: str
    reply_text: str
    attachments: tuple[str, ...] = ()
    thread_ids: tuple[str, ...] = ()  # In-Reply-To, then References newest first
    auto_submitted: str | None = None
    precedence: str | None = None
    auto_reply_header: bool = False  # X-Autoreply or X-Autorespond present
    return_path_empty: bool = False  # "Return-Path: <>": a bounce
    report: bool = False  # multipart/report: a delivery or read report
    authentication_results: tuple[str, ...] = ()  # Authentication-Results headers, top (newest) first
    from_bot: bool = False  # carries the bot's own marker header

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2]


@dataclass(frozen=True)
class MailPolicy:
    """`email:` in the configuration, as the rules use it."""

    own_addresses: frozenset[str]  # the mailbox and the bot's From: their mail is never a page
    authserv_id: str | None  # the team's receiving server, as it names itself in Authentication-Results
    max_pages_per_sender: int = 5


_OUT_OF_OFFICE = re.compile(r"^\s*(out of (the )?office|automatic reply|auto(matic)?[ -]?reply|autoreply|auto:|"
                            r"away from (the )?office|on vacation|vacation reply|abwesenheitsnotiz|"
                            r"r[ée]ponse automatique|absence)", re.IGNORECASE)
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_BULK = {"bulk", "list", "junk", "auto_reply"}


def loop_reason(mail: InboundMail, policy: MailPolicy) -> str | None:
    """Why this mail must neither become a page nor ever be answered (RFC 3834, RFC 3464); None when a person
    wrote it. A loop guard: an answered auto-reply answers back."""
    if mail.from_bot or mail.sender_address in policy.own_addresses:
        return "the bot's own mail"
    if mail.return_path_empty or mail.report or _BOUNCE_SENDERS.match(mail.sender_address):
        return "a bounce or delivery report"
    if mail.auto_submitted and mail.auto_submitted.strip().lower().split(";")[0].strip() != "no":
        return f"Auto-Submitted: {mail.auto_submitted.strip()}"
    if mail.precedence and mail.precedence.strip().lower() in _BULK:
        return f"Precedence: {mail.precedence.strip()}"
    if mail.auto_reply_header:
        return "an auto-reply header"
    if _OUT_OF_OFFICE.match(mail.subject):
        return "an out-of-office reply"
    return None


_COMMENT = re.compile(r"\([^()]*\)")


def _aligned(domain: str, sender_domain: str) -> bool:
    """Relaxed alignment (DMARC): the signing domain is the sender's, or a parent of it."""
    domain, sender_domain = domain.lower().strip(". "), sender_domain.lower()
    return bool(domain) and (sender_domain == domain or sender_domain.endswith("." + domain))


def authenticated(results: Sequence[str], authserv_id: str | None, sender_domain: str) -> bool:
    """Whether the team's own receiving server (`authserv_id`) says DMARC or an aligned DKIM signature passed
    for the sender's domain (RFC 8601). A From header alone proves nothing.

    Only the topmost header with our authserv-id counts: ours is added last, on top; one a sender wrote
    himself sits below it (and a well-run server strips those anyway)."""
    if not authserv_id:
        return False
    for header in results:
        text = _COMMENT.sub(" ", " ".join(header.split()))
        parts = [p.strip() for p in text.split(";")]
        server = parts[0].split()[0].lower() if parts and parts[0].split() else ""
        if server != authserv_id.lower():
            continue
        for resinfo in parts[1:]:
            words = resinfo.split()
            if not words or "=" not in words[0]:
                continue
            method, _, result = words[0].lower().partition("=")
            props = dict(w.lower().split("=", 1) for w in words[1:] if "=" in w)
            if result != "pass":
                continue
            if method == "dmarc" and _aligned(props.get("header.from", ""), sender_domain):
                return True
            if method == "dkim":
                signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
                if _aligned(signer, sender_domain):
                    return True
        return False
    return False


def sender_label(name: str, address: str) -> str:
    """How a customer is named in Slack and logs: their name and domain, never the address."""
    domain = address.rpartition("@")[2] or "unknown domain"
    name = " ".join(name.split())
    if not name or "@" in name:  # a display name that is the address itself
        return f"someone at {domain}"
    return f"{name} ({domain})"


def sender_key(address: str) -> str:
    """What the store keeps to count one sender's threads: a digest, not the address (personal data)."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def page_summary(subject: str) -> str:
    return " ".join(subject.split()) or NO_SUBJECT


def page_details(mail: InboundMail, limit: int = DETAILS_LIMIT) -> str:
    """The page's details: who wrote (masked), the new text, and the attachments named (never stored)."""
    body = mail.text.strip()
    if len(body) > limit:
        body = body[:limit - 1].rstrip() + "…"
    parts = [f"From: {sender_label(mail.sender_name, mail.sender_address)} by email"]
    if body:
        parts.append(body)
    if mail.attachments:
        parts.append("Attachments (not stored): " + ", ".join(mail.attachments))
    return "\n\n".join(parts)


def excerpt(text: str, limit: int = 200) -> str:
    """The first words of a reply, for a thread line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def joins_storm(recent_threads: int, policy: MailPolicy) -> bool:
    """More than `max_pages_per_sender` new threads from one sender within STORM_WINDOW: the rest join the
    sender's latest page (with a count) instead of paging anyone again."""
    return recent_threads >= policy.max_pages_per_sender


def message_key(message_id: str) -> str:
    """A Message-ID as stored (the ticket's external id, the thread's keys): itself, or a digest when it is
    longer than the column (RFC 5322 sets no limit)."""
    message_id = message_id.strip()
    return message_id if len(message_id) <= 255 else "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
