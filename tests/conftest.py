"""The fixtures every test module can ask for, built from tests/harness/."""

import os
import shutil
import socket
import tempfile
import types
from pathlib import Path

import googleapiclient.http
import pytest
from sqlalchemy.engine import make_url

from oncallbot.adapters.db import Store
from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.fakes.base import FakeServer
from tests.harness import database
from tests.harness.api import build_api
from tests.harness.gcal import private_key_pem as new_private_key_pem
from tests.harness.gcal import write_key_file
from tests.harness.privacy import leaks, log_leaks
from tests.harness.serve import ServeProcess
from tests.harness.slack import SlackHarness
from tests.harness.twilio import build_bot

PG_URL = os.environ.get("ONCALLBOT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _loopback_only(real_connect):
    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test tried to reach {host}: tests talk only to loopback fakes")
        return real_connect(self, address)
    return connect


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """A forgotten endpoint override fails loudly instead of calling a real service."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("ONCALLBOT_", "SLACK_", "TWILIO_", "GOOGLE_")) and name != "ONCALLBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # the embedded SQLite default lands in tmp_path/var
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # `who`'s copies of its setup (never ~/.cache)


@pytest.fixture(autouse=True)
def no_contact_leaks(monkeypatch, request):
    """Issue 10, item 10: after every test, scan what each loopback fake received (and what each `serve` logged)
    for the team's phone numbers and emails outside messages to the person themselves (tests/harness/privacy.py).
    Every fake and `serve` a test starts is registered here, however it was made. A leak fails the test: fix the
    code, never the scan. A test that sends one on purpose (the scan's own tests) marks itself `contact_leak_ok`."""
    fakes: list = []
    serves: list = []
    real_start, real_serve_init = FakeServer.start, ServeProcess.__init__

    def start(self):
        fakes.append(self)
        return real_start(self)

    def serve_init(self, *args, **kw):
        serves.append(self)
        real_serve_init(self, *args, **kw)

    monkeypatch.setattr(FakeServer, "start", start)
    monkeypatch.setattr(ServeProcess, "__init__", serve_init)
    yield
    if request.node.get_closest_marker("contact_leak_ok"):
        return
    found = [leak for fake in fakes for leak in leaks(fake)]
    for serve in serves:
        found += log_leaks(serve.output(), f"serve log {serve.log_path.name}")
    if found:
        pytest.fail("contact details leaked:\n  " + "\n  ".join(found), pytrace=False)


# -- databases: migrated once per session ------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin_url():
    """The local PostgreSQL, reachable (a skip outside CI, a failure in CI, when it is not)."""
    admin_url = make_url(PG_URL)
    try:
        name = database.create_database(admin_url, "_probe")
        database.drop_database(admin_url, name)
    except Exception as exc:
        message = f"PostgreSQL unreachable at {admin_url.render_as_string(hide_password=True)}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    return admin_url


@pytest.fixture(scope="session")
def pg_database_url(pg_admin_url):
    """A database of our own for this test session, migrated to the current schema, dropped at the end."""
    url = database.create_database(pg_admin_url)
    database.migrate(url)
    yield url
    database.drop_database(pg_admin_url, url)


@pytest.fixture(scope="session")
def pg_blank_database_url(pg_admin_url):
    """A second database of our own, for the tests that start from no schema at all."""
    url = database.create_database(pg_admin_url, "_blank")
    yield url
    database.drop_database(pg_admin_url, url)


@pytest.fixture
def pg_url(pg_database_url):
    """The session's PostgreSQL database, at the current schema, every table emptied for this test."""
    database.empty_tables(pg_database_url)
    return pg_database_url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    return database.migrated_sqlite_template(tmp_path_factory.mktemp("migrated"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, migrated_sqlite):
    """Every storage test runs on the embedded SQLite and on PostgreSQL, each at the current schema with no rows."""
    if request.param == "sqlite":
        return database.sqlite_copy(migrated_sqlite, tmp_path / "oncallbot.sqlite3")
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """SQLite and PostgreSQL with no schema at all: for the tests of the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/empty.sqlite3"
    url = request.getfixturevalue("pg_blank_database_url")
    database.empty_schema(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path, migrated_sqlite):
    """For tests of the HTTP layer alone; the storage-dependent ones take `database_url` (both backends)."""
    return database.sqlite_copy(migrated_sqlite, tmp_path / "api.sqlite3")


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    store.upgrade()
    yield store
    store.dispose()


# -- loopback fakes of the vendors' APIs, for the real SDK clients to talk to -------------------------


@pytest.fixture
def fake():
    """Slack's Web API."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def twilio():
    with FakeTwilio() as twilio:
        yield twilio


@pytest.fixture
def fakes():
    """Twilio and Slack, for the bot with both on."""
    with FakeTwilio() as twilio, FakeSlack() as slack:
        yield twilio, slack


@pytest.fixture
def gcal():
    with FakeGoogleCalendar() as fake:
        yield fake


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    return new_private_key_pem()


@pytest.fixture
def key_file(tmp_path, gcal, private_key_pem) -> str:
    """A real service-account key file whose token exchange goes to the fake."""
    return write_key_file(tmp_path / "service-account.json", f"{gcal.url}/token", private_key_pem,
                          client_email="oncall-bot@p.iam.gserviceaccount.com")


@pytest.fixture
def backoff_sleeps(monkeypatch) -> list[float]:
    """googleapiclient's retry handler sleeps through `time.sleep` of its http module: record instead."""
    slept: list[float] = []
    monkeypatch.setattr(googleapiclient.http, "time", types.SimpleNamespace(sleep=slept.append))
    return slept


# -- the bot as `serve` builds it ---------------------------------------------------------------------


@pytest.fixture
def slack(tmp_path, fake, migrated_sqlite):
    """Slack on, on the embedded SQLite: for behaviour that does not depend on the storage."""
    harness = SlackHarness(database.sqlite_copy(migrated_sqlite, tmp_path / "slack.sqlite3"), fake)
    yield harness
    harness.close()


@pytest.fixture
def slack_db(database_url, fake):
    """Slack on, on SQLite and on PostgreSQL: pages, acknowledgments and inbound dedupe are storage."""
    harness = SlackHarness(database_url, fake)
    yield harness
    harness.close()


@pytest.fixture
def make_bot(fakes):
    """Twilio and Slack on, behind the HTTP app: `make_bot(database_url, at=...)`."""
    twilio, slack = fakes
    opened = []

    def make(database_url: str, *args, **kw):
        bot = build_bot(database_url, twilio, slack, *args, **kw)
        opened.append(bot)
        return bot

    yield make
    for bot in opened:
        bot.close()


@pytest.fixture
def make_api(twilio):
    """Twilio on, behind the HTTP app: `make_api(database_url, at=..., api_token=..., **sections)`."""
    opened = []

    def make(database_url: str, *args, **kw):
        api = build_api(database_url, twilio, *args, **kw)
        opened.append(api)
        return api

    yield make
    for api in opened:
        api.close()


# -- the support mailbox: a real IMAP server (Dovecot) and a real SMTP server (aiosmtpd) --------------


@pytest.fixture
def dovecot():
    """Dovecot on a free loopback port with a throwaway configuration and maildir (a skip without Dovecot,
    a failure under CI=true: .ci/run installs it)."""
    from tests.harness.dovecot import DOVECOT, Dovecot

    if DOVECOT is None:
        message = "Dovecot is not installed (apt-get install dovecot-imapd)"
        if IN_CI:
            pytest.fail(message + " (CI=true: the mailbox tests must run)")
        pytest.skip(message)
    # Not under tmp_path: as root, Dovecot's unprivileged processes must reach its folder (pytest's are 0700).
    root = Path(tempfile.mkdtemp(prefix="oncallbot-dovecot-"))
    server = Dovecot(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def smtp_server():
    from tests.harness.mail import SmtpServer

    with SmtpServer() as server:
        yield server
