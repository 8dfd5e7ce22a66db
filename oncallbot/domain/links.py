"""Signed, expiring links to the bot's own endpoints (a voicemail's "Listen" link in Slack): whoever holds
the link may use it until it expires, and nobody can make one without the secret. Pure: the secret and
the time are passed in (the secret comes from $ONCALLBOT_LINK_SECRET)."""

import hashlib
import hmac
from datetime import UTC, datetime


def _signature(secret: str, subject: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{subject}:{expires}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, subject: str, expires_at: datetime) -> tuple[int, str]:
    """(expires, sig) for the query string of a link to `subject` (e.g. "recording:42")."""
    expires = int(expires_at.timestamp())
    return expires, _signature(secret, subject, expires)


def verify(secret: str, subject: str, expires: str, sig: str, now: datetime) -> bool:
    """The link was made with this secret for this subject and has not expired."""
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12) or not sig:
        return False
    if datetime.fromtimestamp(int(expires), UTC) <= now:
        return False
    return hmac.compare_digest(_signature(secret, subject, int(expires)), sig)


def recording_subject(page_id: int) -> str:
    return f"recording:{page_id}"


RECORDING_PATH = "/recordings/{page_id}"


def recording_link(public_url: str, secret: str, page_id: int, expires_at: datetime) -> str:
    """The Slack card's "Listen" link to a voicemail page's recording, served by the bot itself."""
    expires, sig = sign(secret, recording_subject(page_id), expires_at)
    return f"{public_url.rstrip('/')}{RECORDING_PATH.format(page_id=page_id)}?expires={expires}&sig={sig}"
