"""Logs: one JSON line per event, with contact details and secrets masked."""

import json
import logging

import pytest

from oncallbot.logs import JsonFormatter, log_event, mask


@pytest.mark.parametrize("raw,hidden,kept", [
    ("calling +14155550105 now", "+14155550105", "+***05"),
    ("GET /Messages.json?To=%2B14155550105&From=", "14155550105", "%2B***05"),
    ("mail kelly.nguyen@example.com", "kelly.nguyen@example.com", "k***@example.com"),
    ("token xoxb-1234567890-abcdef", "1234567890-abcdef", "xoxb-***"),
    ("Authorization: Bearer ya29.secret-value", "ya29.secret-value", "Bearer ***"),
    ("account AC" + "a1" * 16, "a1a1a1", "AC***"),
    ('{"auth_token": "s3cr3t"}', "s3cr3t", "auth_token"),
])
def test_contact_details_and_secrets_are_masked(raw, hidden, kept):
    masked = mask(raw)
    assert hidden not in masked and kept in masked


def test_a_log_line_is_one_masked_json_object():
    logger = logging.getLogger("oncallbot.test")
    record = logger.makeRecord("oncallbot.test", logging.WARNING, __file__, 1, "sms failed", (), None,
                               extra={"fields": {"to": "+14155550105", "page": 7}})
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line and entry["event"] == "sms failed" and entry["page"] == 7
    assert entry["to"] == "+***05" and entry["level"] == "warning"


def test_log_event_attaches_fields(caplog):
    with caplog.at_level(logging.INFO):
        log_event(logging.getLogger("oncallbot.test"), "synced", weeks=13)
    assert caplog.records[-1].fields == {"weeks": 13}
