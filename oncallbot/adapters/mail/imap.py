"""Watching the support mailbox over IMAP (imapclient, sync, in its own thread of `serve`).

IDLE where the server has it (re-issued every `poll_interval`, at most IDLE_RENEW: well before RFC 2177's 29
minutes, since servers and firewalls drop idle connections sooner), polling every `poll_interval` otherwise;
after every wake-up the folder is read from the stored position by UID. The position (UIDVALIDITY, last UID)
moves in the same transaction that handles each message, so a restart neither misses nor repeats one; a new
UIDVALIDITY means the folder is read again from the start and every message is matched by its Message-ID
(handled ones are skipped by their dedupe key).

Several replicas: every replica watches; the Message-ID key makes each email one page, and the position only
moves forward. No leader to lose, nothing to hand over when a replica dies.

Drops, timeouts and refused logins are retried with exponential backoff; the approvers hear once per outage
(services.mail.mailbox_unreachable) and once when it ends, and `GET /healthz` shows the mailbox unreachable."""

import imaplib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from imapclient import IMAPClient
from imapclient.imapclient import SocketTimeout

from ...domain.mail import MailPolicy
from ...domain.procedure import Procedure
from ...errors import IntegrationError
from ...logs import log_event
from ...ports import Clock, Store
from ...services import mail as mail_service
from .parse import parse_mail

log = logging.getLogger("oncallbot.mail")
IDLE_RENEW = timedelta(minutes=5)
IDLE_CHECK_SECONDS = 1.0  # how soon an idling watcher notices shutdown
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 60.0
FETCH_BATCH = 50

# A failed connection, a timeout, a refused login, a broken token: all mean "cannot read the mailbox now".
WATCH_ERRORS = (imaplib.IMAP4.error, OSError, ssl.SSLError, socket.timeout, IntegrationError)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    tls: str  # implicit | starttls | none (loopback only, for a local test server)
    username: str
    folder: str = "INBOX"
    poll_interval: float = 30.0
    idle: bool = True  # use IDLE when the server offers it

    @property
    def mailbox(self) -> str:
        """How the watch is named in the store, in logs and to the approvers."""
        return f"{self.username}@{self.host}/{self.folder}"


Login = Callable[[IMAPClient], None]


def password_login(username: str, password: str) -> Login:
    return lambda client: client.login(username, password)


def oauth2_login(username: str, token: Callable[[], str]) -> Login:
    """XOAUTH2 with a fresh access token each connection (Google Workspace, Microsoft 365)."""
    return lambda client: client.oauth2_login(username, token())


def connect(settings: ImapSettings, login: Login) -> IMAPClient:
    timeout = SocketTimeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    context = ssl.create_default_context()
    if settings.tls == "implicit":
        client = IMAPClient(settings.host, settings.port, ssl=True, ssl_context=context, timeout=timeout)
    else:
        client = IMAPClient(settings.host, settings.port, ssl=False, timeout=timeout)
        if settings.tls == "starttls":
            client.starttls(context)
    try:
        login(client)
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # already gone: nothing to say goodbye to
        try:
            client.shutdown()
        except Exception:
            pass


class MailboxWatcher:
    def __init__(self, store: Store, procedure: Procedure, policy: MailPolicy, settings: ImapSettings, login: Login,
                 clock: Clock, deliver_now: Callable[[int | None], object], stopping: threading.Event,
                 report_after: timedelta = timedelta(minutes=2), backoff_max: float = 60.0):
        self.store, self.procedure, self.policy, self.settings = store, procedure, policy, settings
        self.login, self.clock, self.deliver_now, self.stopping = login, clock, deliver_now, stopping
        self.report_after, self.backoff_max = report_after, backoff_max
        self.problem: str | None = "not connected yet"
        self.failures = 0  # failed connections since start (each retried after a backoff)
        self._failing_since: datetime | None = None
        self.checked_at: datetime | None = None  # the last time the folder was read (the metrics' age gauge)
        self._thread: threading.Thread | None = None

    # --- health

    def health(self) -> str | None:
        """None while the mailbox is read; else why not (for GET /healthz)."""
        return self.problem

    # --- the thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="mailbox", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            try:
                self.watch()
            except WATCH_ERRORS as exc:
                self._failed(exc)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            except Exception:  # a bug must not end the watch: log it, back off, try again
                log.exception("mailbox watch failed", extra={"fields": {"mailbox": self.settings.mailbox}})
                self.problem = "internal error (see the log)"
                self.stopping.wait(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            delay = 1.0

    def watch(self) -> None:
        """One connection: read what is new, then wait for more (IDLE or polling) until shutdown or a drop."""
        client = connect(self.settings, self.login)
        try:
            selected = client.select_folder(self.settings.folder, readonly=True)
            uidvalidity = int(selected[b"UIDVALIDITY"])
            uidnext = selected.get(b"UIDNEXT")
            if uidnext is None:  # optional before IMAP4rev2: the folder's end from its highest UID
                uidnext = max(client.search(["ALL"]) or [0]) + 1
            self.catch_up(client, uidvalidity, int(uidnext))
            self._ok()
            idle = self.settings.idle and b"IDLE" in client.capabilities()
            while not self.stopping.is_set():
                if idle:
                    self._idle(client)
                else:
                    if self.stopping.wait(self.settings.poll_interval):
                        break
                    client.noop()
                # Again until nothing is new: an EXISTS the server sent during a search is not sent again in IDLE.
                while self.catch_up(client, uidvalidity, None) and not self.stopping.is_set():
                    pass
                self.checked_at = self.clock.now()
        finally:
            _close(client)

    def _idle(self, client: IMAPClient) -> None:
        client.idle()
        started = time.monotonic()
        try:
            # Re-issued every poll_interval too: the search after it is the safety net for a missed push.
            renew = min(IDLE_RENEW.total_seconds(), self.settings.poll_interval)
            while not self.stopping.is_set() and time.monotonic() - started < renew:
                responses = client.idle_check(timeout=IDLE_CHECK_SECONDS)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
                if any(r and r[0] == b"BYE" for r in responses):
                    raise imaplib.IMAP4.abort("the server closed the connection")
        finally:
            client.idle_done()

    def catch_up(self, client: IMAPClient, uidvalidity: int, uidnext: int | None) -> int:
        """Handle every message past the stored position. Returns how many were handled."""
        mailbox = self.settings.mailbox
        stored_validity, last_uid = mail_service.mailbox_position(self.store, mailbox)
        if stored_validity is None and uidnext is not None:
            # The first watch of this folder starts at its end: the mail already there was handled by people.
            mail_service.record_position(self.store, mailbox, uidvalidity, uidnext - 1)
            log_event(log, "mailbox watch started at the folder's end", mailbox=mailbox)
            return 0
        if stored_validity != uidvalidity:
            log_event(log, "UIDVALIDITY changed: reading the folder again, matched by Message-ID",
                      level=logging.WARNING, mailbox=mailbox)
            uids = sorted(client.search(["ALL"]))
        else:
            uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        handled = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])  # PEEK: people still see it unread
            for uid in batch:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if raw is None:  # expunged meanwhile
                    continue
                self._handle(raw, mail_service.Position(mailbox, uidvalidity, uid))
                handled += 1
        if stored_validity != uidvalidity and not uids:
            mail_service.record_position(self.store, mailbox, uidvalidity, 0)
        return handled

    def _handle(self, raw: bytes, position: "mail_service.Position") -> None:
        mail = parse_mail(raw)
        outcome = mail_service.receive_mail(self.store, self.procedure, self.policy, mail, self.clock.now(), position)
        # Never the customer's address in a log line: the page and what happened are enough.
        log_event(log, "email handled", action=outcome.action, page=outcome.page_id, detail=outcome.detail or None,
                  uid=position.uid)
        if outcome.page_id is not None and outcome.action not in ("duplicate", "ignored"):
            self.deliver_now(outcome.page_id)

    # --- outages

    def _failed(self, exc: BaseException) -> None:
        now = self.clock.now()
        reason = _reason(exc)
        self.failures += 1
        if self._failing_since is None:
            self._failing_since = now
            log_event(log, "mailbox unreachable, retrying", level=logging.WARNING, mailbox=self.settings.mailbox,
                      error=reason)
        self.problem = f"unreachable: {reason}"
        if now - self._failing_since >= self.report_after and mail_service.mailbox_unreachable(
                self.store, self.procedure, self.settings.mailbox, reason, now):
            self.deliver_now_all()

    def _ok(self) -> None:
        self.problem = None
        self.checked_at = self.clock.now()
        if self._failing_since is not None:
            log_event(log, "mailbox reachable again", mailbox=self.settings.mailbox)
        self._failing_since = None
        if mail_service.mailbox_reachable(self.store, self.procedure, self.settings.mailbox, self.clock.now()):
            self.deliver_now_all()

    def deliver_now_all(self) -> None:
        self.deliver_now(None)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"connection dropped ({exc})"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, imaplib.IMAP4.error):
        return f"refused: {exc}"
    return f"{type(exc).__name__}: {exc}"
