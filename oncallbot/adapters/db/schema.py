"""What the database's URL and schema are, told without SQLAlchemy or Alembic: the store and the read-only
rotation reader (rotation_reader.py, `who`'s start) both go by it."""

import re
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION_LINE = re.compile(r"^(revision|down_revision) = (\S+)\s*$", re.MULTILINE)


def default_database_url(sqlite_path: str) -> str:
    return f"sqlite:///{sqlite_path}"


def migration_head() -> str | None:
    """The one head revision the migration files name, read from their text (importing Alembic to ask is most
    of a CLI command's start-up). None when there is not exactly one: then Alembic decides."""
    revisions: dict[str, str | None] = {}
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(script.read_text()))
        if "revision" in found:
            revisions[found["revision"].strip("'\"")] = found.get("down_revision", "None").strip("'\"")
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None
