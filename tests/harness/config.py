"""The example team's configuration, as a whole or with sections replaced, and written to a file."""

from pathlib import Path

import yaml

from oncallbot.config import parse_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config" / "oncallbot.example.yaml"


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
        example_ics = str(EXAMPLE_CONFIG.parent / "rotation.example.ics")
        data = {**data, "rotation": {**data.get("rotation", {}), "ical": example_ics}}
    path = tmp_path / "oncallbot.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
