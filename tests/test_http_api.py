"""The HTTP API: health and GET /api/v1/oncall, the same contract as `oncallbot who --json`."""

from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from oncallbot import bootstrap
from oncallbot.entrypoints.http import create_app
from oncallbot.services.rotation import sync_rotation
from tests.harness.clock import FakeClock
from tests.harness.config import LITERAL_HOLIDAYS, example_settings


@pytest.fixture
def client(database_url, request):
    sections = getattr(request, "param", {})  # config sections to override (indirect parametrization)
    container = bootstrap.build(example_settings(**sections), bootstrap.Environment(database_url=database_url),
                                clock=FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC)))
    container.store.upgrade()
    sync_rotation(container.store, container.rotation_source, container.procedure, container.clock.now())
    with TestClient(create_app(container)) as client:
        yield client
    container.store.dispose()


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_oncall_now(client):
    body = client.get("/api/v1/oncall").json()
    assert body["at"] == "2026-11-23T22:00:00-08:00"
    assert body["current"]["person"] == {"id": "aisha", "name": "Aisha Khan"}


def test_oncall_at_a_dst_week(client):
    body = client.get("/api/v1/oncall", params={"at": "2027-03-15T19:00:00-07:00"}).json()
    assert body["responsible"] == "oncall" and body["current"]["person"]["id"] == "priya"


@pytest.mark.parametrize("client", [LITERAL_HOLIDAYS], indirect=True)
def test_oncall_in_a_holiday_gap_names_nobody_and_why(client):
    body = client.get("/api/v1/oncall", params={"at": "2027-01-18T09:00"}).json()
    assert body["responsible"] == "nobody" and body["current"] is None
    assert body["cause"] == "Martin Luther King Jr. Day: office closed and nobody on call"
    assert body["previous"]["end"] == "2027-01-18T07:00:00-08:00"
    assert body["next"]["start"] == "2027-01-18T18:01:00-08:00"


def test_bad_time_is_a_400_with_a_message(client):
    response = client.get("/api/v1/oncall", params={"at": "yesterday"})
    assert response.status_code == 400
    assert "is not an ISO-8601 time" in response.json()["error"]
