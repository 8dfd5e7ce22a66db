"""Where the configuration file is, and its bytes: apart from oncallbot.config, so that a command can find and
read the file without loading the validators (`oncallbot who`, adapters.who_setup)."""

import os
from pathlib import Path

from .errors import ConfigError

DEFAULT_PATHS = (Path("config/oncallbot.yaml"), Path("config/oncallbot.example.yaml"))


def config_path(explicit: str | None = None) -> Path:
    """--config, else ONCALLBOT_CONFIG, else the first of DEFAULT_PATHS that exists."""
    if explicit:
        return Path(explicit)
    if os.environ.get("ONCALLBOT_CONFIG"):
        return Path(os.environ["ONCALLBOT_CONFIG"])
    for candidate in DEFAULT_PATHS:
        if candidate.is_file():
            return candidate
    return DEFAULT_PATHS[-1]


def read_config_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the configuration file ({exc.strerror})"]) from None
