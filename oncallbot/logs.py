"""Structured logging: one JSON line per event, with phone numbers, emails and tokens masked."""

import json
import logging
import re
import sys
from datetime import UTC, datetime

_SECRETS = [
    (re.compile(r"\b(xox[abposr]|xapp)-[A-Za-z0-9-]+"), lambda m: f"{m[1]}-***"),
    (re.compile(r"\bAC[0-9a-fA-F]{32}\b"), lambda m: "AC***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), lambda m: f"{m[1]}***"),
    (re.compile(r"(?i)((?:token|secret|password|signature)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), lambda m: f"{m[1]}***"),
    # Each match takes a whole word, with or without an address in it: a pattern that must end at "@" retries
    # from every letter of a long word, quadratic, and held the GIL for an hour on a 2 MB request body.
    (re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(?:@([A-Za-z0-9.-]+\.[A-Za-z]{2,}))?"),
     lambda m: f"{m[1]}***@{m[2]}" if m[2] else m[0]),
    (re.compile(r"\+\d{5,13}(\d{2})\b"), lambda m: f"+***{m[1]}"),
    # ...and URL-encoded, as in a query string (Twilio's list filters: ?To=%2B14155550105)
    (re.compile(r"(?i)%2B\d{5,13}(\d{2})\b"), lambda m: f"%2B***{m[1]}"),
]


def mask(text: str) -> str:
    """Hide contact details and credentials; keep enough (last digits, domain) to tell them apart."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return mask(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "uvicorn.access", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, event, extra={"fields": fields})
