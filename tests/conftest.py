import os
import socket
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from oncallbot.adapters.db import Store
from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio

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


@pytest.fixture(scope="session")
def pg_database_url():
    """A database of our own for this test session on the local PostgreSQL, dropped at the end."""
    admin_url = make_url(PG_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        with admin.connect() as connection:
            name = f"oncallbot_test_{uuid.uuid4().hex[:10]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL unreachable at {admin_url.render_as_string(hide_password=True)}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_database_url):
    """The session's PostgreSQL database, emptied for this test."""
    engine = create_engine(pg_database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return pg_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Every storage test runs on the embedded SQLite and on PostgreSQL, each from an empty schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/oncallbot.sqlite3"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    store.upgrade()
    yield store
    store.dispose()


# Loopback fakes of the vendors' APIs, for the real SDK clients to talk to.
@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def gcal():
    with FakeGoogleCalendar() as fake:
        yield fake
