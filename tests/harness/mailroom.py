"""The support mailbox wired as `serve` wires it (bootstrap.build_mail_watcher), against a real Dovecot: the
real store and services, a fixed clock, and the recording deliverer of tests/harness/pager.py."""

import threading

from oncallbot.bootstrap import Container, Environment, build_mail_watcher
from oncallbot.services import paging

from .dovecot import PASSWORD, USER
from .e2e import wait_until
from .mail import AUTHSERV, SUPPORT
from .pager import Pager


def email_section(dovecot=None, smtp=None, **extra) -> dict:
    section: dict = {"address": SUPPORT, "authserv_id": AUTHSERV, "poll_interval": "1s", **extra}
    if dovecot is not None:
        section["imap"] = {"host": "127.0.0.1", "port": dovecot.port, "tls": "none", "username": USER}
    if smtp is not None:
        section["smtp"] = {"host": "127.0.0.1", "port": smtp.port, "tls": "none", "from": "oncallbot@example.com"}
    return section


class Mailroom:
    def __init__(self, store, dovecot, idle: bool = True, **overrides):
        self.store, self.dovecot = store, dovecot
        self.pager = Pager(store, email=email_section(dovecot, idle=idle), **overrides)
        self.procedure, self.clock, self.deliverer = self.pager.procedure, self.pager.clock, self.pager.deliverer
        self.watchers: list = []

    def watch(self):
        """Start a watcher (another replica's, when one runs already) and wait until it has read the folder."""
        container = Container(settings=self.pager.settings, env=Environment(imap_password=PASSWORD),
                              clock=self.clock, store=self.store, database=self.store, procedure=self.procedure,
                              rotation_source=None, deliverer=self.deliverer)
        container.stopping = threading.Event()
        watcher = build_mail_watcher(container)
        watcher.backoff_max = 0.3  # reconnect quickly: the test waits for it
        watcher.start()
        self.watchers.append((watcher, container))
        wait_until(lambda: watcher.health() is None, 10, "the watcher to read the mailbox")
        return watcher

    def stop(self, watcher=None) -> None:
        for item in list(self.watchers):
            if watcher is None or item[0] is watcher:
                item[1].stopping.set()
                item[0].join()
                self.watchers.remove(item)

    def pages(self):
        return paging.list_pages(self.store, self.clock.now()).pages

    def wait_for_pages(self, count: int, timeout: float = 10):
        return wait_until(lambda: (p := self.pages()) and len(p) >= count and p, timeout, f"{count} pages")

    def page(self, page_id: int):
        return paging.get_page(self.store, page_id)

    def wait_for_event(self, page_id: int, kind: str, timeout: float = 10):
        return wait_until(lambda: next((e for e in self.page(page_id).timeline if e.kind == kind), None),
                          timeout, f"a {kind} event on page {page_id}")

    def thread_lines(self) -> list[str]:
        return [m.text for m in self.deliverer.of_kind("thread")]

    def reports_to(self, person_id: str) -> list[str]:
        return [m.text for m in self.deliverer.to(person_id, kind="report")]

    def close(self) -> None:
        self.stop()

