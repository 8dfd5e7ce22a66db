"""`oncallbot db upgrade` migrates with nothing but the database: no Google credentials, no calendar."""

from oncallbot.adapters.db import Store
from oncallbot.entrypoints.cli import main
from tests.harness.config import example_data, write_config

GOOGLE_ROTATION = {"source": "google", "google": {"calendar_id": "support-oncall@group.calendar.google.com"}}


def google_team_config(tmp_path, **sections):
    data = example_data()
    data["rotation"] = {**data["rotation"], **GOOGLE_ROTATION}
    data.update(sections)
    return write_config(tmp_path, data)


def test_db_upgrade_needs_no_google_credentials(capsys, monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)
    config = google_team_config(tmp_path)
    code = main(["db", "upgrade", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "is at the current schema" in out and "GOOGLE_APPLICATION_CREDENTIALS" not in err
    store = Store(database_url)
    try:
        assert store.schema_is_current()
    finally:
        store.dispose()


def test_db_upgrade_migrates_the_configured_sqlite_file(capsys, tmp_path):
    config = google_team_config(tmp_path, storage={"sqlite_path": str(tmp_path / "team.sqlite3")})
    assert main(["db", "upgrade", "--config", str(config)]) == 0, capsys.readouterr().err
    store = Store(f"sqlite:///{tmp_path}/team.sqlite3")
    try:
        assert store.schema_is_current()
    finally:
        store.dispose()
