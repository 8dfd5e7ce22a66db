"""Issue 10, item 9: `oncallbot contacts [--json]`: each person, their channels, opt-outs (SMS STOP / START),
verification (false until the code texted to the number comes back), numbers masked to the last 4 digits, emails
to the first letter and domain."""

import json
from datetime import datetime

from oncallbot import bootstrap
from oncallbot.domain.masking import mask_email, mask_phone
from oncallbot.entrypoints.cli import main
from oncallbot.services.acknowledgment import acknowledge_phone_reply
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG, example_settings
from tests.harness.pager import LA

CONFIG = ["--config", str(EXAMPLE_CONFIG)]
AT = datetime(2026, 11, 23, 17, 0, tzinfo=LA)
FIELDS = {"id", "name", "roles", "channels", "opted_out", "phone", "email", "slack_id", "verified", "channel_order"}


def sms_from(database_url: str, number: str, body: str) -> None:
    """The person texts the bot (what the Twilio webhook calls)."""
    container = bootstrap.build(example_settings(), bootstrap.Environment(database_url=database_url),
                                clock=FakeClock(AT))
    container.database.ensure_schema()
    acknowledge_phone_reply(container.store, container.procedure, number, body, AT)
    container.store.dispose()


def run(capsys, monkeypatch, database_url, *argv):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)
    code = main(["contacts", *argv, *CONFIG], clock=FakeClock(AT))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_contacts_json_lists_everyone_masked_with_channels_and_an_sms_opt_out(capsys, monkeypatch, database_url):
    sms_from(database_url, "+14155550105", "STOP")  # Aisha
    code, out, _ = run(capsys, monkeypatch, database_url, "--json")
    assert code == 0
    body = json.loads(out)
    assert set(body) == {"team", "people"}
    people = {p["id"]: p for p in body["people"]}
    assert list(people) == ["kelly", "marcus", "priya", "diego", "aisha", "tom", "dana", "omar", "rachel"]
    assert all(set(p) == FIELDS for p in people.values())
    assert people["aisha"] == {"id": "aisha", "name": "Aisha Khan", "roles": ["oncall"],
                               "channels": ["sms", "voice", "slack", "email"], "opted_out": ["sms"],
                               "phone": "+1 \u2022\u2022\u2022 \u2022\u2022\u2022 0105",
                               "email": "a\u2022\u2022\u2022@example.com", "slack_id": "U01AISHA00", "verified": False,
                               "channel_order": []}
    assert people["kelly"]["opted_out"] == [] and people["kelly"]["email"] == "k\u2022\u2022\u2022@example.com"
    assert people["dana"]["roles"] == ["manager"]
    # nothing of a number or an address but the last 4 digits and the domain
    assert "5550105" not in out and "aisha.khan" not in out and "4155550" not in out


def test_start_lifts_the_opt_out_and_the_text_view_says_unverified(capsys, monkeypatch, database_url):
    sms_from(database_url, "+14155550105", "STOP")
    code, out, _ = run(capsys, monkeypatch, database_url)
    assert code == 0
    assert "Aisha Khan [aisha] (oncall)\n  channels: sms (opted out), voice, slack, email\n" in out
    assert "  phone: +1 \u2022\u2022\u2022 \u2022\u2022\u2022 0105 (UNVERIFIED)\n" in out
    assert "  email: a\u2022\u2022\u2022@example.com\n" in out
    assert "+14155550105" not in out and "aisha.khan@" not in out
    sms_from(database_url, "+14155550105", "START")
    _, out, _ = run(capsys, monkeypatch, database_url, "--json")
    aisha = next(p for p in json.loads(out)["people"] if p["id"] == "aisha")
    assert aisha["opted_out"] == []


def test_masking_rules():
    assert mask_phone("+14155550105") == "+1 \u2022\u2022\u2022 \u2022\u2022\u2022 0105"
    assert mask_phone("+442071234567") == "\u2022\u2022\u2022\u2022 4567"
    assert mask_phone("12") == "\u2022\u2022\u2022\u2022" and mask_phone(None) is None
    assert mask_email("Kelly.Nguyen@Example.com") == "K\u2022\u2022\u2022@Example.com"
    assert mask_email("nobody") == "\u2022\u2022\u2022" and mask_email("") is None
