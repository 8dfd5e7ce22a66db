"""A quarter of rotation weeks in the fake Google Calendar, and real service-account key files whose token
exchange goes to the fake."""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oncallbot.bootstrap import Environment, build_deliverer, build_procedure, build_rotation_source
from oncallbot.domain.procedure import Procedure
from oncallbot.ports import Deliverer, RotationSource
from oncallbot.services.rotation import sync_rotation

from .config import example_settings

LA = ZoneInfo("America/Los_Angeles")
CALENDAR = "oncall@group.calendar.google.com"
PROCEDURE = build_procedure(example_settings())
EMAILS = {p.id: p.email for p in PROCEDURE.team.people}
NAMES = {p.id: p.name for p in PROCEDURE.team.people}
FIRST_WEEK = date(2027, 1, 4)  # a Monday
# Fourteen weeks across the March DST change; every fourth week is written as an all-day event.
QUARTER = [(FIRST_WEEK + timedelta(weeks=i), person, i % 4 == 3)
           for i, person in enumerate(["kelly", "marcus", "priya", "diego", "aisha", "tom", "kelly",
                                       "marcus", "priya", "diego", "aisha", "tom", "kelly", "marcus"])]


def event_id(week_start: date) -> str:
    """Shaped like the id Google gives one occurrence of a recurring event."""
    return f"rotation_{week_start:%Y%m%d}"


def week_item(week_start: date, person_id: str, all_day: bool = False) -> dict:
    if all_day:
        start, end = {"date": week_start.isoformat()}, {"date": (week_start + timedelta(weeks=1)).isoformat()}
    else:
        start = {"dateTime": datetime.combine(week_start, time(18, 1), LA).isoformat(), "timeZone": str(LA)}
        end_day = week_start + timedelta(weeks=1)
        end = {"dateTime": datetime.combine(end_day, time(6, 59), LA).isoformat(), "timeZone": str(LA)}
    return {"id": event_id(week_start), "summary": f"On call: {NAMES[person_id]}", "start": start, "end": end,
            "attendees": [{"email": EMAILS[person_id]}]}


def seed_quarter(gcal) -> None:
    for week_start, person, all_day in QUARTER:
        gcal.put_event(CALENDAR, week_item(week_start, person, all_day))


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def write_key_file(path: Path, token_uri: str, pem: str | None = None,
                   client_email: str = "oncallbot@p.iam.gserviceaccount.com") -> str:
    """A real service-account key file whose token exchange goes to `token_uri`."""
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem or private_key_pem(),
        "client_email": client_email, "client_id": "1", "token_uri": token_uri,
    }))
    return str(path)


def service_account_file(tmp_path: Path, token_uri: str) -> str:
    return write_key_file(tmp_path / "service-account.json", token_uri)


@dataclass(frozen=True)
class GoogleRotation:
    """The example team on a Google Calendar rotation served by the fake, synced once into `store`."""

    procedure: Procedure
    source: RotationSource
    deliverer: Deliverer  # the real router: write-backs reach the fake calendar, the rest the console


def google_rotation(gcal, key_file: str, store, now: datetime) -> GoogleRotation:
    settings = example_settings(rotation={"source": "google", "google": {"calendar_id": CALENDAR}})
    env = Environment(google_credentials=key_file, google_api_url=gcal.url)
    source = build_rotation_source(settings, env)
    procedure = build_procedure(settings)
    sync_rotation(store, source, procedure, now)
    return GoogleRotation(procedure, source, build_deliverer(settings, env, rotation_source=source))
