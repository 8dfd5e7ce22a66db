"""Test helpers: a clock you move by hand, and the example team's configuration."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from oncallbot.config import parse_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "oncallbot.example.yaml"


class FakeClock:
    def __init__(self, now: datetime):
        assert now.tzinfo is not None
        self._now = now.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, now: datetime) -> None:
        self._now = now.astimezone(UTC)


# The procedure read literally: nobody covers a Monday holiday's office hours (the example chooses `previous`).
LITERAL_HOLIDAYS = {"shift": {"start": "Mon 18:01", "end": "Mon 06:59", "on_office_holiday": "nobody"}}


def example_data() -> dict:
    return yaml.safe_load(EXAMPLE_CONFIG.read_text())


def example_settings(**overrides):
    """The example team, with top-level sections replaced by `overrides`."""
    data = example_data()
    data.update(overrides)
    return parse_settings(data, EXAMPLE_CONFIG.parent)


def write_config(tmp_path: Path, data: dict, ics_text: str | None = None) -> Path:
    if ics_text is not None:
        (tmp_path / "rotation.ics").write_text(ics_text)
        data = {**data, "rotation": {**data.get("rotation", {}), "source": "ical", "ical": "rotation.ics"}}
    elif data.get("rotation", {}).get("source", "ical") == "ical":
        data = {**data, "rotation": {**data.get("rotation", {}), "ical": str(EXAMPLE_CONFIG.parent / "rotation.example.ics")}}
    path = tmp_path / "oncallbot.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
