"""Issue 10, item 10: a person's phone number or email never appears in a Slack message, an SMS or call to
someone else, or a log line. `leaks()` scans what the loopback fakes received (and what `serve` logged) for the
team's numbers and emails, in any common form; tests/conftest.py runs it after every test that used a fake.

What is scanned: every Slack Web API request's arguments (text, blocks, views, ...; a DM to a person may carry
that person's own details), Twilio message bodies and call TwiML (and TwiML updates of a live call), again except
to the person themselves; never the routing fields (Twilio's To/From/Url: a number is dialled to reach its owner)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

import yaml

from tests.fakes.base import FakeServer, RecordedRequest
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.harness.config import EXAMPLE_CONFIG

_SEP = r"[\s.()\-\u00a0]*"


@dataclass(frozen=True)
class Contact:
    person_id: str
    phone: str | None  # E.164
    email: str | None
    slack_id: str | None

    def patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        found = []
        if self.phone:
            digits = re.sub(r"\D", "", self.phone)
            national = digits[1:] if digits.startswith("1") and len(digits) == 11 else digits
            country = digits[: len(digits) - len(national)]
            # +14155550101, 14155550101, 4155550101, (415) 555-0101, 415.555.0101, +1 415 555 0101, ...
            groups = [national[:3], national[3:6], national[6:]] if len(national) == 10 else [national]
            prefix = rf"(?:\+?{country}{_SEP})?" if country else r"\+?"
            body = _SEP.join(rf"\(?{g}\)?" for g in groups)
            found.append(("phone", re.compile(rf"(?<!\d){prefix}{body}(?!\d)")))
        if self.email:
            found.append(("email", re.compile(re.escape(self.email), re.IGNORECASE)))
        return found


@cache
def team_contacts() -> tuple[Contact, ...]:
    """The people of config/oncallbot.example.yaml: the team every harness builds."""
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    return tuple(Contact(p["id"], p.get("phone"), p.get("email"), p.get("slack_id")) for p in config["people"])


def _own(contacts: tuple[Contact, ...], *, slack_target: str | None = None, phone_to: str | None = None) -> str | None:
    """The person a message is addressed to, when it is one of the team (a DM, an SMS or a call to them)."""
    for contact in contacts:
        if slack_target and contact.slack_id and slack_target in (contact.slack_id, "D" + contact.slack_id):
            return contact.person_id
        if phone_to and contact.phone and phone_to == contact.phone:
            return contact.person_id
    return None


def _slack_args(request: RecordedRequest) -> tuple[str, str | None]:
    """The request's arguments as text (the form already decoded), and the DM's person (channel, users,
    user_id) when there is one."""
    args = request.json if isinstance(request.json, dict) else dict(request.form)
    target = args.get("channel") or args.get("user_id") or args.get("users") or None
    text = json.dumps(args, ensure_ascii=False, default=str) if args else request.body.decode(errors="replace")
    return text, target if isinstance(target, str) else None


def scan_text(text: str, where: str, own: str | None = None) -> list[str]:
    found = []
    for contact in team_contacts():
        if contact.person_id == own:
            continue
        for kind, pattern in contact.patterns():
            match = pattern.search(text)
            if match:
                around = text[max(match.start() - 60, 0):match.end() + 60]
                found.append(f"{where}: {contact.person_id}'s {kind} ({match[0]!r}) in ...{around}...")
    return found


def leaks(fake: FakeServer) -> list[str]:
    """Every contact detail of the team found where it does not belong in what `fake` received."""
    found: list[str] = []
    contacts = team_contacts()
    if isinstance(fake, FakeSlack):
        for request in fake.all_requests:
            if not request.path.startswith("/api/") and not request.path.startswith("/response/"):
                continue
            text, target = _slack_args(request)
            found += scan_text(text, f"Slack {request.path}", _own(contacts, slack_target=target))
    elif isinstance(fake, FakeTwilio):
        for request in fake.all_requests:
            if request.method != "POST":
                continue
            own = _own(contacts, phone_to=request.form.get("To"))
            for name in ("Body", "Twiml"):
                if request.form.get(name):
                    found += scan_text(request.form[name], f"Twilio {request.path} {name}", own)
    return found


def log_leaks(output: str, where: str = "serve log") -> list[str]:
    """Contact details in log lines: nobody's, ever (logs.mask hides them)."""
    return scan_text(output, where)
