"""Waking the escalation dispatcher when a step falls due sooner than it knows.

Every transaction that gives an open page a `next_due_at` tells this process's `DueWakeup` after it commits
(enough on SQLite, where one process serves everything). On PostgreSQL the same transaction also sends
`NOTIFY oncallbot_due` with that instant, delivered at commit to every replica's `DueListener`, so a page
opened on one replica wakes the others too. A notification can be lost (a dropped listening connection);
the dispatcher's slow poll is the safety net, and a listener that reconnects wakes its dispatcher at once.
"""

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

DUE_CHANNEL = "oncallbot_due"
RECONNECT_DELAY_SECONDS = 2.0
NOTIFY_TIMEOUT_SECONDS = 1.0  # how often the listener looks whether it should stop

log = logging.getLogger("oncallbot.store")


class DueWakeup:
    """The earliest due instant announced since the dispatcher last looked, and a way to wait for one."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._earliest: datetime | None = None
        self._interrupted = False

    def announce(self, due_at: datetime) -> None:
        with self._changed:
            if self._earliest is None or due_at < self._earliest:
                self._earliest = due_at
                self._changed.notify_all()

    def interrupt(self) -> None:
        """Stop waiting (shutdown)."""
        with self._changed:
            self._interrupted = True
            self._changed.notify_all()

    def wait(self, next_due_at: datetime | None, timeout: float) -> bool:
        """Wait up to `timeout` seconds, returning early when something is announced due before
        `next_due_at` (the earliest the dispatcher already knows of; None: it knows of nothing). True when
        woken by an announcement. An announcement made while the dispatcher was busy counts: it is kept
        until this wait sees it."""
        def sooner() -> bool:
            return self._interrupted or (self._earliest is not None
                                         and (next_due_at is None or self._earliest < next_due_at))

        with self._changed:
            woken = self._changed.wait_for(sooner, timeout=max(0.0, timeout))
            self._earliest = None
            return woken


def libpq_url(sqlalchemy_url: str) -> str:
    """The URL psycopg itself takes (SQLAlchemy's says `postgresql+psycopg://`)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class DueListener(threading.Thread):
    """LISTEN on its own connection; each notification's instant goes to the process's `DueWakeup`."""

    def __init__(self, url: str, wakeup: DueWakeup, stopping: threading.Event):
        super().__init__(name="due-listener", daemon=True)
        self.url, self.wakeup, self.stopping = libpq_url(url), wakeup, stopping
        self.listening = threading.Event()  # set while a LISTEN is in place (tests wait for it)

    def run(self) -> None:
        import psycopg  # here, not at import: the CLI's commands never listen

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as connection:
                    connection.execute(f"LISTEN {DUE_CHANNEL}")
                    self.listening.set()
                    # Whatever was announced while we were not listening: look now.
                    self.wakeup.announce(datetime.min.replace(tzinfo=UTC))
                    while not self.stopping.is_set():
                        for notify in connection.notifies(timeout=NOTIFY_TIMEOUT_SECONDS):
                            self._announce(notify.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("due listener disconnected; the dispatcher polls meanwhile",
                            extra={"fields": {"error": str(exc)[:200]}})
                self.stopping.wait(RECONNECT_DELAY_SECONDS)
        self.listening.clear()

    def _announce(self, payload: str) -> None:
        try:
            due_at = datetime.fromisoformat(payload)
        except ValueError:  # not ours: look anyway, it costs one query
            due_at = datetime.min.replace(tzinfo=UTC)
        self.wakeup.announce(due_at)
