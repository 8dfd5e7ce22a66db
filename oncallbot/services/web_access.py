"""Signing in to the web view through Slack, its sessions, and the private calendar feeds' tokens.

Tokens are random, sent once (a sign-in link or a feed URL in a Slack DM, a session in a cookie) and stored
only as their SHA-256, so a copy of the database signs nobody in. The DMs go through the outbox like every
message; the link they carry lasts 10 minutes and works once."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain import keys, wording
from ..domain.procedure import Procedure
from ..domain.vocabulary import Channel, MessageKind
from ..domain.web import FeedScope, WebRole, WebSession, may_have_feed, sign_in_refusal, web_role
from ..errors import NotAuthorized
from ..ports import Store

SIGN_IN_PATH = "/web/sign-in"
FEED_PATH = "/feeds"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


def send_sign_in_link(store: Store, procedure: Procedure, person_id: str, public_url: str, now: datetime) -> str:
    """Queue a DM with a new sign-in link; returns what to tell the person at once."""
    if web_role(procedure.team, person_id) is None:
        raise NotAuthorized(wording.NOT_ON_TEAM)
    token = _new_token()
    url = f"{_base(public_url)}{SIGN_IN_PATH}?token={token}"
    with store.transaction() as tx:
        tx.add_sign_in(token_hash(token), person_id, now)
        tx.add_notification(keys.sign_in_link(person_id, token_hash(token)[:16]), now, kind=MessageKind.REPORT,
                            channel=Channel.SLACK, person_id=person_id, text=wording.sign_in_dm(url))
    return "I sent you a sign-in link by DM; it is valid for 10 minutes."


@dataclass(frozen=True)
class SignedIn:
    token: str  # the session cookie's value
    session: WebSession


def redeem_sign_in(store: Store, procedure: Procedure, token: str, session_expiry: timedelta,
                   now: datetime) -> SignedIn:
    """The link's one use: a new session, or NotAuthorized saying why not (used, expired, unknown)."""
    hashed = token_hash(token)
    with store.transaction() as tx:
        sign_in = tx.sign_in(hashed, lock=True)
        refusal = sign_in_refusal(sign_in, procedure.team, now)
        if refusal is not None:
            raise NotAuthorized(refusal)
        assert sign_in is not None  # sign_in_refusal says so otherwise
        if not tx.use_sign_in(hashed, now):
            raise NotAuthorized(wording.SIGN_IN_USED)
        session_token = _new_token()
        session = WebSession(sign_in.person_id, secrets.token_urlsafe(24), now + session_expiry)
        tx.add_web_session(token_hash(session_token), session, now)
        # Housekeeping on the way: ended sessions and links long past their window (a used link's row is kept
        # a day, so a second try still hears "already used" rather than "not valid").
        tx.forget_expired_web_access(now, now - timedelta(days=1))
    return SignedIn(session_token, session)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the web view, and what they may see and do."""

    person_id: str
    name: str
    role: WebRole
    csrf_token: str

    @property
    def approver(self) -> bool:
        return self.role is WebRole.APPROVER


def viewer_of(store: Store, procedure: Procedure, session_token: str | None, now: datetime) -> Viewer | None:
    """The session's person, while the session lasts and they are still on the team; else None."""
    if not session_token:
        return None
    with store.reading() as tx:
        session = tx.web_session(token_hash(session_token), now)
    if session is None:
        return None
    role = web_role(procedure.team, session.person_id)
    person = procedure.team.person(session.person_id)
    if role is None or person is None:
        return None
    return Viewer(person.id, person.name, role, session.csrf_token)


def sign_out(store: Store, session_token: str) -> None:
    with store.transaction() as tx:
        tx.end_web_session(token_hash(session_token))


# --- calendar feeds ----------------------------------------------------------------------------------


def feed_url(public_url: str, token: str) -> str:
    """webcal:// so a click opens the calendar app's subscribe dialog; the same URL over http(s) works too."""
    base = _base(public_url)
    scheme, _, rest = base.partition("://")
    path = f"{FEED_PATH}/{token}.ics"
    return f"webcal://{rest}{path}" if scheme in ("http", "https") else f"{base}{path}"


def send_feed_links(store: Store, procedure: Procedure, person_id: str, public_url: str, now: datetime) -> str:
    """Queue a DM with the person's private feed URL (and the team's, for an approver)."""
    if web_role(procedure.team, person_id) is None:
        raise NotAuthorized(wording.NOT_ON_TEAM)
    mine = _new_token()
    team = _new_token() if may_have_feed(procedure.team, person_id, FeedScope.TEAM) else None
    with store.transaction() as tx:
        tx.add_feed_token(token_hash(mine), person_id, FeedScope.PERSON, now)
        if team is not None:
            tx.add_feed_token(token_hash(team), person_id, FeedScope.TEAM, now)
        tx.add_notification(keys.feed_link(person_id, token_hash(mine)[:16]), now, kind=MessageKind.REPORT,
                            channel=Channel.SLACK, person_id=person_id,
                            text=wording.feed_dm(feed_url(public_url, mine),
                                                 feed_url(public_url, team) if team else None))
    return "I sent you your private calendar link by DM."


def feed_owner(store: Store, procedure: Procedure, token: str) -> tuple[str, FeedScope] | None:
    """Whose feed a token opens, and which; None when unknown, revoked, or its person left the team."""
    with store.reading() as tx:
        found = tx.feed_token(token_hash(token))
    if found is None or not may_have_feed(procedure.team, found[0], found[1]):
        return None
    return found


def revoke_feeds(store: Store, procedure: Procedure, person_id: str, now: datetime) -> int:
    """Every feed URL of the person stops working; returns how many there were."""
    with store.transaction() as tx:
        return tx.revoke_feed_tokens(person_id, now)
