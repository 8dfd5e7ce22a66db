"""`oncallbot who`'s copy of what it reads of a configuration that passed validation, so that the command typed
most often starts without PyYAML, pydantic and phonenumbers, and without building the config's models: most of
its start-up once the vendors' SDKs were gone (bench/README.md).

The copy is taken only after the file passed full validation, and is used only for the same bytes at the same
place, validated by the same code: oncallbot's own modules (their size and mtime) and the installed packages
(their names and versions). The same file checked by the same code passes again, so `who` skips only what that
file already passed. A file edited by one byte, moved, or read by an upgraded install is validated in full, as
every other command validates it.

It holds no contact details: the team's people by id, name, manager and roles (`who` prints names), not their
emails, phone numbers or Slack ids, and not the office line. It lives in $XDG_CACHE_HOME/oncallbot (by default
~/.cache/oncallbot), readable by its owner only, one file per configuration file and install. A cache that
cannot be read or written is no cache: `who` validates the file as before."""

import hashlib
import os
import pickle
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..domain.procedure import Procedure

CACHE_FORMAT = 1  # raised when WhoSetup changes: an older copy is then never read
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WhoSetup:
    """What `who` needs of a validated configuration."""

    procedure: Procedure  # without contact details or the office line
    sqlite_path: str  # storage.sqlite_path (ONCALLBOT_DATABASE_URL, read at each run, goes first)
    rotation_source: str  # rotation.source: "ical" or "google"
    rotation_ref: str  # the calendar file, resolved, or the Google calendar's id
    sync_interval: timedelta


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oncallbot"


def _code_fingerprint() -> bytes:
    """What validated the file: oncallbot's modules and the installed distributions (their dist-info names carry
    the versions). A few hundred stat calls: about a millisecond."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}:{sys.version}:{_PACKAGE}".encode())
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            stat = os.stat(os.path.join(folder, name))
            digest.update(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for entry in sys.path:
        if entry.endswith("-packages") and os.path.isdir(entry):
            digest.update(":".join(sorted(n for n in os.listdir(entry) if n.endswith(".dist-info"))).encode())
    return digest.digest()


def _key(config: Path, text: bytes) -> str:
    return hashlib.sha256(_code_fingerprint() + str(config.resolve()).encode() + b"\0" + text).hexdigest()


def _file(config: Path) -> Path:
    """One file per configuration file and install (a checkout and an installed copy each keep their own)."""
    name = hashlib.sha256(f"{config.resolve()}\0{_PACKAGE}".encode()).hexdigest()[:32]
    return cache_dir() / f"who-{name}.pickle"


def load(config: Path, text: bytes) -> WhoSetup | None:
    """The copy taken from exactly these bytes of `config`, by this code; None when there is none."""
    try:
        with open(_file(config), "rb") as kept:
            key, setup = pickle.load(kept)
    except Exception:  # none yet, unreadable, or written by another version: validate in full
        return None
    return setup if key == _key(config, text) and isinstance(setup, WhoSetup) else None


def save(config: Path, text: bytes, setup: WhoSetup) -> None:
    """Keep the copy of a configuration that has just passed validation (those `text` bytes). Best effort."""
    try:
        folder = cache_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".who-")  # created 0600
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump((_key(config, text), setup), out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, _file(config))
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:  # a read-only home (a container): no cache
        return
