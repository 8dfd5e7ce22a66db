"""End-to-end setup: `oncallbot serve` as a real process, pointed at loopback fakes of Slack, Twilio and
Google Calendar. The process runs on the real clock, so these tests wait for events with bounded
timeouts (never a fixed sleep) and keep every window to seconds."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml

from oncallbot.bootstrap import build_procedure

from .config import example_data, example_settings
from .serve import CLIENT_TLS

CALENDAR = "support-oncall@group.calendar.google.com"
API_TOKEN = "e2e-api-token"
SLACK_SECRET = "e2e-signing-secret"
ROTATION = ["kelly", "marcus", "priya", "diego", "aisha", "tom"]
# Weeks that touch, and no office hours: whenever the test runs, someone is on call and takes pages.
E2E_SECTIONS = {"shift": {"start": "Mon 07:00", "end": "Mon 06:59"}, "business_hours": {"days": []}, "holidays": {}}
E2E_PROCEDURE = build_procedure(example_settings(**E2E_SECTIONS))


def current_week(seeded: dict, now: datetime) -> tuple[str, str]:
    return seeded[E2E_PROCEDURE.window.week_containing(now)]


def seed_quarter(gcal, now: datetime, weeks: int = 14) -> dict:
    """A quarter of weekly events around `now`, as Google returns a recurrence expanded; returns
    {week_start: (event_id, person_id)}."""
    window, team = E2E_PROCEDURE.window, E2E_PROCEDURE.team
    first = window.week_start_on_or_before(now.astimezone(window.tz).date()) - timedelta(weeks=1)
    seeded = {}
    for index in range(weeks):
        week_start = first + timedelta(weeks=index)
        person = team.person(ROTATION[index % len(ROTATION)])
        start, end = window.bounds(week_start)
        event_id = f"rotation_{week_start:%Y%m%d}"
        gcal.put_event(CALENDAR, {
            "id": event_id, "summary": f"On call: {person.name}",
            "start": {"dateTime": start.astimezone(window.tz).isoformat()},
            "end": {"dateTime": (end - timedelta(minutes=1)).astimezone(window.tz).isoformat()},
        })
        seeded[week_start] = (event_id, person.id)
    return seeded


def e2e_config(tmp_path: Path, port: int, **sections) -> Path:
    data = example_data()
    data.update(E2E_SECTIONS)
    data.update({
        "rotation": {"source": "google", "google": {"calendar_id": CALENDAR}, "sync_interval": "10m"},
        "server": {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
    })
    data.update(sections)
    path = tmp_path / f"oncallbot-{port}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "procedure.md").write_text("Reply On It! within 15 minutes.")
    return path


def e2e_env(slack, twilio, gcal, key_file: str, database_url: str) -> dict[str, str]:
    return {
        "ONCALLBOT_DATABASE_URL": database_url, "ONCALLBOT_API_TOKEN": API_TOKEN,
        "SLACK_BOT_TOKEN": "xoxb-e2e", "SLACK_SIGNING_SECRET": SLACK_SECRET, "ONCALLBOT_SLACK_API_URL": slack.url,
        "TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": "+14155550199", "ONCALLBOT_TWILIO_API_URL": twilio.url,
        "GOOGLE_APPLICATION_CREDENTIALS": key_file, "ONCALLBOT_GOOGLE_API_URL": gcal.url,
    }


def api(server, method: str, path: str, **kwargs) -> httpx.Response:
    """One request on a connection of its own, as a caller of the API would make it."""
    return httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {API_TOKEN}"},
                         timeout=10, verify=CLIENT_TLS, **kwargs)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll another process's progress until `predicate()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def utc_now() -> datetime:
    return datetime.now(UTC)
