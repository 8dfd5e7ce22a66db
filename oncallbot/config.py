"""The configuration file: one YAML document, validated on load. Secrets never live here.

Resolution order: --config PATH, else $ONCALLBOT_CONFIG, else config/oncallbot.yaml, else
config/oncallbot.example.yaml. A file that does not validate raises ConfigError with one line per
problem, each naming the key path: `shift.start: "Mon 25:00" is not a time`.
"""

import json
import re
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from .config_file import config_path, read_config_file
from .domain.handoff import DEFAULT_CHECKLIST
from .domain.responsibility import BusinessHours
from .domain.rotation import ShiftWindow
from .domain.team import Person, Team
from .domain.timelabels import WeeklyTime, format_duration, parse_clock, parse_duration, parse_weekday
from .errors import ConfigError

# libyaml's safe loader where PyYAML was built with it: the same documents, read ten times faster than in pure
# Python (20 ms of every command's start on the example file).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
E164_PROBLEM = "is not a phone number in E.164 form (e.g. +14155550123; spaces, dashes and brackets are fine)"


def _duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(value)


def _clock(value: Any) -> time:
    return value if isinstance(value, time) else parse_clock(value)


def _weekly(value: Any) -> WeeklyTime:
    return value if isinstance(value, WeeklyTime) else WeeklyTime.parse(value)


def _weekday(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6 else parse_weekday(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Clock = Annotated[time, BeforeValidator(_clock)]
Weekly = Annotated[WeeklyTime, BeforeValidator(_weekly)]
Weekday = Annotated[int, BeforeValidator(_weekday)]
PositiveDuration = Annotated[Duration, Field(gt=timedelta(0))]


def _duration_or_off(value: Any) -> timedelta | None:
    # YAML reads a bare `off` as false.
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    try:
        duration = _duration(value)
    except ValueError:
        raise ValueError(f'"{value}" is not a duration (use e.g. 30m, 2h, 1d) or off') from None
    if duration <= timedelta(0):
        raise ValueError(f'"{value}" must be longer than zero (or off)')
    return duration


DurationOrOff = Annotated[timedelta | None, BeforeValidator(_duration_or_off)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class TeamSection(_Section):
    name: str = Field(min_length=1)
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'"{value}" is not an IANA time zone (e.g. "America/Los_Angeles")') from None
        return value


class PersonSection(_Section):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    slack_id: str | None = None
    manager: str | None = None
    roles: tuple[Literal["oncall", "manager", "senior_manager"], ...] = ("oncall",)

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        """Stored normalized: "+1 (415) 555-0123" and "+14155550123" are one number (two people sharing one
        is found in the cross-checks, and the inbound webhooks match Twilio's E.164 `From`)."""
        if value is None:
            return None
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_possible_number(number):
            raise ValueError(E164_PROBLEM)
        normalized = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if not E164.match(normalized):
            raise ValueError(E164_PROBLEM)
        return normalized

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError("is not an email address")
        return value


class ShiftSection(_Section):
    start: Weekly = WeeklyTime(0, time(18, 1))
    end: Weekly = WeeklyTime(0, time(6, 59))
    # Who covers the office's hours of a holiday on the changeover day (a Monday holiday, 07:00-18:01).
    on_office_holiday: Literal["previous", "next", "nobody"] = "nobody"


class BusinessHoursSection(_Section):
    days: tuple[Weekday, ...] = (0, 1, 2, 3, 4)
    start: Clock = time(7, 0)
    end: Clock = time(18, 0)


class HolidaysSection(_Section):
    country: str | None = None
    subdivision: str | None = None
    extra_dates: tuple[date, ...] = ()


class SwapsSection(_Section):
    notice: Duration = timedelta(days=5)
    approvers: tuple[str, ...] = Field(min_length=1)


class AcknowledgmentSection(_Section):
    window: PositiveDuration = timedelta(minutes=15)
    done_reminder: DurationOrOff = timedelta(hours=2)  # after On It! without Done: a DM, then an SMS; `off`: never


Channel = Literal["sms", "voice", "slack", "email"]


class EscalationStep(_Section):
    notify: Literal["oncall", "manager", "senior_managers", "approvers", "office"]
    channels: tuple[Channel, ...] = ("sms", "voice")
    after: Duration = timedelta(0)  # after the previous step; the first step counts from the window's end


class PhoneThrottle(_Section):
    calls: int = Field(default=3, ge=1)
    per: PositiveDuration = timedelta(minutes=15)


def _default_chain() -> tuple[EscalationStep, ...]:
    return (
        EscalationStep(notify="oncall", channels=("sms", "voice")),
        EscalationStep(notify="manager", channels=("sms", "voice", "slack"), after=timedelta(minutes=15)),
        EscalationStep(notify="senior_managers", channels=("sms", "voice", "slack"), after=timedelta(minutes=15)),
    )


class EscalationSection(_Section):
    steps: tuple[EscalationStep, ...] = Field(default_factory=_default_chain, min_length=1)
    repeat_every: PositiveDuration = timedelta(minutes=15)
    max_repeats: int = Field(default=3, ge=0)
    phone_throttle: PhoneThrottle = PhoneThrottle()


class TestPageSection(_Section):
    enabled: bool = True
    window: PositiveDuration = timedelta(minutes=15)
    # how late a replica that was down at the week's start still sends it; past it the approvers are told
    grace: PositiveDuration = timedelta(hours=2)

    @field_validator("grace")
    @classmethod
    def _shorter_than_a_day(cls, value: timedelta) -> timedelta:
        if value >= timedelta(days=1):
            raise ValueError(f'"{format_duration(value)}" is too long: the grace must be shorter than a day')
        return value


class HandoffSection(_Section):
    enabled: bool = True  # at the week's start: a post in slack.support_channel and DMs to the two people


ChecklistItem = Annotated[str, Field(min_length=1, max_length=300)]


class WeekReminderSection(_Section):
    enabled: bool = True
    before: PositiveDuration = timedelta(hours=24)  # how long before the person's week starts
    checklist: tuple[ChecklistItem, ...] = DEFAULT_CHECKLIST

    @field_validator("before")
    @classmethod
    def _within_a_week(cls, value: timedelta) -> timedelta:
        if value > timedelta(days=7):
            raise ValueError("must be at most 7d (a reminder before the week, not before the one before it)")
        return value


class GoogleSection(_Section):
    calendar_id: str = Field(min_length=1)
    delegated_subject: str | None = None  # domain-wide delegation: the user to act as


class RotationSection(_Section):
    source: Literal["ical", "google"] = "ical"
    ical: str | None = None  # a file path (relative to this file) or an http(s) URL
    google: GoogleSection | None = None
    sync_interval: PositiveDuration = timedelta(minutes=10)


class SlackSection(_Section):
    support_channel: str | None = None  # where voicemail and ticket notifications land
    office_channel: str | None = None  # pages inside business hours go here
    procedure_file: str = "procedure.md"  # what `/oncall help` shows; relative to this file
    intake: Literal["all", "apps_and_bots", "people"] = "all"  # whose new support-channel messages become pages
    # A user group (its id, e.g. S0123ABCD: not the @handle) whose one member is the person on call now;
    # unset, nothing touches user groups. Needs the `usergroups:write` scope (and user groups, a paid plan).
    oncall_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,}$")
    # Slack's pace for chat.postMessage, per channel and per DM: what backs up is grouped or waits its turn.
    pace: "SlackPaceSection" = Field(default_factory=lambda: SlackPaceSection())


class SlackPaceSection(_Section):
    per_second: float = Field(default=1.0, gt=0, le=100)  # Slack: about one message per second per channel
    burst: int = Field(default=20, ge=1, le=1000)  # posts an idle channel takes at once ("bursts allowed")
    # Cards that back up are folded into one storm message per send; false: every page gets its own card, in turn.
    group_cards: bool = True


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
Tls = Literal["implicit", "starttls", "none"]  # none: only to a loopback host (a local test server)


class ImapSection(_Section):
    host: str = Field(min_length=1)
    port: int = Field(default=993, ge=1, le=65535)
    tls: Tls = "implicit"
    username: str = Field(min_length=1)
    folder: str = Field(default="INBOX", min_length=1)
    # password: ONCALLBOT_IMAP_PASSWORD; google: the calendar's service account (GOOGLE_APPLICATION_CREDENTIALS)
    # acting for `username`; microsoft: an app registration (tenant_id, client_id, ONCALLBOT_IMAP_CLIENT_SECRET)
    auth: Literal["password", "google", "microsoft"] = "password"
    tenant_id: str | None = None
    client_id: str | None = None


class SmtpSection(_Section):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    tls: Tls = "starttls"
    username: str | None = None  # the password: ONCALLBOT_SMTP_PASSWORD
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")


class EmailSection(_Section):
    address: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")  # the support address itself
    imap: ImapSection | None = None
    smtp: SmtpSection | None = None
    poll_interval: PositiveDuration = timedelta(seconds=30)
    idle: bool = True  # IMAP IDLE where the server offers it (new mail within a second or two)
    # The team's receiving server, as it names itself in Authentication-Results (e.g. mx.google.com):
    # an emailed On It! counts only when it vouches for the sender's domain (DMARC or DKIM pass).
    authserv_id: str | None = None
    max_pages_per_sender: int = Field(default=5, ge=1)


class ReportSection(_Section):
    email: bool = False  # the weekly report also by email to each approver with an address


class ServerSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"  # what Twilio signs its webhooks against
    metrics: bool = False  # GET /metrics (Prometheus text format)


class HeartbeatSection(_Section):
    """A dead-man's switch outside the bot (healthchecks-style), called every minute while its checks pass."""

    url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+\S*$")
    method: Literal["get", "post"] = "get"
    timeout: PositiveDuration = timedelta(seconds=10)

    @field_validator("timeout")
    @classmethod
    def _under_a_minute(cls, value: timedelta) -> timedelta:
        if value >= timedelta(minutes=1):
            raise ValueError("must be under 1m (the heartbeat is called every minute)")
        return value


class WebSection(_Section):
    """The managers' web view (a sign-in link DM'd by Slack, then a session cookie) and the calendar feeds."""

    session_expiry: PositiveDuration = timedelta(hours=12)


class PhoneLineSection(_Section):
    """The office line: Twilio's incoming-call webhook for `numbers` is {server.public_url}/twilio/incoming."""

    numbers: tuple[str, ...] = Field(min_length=1)  # the team's Twilio numbers that customers call
    office_hours_forward: str = "voicemail"  # inside business hours: a number to forward to, or voicemail
    ring_seconds: int = Field(default=20, ge=5, le=60)
    try_next: Literal["manager"] | None = None  # ring the next person of the chain before voicemail
    greeting: str = Field(default="You have reached {team}. Nobody could take your call right now. Please "
                                  "leave your name, number and a short message after the beep.",
                          min_length=1, max_length=1000)
    greeting_url: str | None = Field(default=None, pattern=r"^https://")  # a recorded greeting, played instead
    office_greeting: str = Field(default="You have reached {team}. Please leave your name, number and a short "
                                         "message after the beep.", min_length=1, max_length=1000)
    office_greeting_url: str | None = Field(default=None, pattern=r"^https://")
    max_voicemail_seconds: int = Field(default=180, ge=10, le=3600)
    transcribe: bool = True
    listen_link_valid_for: PositiveDuration = timedelta(days=7)  # the Slack card's "Listen" link

    @field_validator("numbers")
    @classmethod
    def _e164_numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number in value:
            if not E164.match(number):
                raise ValueError(f"{number!r} is not a phone number in E.164 form (e.g. +14155550123)")
        return value

    @field_validator("office_hours_forward")
    @classmethod
    def _number_or_voicemail(cls, value: str) -> str:
        if value != "voicemail" and not E164.match(value):
            raise ValueError(f'"{value}" is neither a phone number in E.164 form nor voicemail')
        return value


class StorageSection(_Section):
    sqlite_path: str = "var/oncallbot.sqlite3"  # relative to the working directory; unless ONCALLBOT_DATABASE_URL


class Settings(_Section):
    team: TeamSection
    people: tuple[PersonSection, ...] = Field(min_length=1)
    shift: ShiftSection = ShiftSection()
    business_hours: BusinessHoursSection = BusinessHoursSection()
    holidays: HolidaysSection = HolidaysSection()
    swaps: SwapsSection
    acknowledgment: AcknowledgmentSection = AcknowledgmentSection()
    escalation: EscalationSection = EscalationSection()
    test_page: TestPageSection = TestPageSection()
    handoff: HandoffSection = HandoffSection()
    week_reminder: WeekReminderSection = WeekReminderSection()
    rotation: RotationSection = RotationSection()
    slack: SlackSection = SlackSection()
    server: ServerSection = ServerSection()
    heartbeat: HeartbeatSection = HeartbeatSection()
    web: WebSection = WebSection()
    storage: StorageSection = StorageSection()
    email: EmailSection | None = None
    report: ReportSection = ReportSection()
    phone_line: PhoneLineSection | None = None
    base_dir: Path = Path(".")  # the config file's folder; relative paths are read from there

    def team_model(self) -> Team:
        people = tuple(
            Person(id=p.id, name=p.name, email=p.email, phone=p.phone, slack_id=p.slack_id,
                   manager_id=p.manager, roles=frozenset(p.roles))
            for p in self.people
        )
        return Team(self.team.name, self.team.timezone, people, tuple(self.swaps.approvers))

    def shift_window(self) -> ShiftWindow:
        return ShiftWindow(self.shift.start, self.shift.end, self.team.timezone)

    def business_hours_model(self) -> BusinessHours:
        return BusinessHours(frozenset(self.business_hours.days), self.business_hours.start, self.business_hours.end)

    def resolve_path(self, value: str) -> str:
        if re.match(r"^https?://", value):
            return value
        return str((self.base_dir / value).resolve())


def _cross_checks(settings: Settings) -> list[str]:
    """Rules that span keys: references to people, holiday country, rotation source."""
    # Imported here: the holidays package is large, and only the holiday adapter touches it.
    from .adapters.holiday_calendar import calendar_problem

    problems = []
    ids = [p.id for p in settings.people]
    for index, person in enumerate(settings.people):
        if ids.count(person.id) > 1 and ids.index(person.id) != index:
            problems.append(f'people[{index}].id: "{person.id}" is used by more than one person')
        if person.manager is not None and person.manager not in ids:
            problems.append(f'people[{index}].manager: "{person.manager}" is not a person id in people')
        if person.manager == person.id:
            problems.append(f"people[{index}].manager: a person cannot be their own manager")
        first = next((i for i, p in enumerate(settings.people) if p.phone and p.phone == person.phone), index)
        if first != index:  # the number itself stays out of the message: it is personal data
            problems.append(f'people[{index}].phone: the same number as people[{first}] '
                            f'("{settings.people[first].id}"); a number belongs to one person '
                            "(replies and keypresses are matched by it)")
    for index, approver in enumerate(settings.swaps.approvers):
        if approver not in ids:
            problems.append(f'swaps.approvers[{index}]: "{approver}" is not a person id in people')
    if not any("oncall" in p.roles for p in settings.people):
        problems.append("people: nobody has the role oncall")
    if not any("senior_manager" in p.roles for p in settings.people) and any(
            s.notify == "senior_managers" for s in settings.escalation.steps):
        problems.append("escalation.steps: a step notifies senior_managers but no person has the role senior_manager")
    if settings.holidays.country:
        if problem := calendar_problem(settings.holidays.country, settings.holidays.subdivision):
            problems.append(problem)
    elif settings.holidays.subdivision:
        problems.append("holidays.subdivision: set holidays.country too")
    hours = settings.business_hours
    if hours.end < hours.start:
        problems.append(f"business_hours.end: {hours.end:%H:%M} is before business_hours.start {hours.start:%H:%M}")
    rotation = settings.rotation
    if rotation.source == "ical" and not rotation.ical:
        problems.append("rotation.ical: required when rotation.source is ical (a file path or URL)")
    if (rotation.source == "ical" and rotation.ical and not re.match(r"^https?://", rotation.ical)
            and not Path(settings.resolve_path(rotation.ical)).is_file()):
        problems.append(f'rotation.ical: file "{rotation.ical}" does not exist')
    if rotation.source == "google" and rotation.google is None:
        problems.append("rotation.google: required when rotation.source is google (calendar_id)")
    problems += _email_checks(settings)
    return problems


def _email_checks(settings: Settings) -> list[str]:
    problems = []
    email = settings.email
    uses_email = any("email" in s.channels for s in settings.escalation.steps) or settings.report.email
    if uses_email and (email is None or email.smtp is None):
        where = "report.email" if settings.report.email else "escalation.steps"
        problems.append(f"{where}: email is used but email.smtp is not configured")
    if email is None:
        return problems
    for name, section in (("imap", email.imap), ("smtp", email.smtp)):
        if section is not None and section.tls == "none" and section.host not in LOOPBACK_HOSTS:
            problems.append(f'email.{name}.tls: "none" is allowed only to a loopback host, not "{section.host}"')
    imap = email.imap
    if imap is not None and imap.auth == "microsoft" and not (imap.tenant_id and imap.client_id):
        problems.append("email.imap.tenant_id: required (with client_id) when email.imap.auth is microsoft")
    return problems


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith("function-") and "[" not in str(part):
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _message(error: ErrorDetails) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known setting"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    value = error.get("input")
    shown = json.dumps(value, default=str) if isinstance(value, (str, int, float, bool)) else None
    return f"{shown} {message[0].lower()}{message[1:]}" if shown else message


def parse_settings(data: Any, base_dir: Path = Path(".")) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError(["(top level): the file must be a YAML mapping of settings"])
    try:
        settings = Settings.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError([f"{_path(e['loc'])}: {_message(e)}" for e in exc.errors()]) from None
    problems = _cross_checks(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _read_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError:
        if SAFE_LOADER is yaml.SafeLoader:
            raise
    # Read again in pure Python, for its error: it says more ("found character '\t' that cannot start any
    # token"), and the message stays the same whether PyYAML has libyaml or not.
    return yaml.safe_load(text)


def load_settings(explicit: str | None = None) -> Settings:
    path = config_path(explicit)
    return settings_from_file(path, read_config_file(path))


def settings_from_file(path: Path, content: bytes) -> Settings:
    """The settings in `content`, the bytes read from the configuration file at `path`."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start + 1})"]) from None
    try:
        data = _read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None
    return parse_settings(data, path.parent.resolve())
