"""Contact details the bot can trust, and how each person wants to be reached.

- **Verification** (issue 10, item 7): a phone number new to the bot (or changed) gets a short code by SMS;
  the person proves the number is theirs by replying with it, or by typing it in Slack. A code is random,
  short-lived (`CODE_WINDOW`), allows `MAX_ATTEMPTS` tries, and is kept only as a digest (never logged, never
  stored in clear outside the one SMS that carries it). Unverified numbers are still paged: the approvers'
  messages say "unverified number", and `REMIND_AFTER` without a code the person and the approvers are
  reminded once.
- **Channel order** (item 8): the order a person wants an escalation step's channels in ("call first"),
  among the channels the team's steps allow; a step never gains a channel from it.
"""

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

CODE_DIGITS = 6
CODE_WINDOW = timedelta(minutes=30)
MAX_ATTEMPTS = 5  # per code: a million codes, five guesses, a new code at most every CODE_WINDOW
REMIND_AFTER = timedelta(hours=48)
_CODE = re.compile(rf"\s*(\d{{{CODE_DIGITS}}})\s*[.!]?\s*")


def code_digest(person_id: str, phone: str, code: str) -> str:
    """What is stored instead of the code: bound to the person and the number it was sent to."""
    return hashlib.sha256(f"{person_id}\x00{phone}\x00{code}".encode()).hexdigest()


def number_tag(phone: str) -> str:
    """A short stand-in for a number in idempotency keys (keys are logged; numbers never are)."""
    return hashlib.sha256(phone.encode()).hexdigest()[:12]


def code_in(text: str) -> str | None:
    """The code a reply consists of ("123456", " 123456. "); None for anything else, so that "1", "ok" and
    "done 42" stay acknowledgments."""
    match = _CODE.fullmatch(text)
    return match[1] if match else None


@dataclass(frozen=True)
class Verification:
    """The state of one person's number: the latest code sent to it and whether it was confirmed."""

    person_id: str
    phone: str  # E.164, the number the code went to
    code_digest: str
    codes_sent: int  # 1 for the first code to this number; names the code in its SMS key
    code_sent_at: datetime
    attempts: int  # wrong codes typed against the current code
    created_at: datetime  # when the bot first saw this number for this person
    verified_at: datetime | None = None
    reminded_at: datetime | None = None

    def is_for(self, phone: str | None) -> bool:
        return phone is not None and self.phone == phone

    @property
    def expires_at(self) -> datetime:
        return self.code_sent_at + CODE_WINDOW


def is_verified(verification: Verification | None, phone: str | None) -> bool | None:
    """True or False for a person with a number (a changed number is unverified again); None without one."""
    if phone is None:
        return None
    return verification is not None and verification.is_for(phone) and verification.verified_at is not None


def awaiting_code(verification: Verification | None, phone: str | None) -> bool:
    """A code went to this number and was not confirmed yet: what the approvers' messages call an
    "unverified number" (a number the bot has not texted yet is not flagged in pages)."""
    return verification is not None and verification.is_for(phone) and verification.verified_at is None


def needs_code(verification: Verification | None, phone: str | None) -> bool:
    """A number the bot has not sent a code to yet: new, or changed since."""
    return phone is not None and (verification is None or not verification.is_for(phone))


class CodeCheck(StrEnum):
    VERIFIED = "verified"
    ALREADY = "already"  # verified before: nothing changes
    WRONG = "wrong"  # one attempt used
    EXPIRED = "expired"  # a new code is sent
    LOCKED = "locked"  # too many wrong codes: wait for the code to expire, then a new one is sent
    NO_NUMBER = "no_number"  # nothing to verify


def check_code(verification: Verification | None, phone: str | None, code: str | None, now: datetime) -> CodeCheck:
    if phone is None or verification is None or not verification.is_for(phone):
        return CodeCheck.NO_NUMBER
    if verification.verified_at is not None:
        return CodeCheck.ALREADY
    if now >= verification.expires_at:
        return CodeCheck.EXPIRED
    if verification.attempts >= MAX_ATTEMPTS:
        return CodeCheck.LOCKED
    given = code_digest(verification.person_id, phone, code or "")
    return CodeCheck.VERIFIED if hmac.compare_digest(given, verification.code_digest) else CodeCheck.WRONG


def reminder_due(verification: Verification, phone: str | None, now: datetime) -> bool:
    """Once, `REMIND_AFTER` after the bot first saw the number, if it is still unverified."""
    return (verification.is_for(phone) and verification.verified_at is None and verification.reminded_at is None
            and now - verification.created_at >= REMIND_AFTER)


# --- channel order ---------------------------------------------------------------------------------------

def ordered_channels(step_channels: Sequence[str], preferred: Sequence[str]) -> list[str]:
    """The step's channels in the person's order; channels the order does not name keep the step's order,
    after the named ones. Nothing is added or dropped."""
    rank = {channel: index for index, channel in enumerate(preferred)}
    return sorted(step_channels, key=lambda c: (rank.get(c, len(rank)), list(step_channels).index(c)))


def allowed_channels(step_channels: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The channels a person may order: every channel some step of the team's chain pages people on."""
    allowed: list[str] = []
    for channels in step_channels:
        allowed += [c for c in channels if c not in allowed]
    return tuple(allowed)


def parse_channel_order(words: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    """`call sms slack` -> ("voice", "sms", "slack"). ValueError naming what is wrong."""
    aliases = {"call": "voice", "calls": "voice", "phone": "voice", "voice": "voice", "sms": "sms", "text": "sms",
               "texts": "sms", "slack": "slack", "dm": "slack"}
    order: list[str] = []
    for word in words:
        channel = aliases.get(word.strip(" ,>").lower())
        if channel is None:
            raise ValueError(f'"{word}" is not a channel: use call, sms or slack')
        if channel not in allowed:
            raise ValueError(f"the team's escalation steps do not page on {channel_name(channel)}")
        if channel in order:
            raise ValueError(f"{channel_name(channel)} is named twice")
        order.append(channel)
    if not order:
        raise ValueError("name at least one channel")
    return tuple(order)


CHANNEL_NAMES = {"voice": "call", "sms": "SMS", "slack": "Slack"}


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)
