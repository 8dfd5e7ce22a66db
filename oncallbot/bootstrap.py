"""The composition root: settings and environment in, wired adapters and services out. No I/O at import."""

from __future__ import annotations  # the config's models are types here: `who` starts without pydantic

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .adapters.clock import SystemClock
from .adapters.db.schema import default_database_url
from .adapters.holiday_calendar import holiday_lookup
from .domain.paging import ChainStep, EscalationPolicy
from .domain.procedure import Procedure
from .errors import ConfigError

# Types only: the SDKs, SQLAlchemy, the ports and most services load when `build` needs them, so `oncallbot
# who` on a current database (build_rotation_reader) starts without them.
if TYPE_CHECKING:
    from .adapters.db import Store as DatabaseStore
    from .adapters.db.rotation_reader import RotationReader
    from .adapters.mail.imap import MailboxWatcher
    from .adapters.metrics import Metrics
    from .adapters.router import NotificationRouter
    from .adapters.slack.bolt import App as SlackApp
    from .adapters.slack.bolt import WebClient as SlackClient
    from .adapters.twilio import TwilioRecordings, TwilioSignatureVerifier
    from .adapters.who_setup import WhoSetup
    from .config import Settings
    from .domain.mail import MailPolicy
    from .domain.phone_line import PhoneLine
    from .domain.watch import Check, Vitals
    from .ports import Clock, Deliverer, Heartbeat, RotationSource, Store, UserGroups
    from .services.delivery import Claimed, SlackPacer
    from .services.rotation import RotationReadModel
    from .services.watch import DispatcherLiveness


@dataclass(frozen=True)
class Environment:
    """Secrets and endpoints, read only from environment variables."""

    database_url: str | None = None
    api_token: str | None = None
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    google_credentials: str | None = None
    slack_api_url: str | None = None
    twilio_api_url: str | None = None
    google_api_url: str | None = None
    imap_password: str | None = None
    imap_client_secret: str | None = None  # email.imap.auth microsoft: the app registration's secret
    smtp_password: str | None = None
    heartbeat_url: str | None = None  # a dead-man's switch URL is a secret: anyone with it can silence the alarm
    link_secret: str | None = None  # signs the Slack card's "Listen" links to voicemails

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Environment:
        def get(name: str) -> str | None:
            return env.get(name) or None

        return cls(
            database_url=get("ONCALLBOT_DATABASE_URL"), api_token=get("ONCALLBOT_API_TOKEN"),
            slack_bot_token=get("SLACK_BOT_TOKEN"), slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"), twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"), twilio_from_number=get("TWILIO_FROM_NUMBER"),
            google_credentials=get("GOOGLE_APPLICATION_CREDENTIALS"),
            slack_api_url=get("ONCALLBOT_SLACK_API_URL"), twilio_api_url=get("ONCALLBOT_TWILIO_API_URL"),
            google_api_url=get("ONCALLBOT_GOOGLE_API_URL"), imap_password=get("ONCALLBOT_IMAP_PASSWORD"),
            imap_client_secret=get("ONCALLBOT_IMAP_CLIENT_SECRET"), smtp_password=get("ONCALLBOT_SMTP_PASSWORD"),
            heartbeat_url=get("ONCALLBOT_HEARTBEAT_URL"), link_secret=get("ONCALLBOT_LINK_SECRET"),
        )


def build_procedure(settings: Settings) -> Procedure:
    holidays = settings.holidays
    escalation = settings.escalation
    policy = EscalationPolicy(
        chain=tuple(ChainStep(s.notify, tuple(s.channels), s.after) for s in escalation.steps),
        repeat_every=escalation.repeat_every, max_repeats=escalation.max_repeats,
        calls_per_number=escalation.phone_throttle.calls, calls_period=escalation.phone_throttle.per,
    )
    return Procedure(
        escalation=policy,
        team=settings.team_model(),
        window=settings.shift_window(),
        hours=settings.business_hours_model(),
        holiday_on=holiday_lookup(holidays.country, holidays.subdivision, holidays.extra_dates),
        swap_notice=settings.swaps.notice,
        ack_window=settings.acknowledgment.window,
        done_reminder=settings.acknowledgment.done_reminder,
        office_holiday=settings.shift.on_office_holiday,
        report_by_email=settings.report.email,
        phone_line=build_phone_line(settings),
    )


def build_phone_line(settings: Settings) -> PhoneLine | None:
    line = settings.phone_line
    if line is None:
        return None
    from .domain.phone_line import PhoneLine

    team = settings.team.name
    return PhoneLine(numbers=line.numbers, office_hours_forward=line.office_hours_forward,
                     ring_seconds=line.ring_seconds, greeting=line.greeting.replace("{team}", team),
                     greeting_url=line.greeting_url, office_greeting=line.office_greeting.replace("{team}", team),
                     office_greeting_url=line.office_greeting_url, max_voicemail_seconds=line.max_voicemail_seconds,
                     transcribe=line.transcribe, try_next=line.try_next)


def build_rotation_source(settings: Settings, env: Environment) -> RotationSource:
    rotation = settings.rotation
    if rotation.source == "ical":
        from .adapters.ical.source import ICalendarSource

        assert rotation.ical is not None  # the config requires it with this source
        return ICalendarSource(settings.resolve_path(rotation.ical), settings.team.timezone)
    if rotation.source == "google":
        # Imported here: googleapiclient is heavy, and teams on iCalendar never need it.
        from .adapters.gcal.calendar import GoogleCalendarSource, build_calendar_service

        google_credentials = _google_credentials(env)
        google = rotation.google
        assert google is not None  # the config requires it with this source
        service = build_calendar_service(google_credentials, google.delegated_subject, env.google_api_url)
        return GoogleCalendarSource(service, google.calendar_id, settings.team.timezone)
    raise ConfigError([f"rotation.source: {rotation.source!r} is not available in this build"])


def _google_credentials(env: Environment) -> str:
    if not env.google_credentials:
        raise ConfigError(["rotation.google: GOOGLE_APPLICATION_CREDENTIALS is not set "
                           "(the service-account JSON file)"])
    return env.google_credentials


def rotation_source_key(settings: Settings, env: Environment) -> str:
    """The `key` of the source build_rotation_source would build (its sync state's row), without building
    it: no calendar client, no credentials read. It refuses what build_rotation_source refuses.
    tests/test_command_start.py holds the two to the same key."""
    return source_key(*_rotation_ref(settings), env)


def _rotation_ref(settings: Settings) -> tuple[str, str]:
    """rotation.source and what it reads: the calendar file, resolved, or the Google calendar's id."""
    rotation = settings.rotation
    if rotation.source == "ical":
        assert rotation.ical is not None  # the config requires it with this source
        return "ical", settings.resolve_path(rotation.ical)
    if rotation.source == "google":
        assert rotation.google is not None  # the config requires it with this source
        return "google", rotation.google.calendar_id
    return rotation.source, ""


def source_key(source: str, ref: str, env: Environment) -> str:
    if source == "ical":
        return f"ical:{ref}"
    if source == "google":
        _google_credentials(env)
        return f"google:{ref}"
    raise ConfigError([f"rotation.source: {source!r} is not available in this build"])


def who_setup(settings: Settings) -> WhoSetup:
    """What `oncallbot who` reads of the settings (adapters.who_setup keeps a copy): the procedure without
    anyone's contact details or the office line, where the rotation is stored and how often it is synced."""
    from .adapters.who_setup import WhoSetup

    procedure = build_procedure(settings)
    team = replace(procedure.team, people=tuple(replace(person, email=None, phone=None, slack_id=None)
                                                for person in procedure.team.people))
    return WhoSetup(replace(procedure, team=team, phone_line=None), settings.storage.sqlite_path,
                    *_rotation_ref(settings), settings.rotation.sync_interval)


def build_rotation_reader(sqlite_path: str, env: Environment) -> RotationReader | None:
    """A read-only reader of the stored rotation over the database driver alone, for `oncallbot who`; None
    when the database is one to open through the store (see adapters.db.rotation_reader)."""
    from .adapters.db.rotation_reader import open_rotation_reader

    return open_rotation_reader(env.database_url or default_database_url(sqlite_path))


@dataclass
class Container:
    """What `build` wired: the entry points (serve, the CLI, the HTTP app, the scheduler jobs) take it."""

    settings: Settings
    env: Environment
    clock: Clock
    store: Store  # what the services take
    database: DatabaseStore  # the same store, as the database it is: its schema, its URL, its shutdown
    procedure: Procedure
    rotation_source: RotationSource
    deliverer: Deliverer
    slack_client: SlackClient | None = None  # a slack_sdk WebClient when Slack is configured
    recordings: TwilioRecordings | None = None  # voicemail recordings, when Twilio is configured
    notes: list[str] = field(default_factory=list)  # what the operator should know at start
    stopping: threading.Event = field(default_factory=threading.Event)  # set when serve shuts down
    heartbeat: Heartbeat | None = None  # heartbeat.url: called every minute while the checks pass
    metrics: Metrics | None = None  # server.metrics: true
    dispatcher: DispatcherLiveness | None = None  # set by the scheduler: its dispatcher's last run
    slack_pacer: SlackPacer | None = None  # set by `build` when Slack is configured: Slack's pace, per process
    # The mailbox's wiring sets this to a reader of its last successful check (the metrics' age gauge).
    mailbox_checked_at: Callable[[], datetime | None] | None = None
    # What GET /healthz reports besides the database: name -> a check returning None when fine, else why not.
    health_checks: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    rotation: RotationReadModel | None = None  # set by build: the rotation in memory, for GET /api/v1/oncall

    def running(self) -> bool:
        return not self.stopping.is_set()

    def health(self) -> tuple[Vitals, tuple[Check, ...]]:
        """The bot's own checks, as /healthz, /metrics and the heartbeat see them."""
        from .domain.watch import failing_checks
        from .services.watch import read_vitals

        vitals = read_vitals(self.store, self.rotation_source.key, self.dispatcher)
        return vitals, failing_checks(vitals, self.clock.now(), self.settings.rotation.sync_interval)

    def last_mailbox_check(self) -> datetime | None:
        return self.mailbox_checked_at() if self.mailbox_checked_at is not None else None

    def deliver_now(self, page_id: int | None = None, claimed: Claimed | None = None) -> int:
        """Send what the outbox holds now (for one page, or all) instead of waiting for the next tick; `claimed`
        first, when the caller's transaction claimed it already (`delivery.claim_pending`)."""
        from .services.delivery import deliver_pending

        return deliver_pending(self.store, self.procedure, self.deliverer, self.clock.now(), page_id,
                               keep_going=self.running, pacer=self.slack_pacer, claimed=claimed,
                               clock=self.clock.now)



def slack_configured(env: Environment) -> bool:
    return bool(env.slack_bot_token and (env.slack_signing_secret or env.slack_app_token))


def twilio_configured(env: Environment) -> bool:
    return bool(env.twilio_account_sid and env.twilio_auth_token and env.twilio_from_number)


def build_deliverer(settings: Settings, env: Environment, slack_client: SlackClient | None = None,
                    rotation_source: RotationSource | None = None, clock: Clock | None = None
                    ) -> NotificationRouter:
    from .adapters.console_notifier import ConsoleNotifier
    from .adapters.router import NotificationRouter

    slack = twilio = None
    if slack_client is not None:
        from .adapters.slack.notifier import SlackNotifier

        slack = SlackNotifier(slack_client, settings.slack.support_channel, settings.slack.office_channel,
                              listen_link=_listen_link(settings, env, clock or SystemClock()))
    if twilio_configured(env):
        from .adapters.twilio import TwilioGateway

        assert env.twilio_account_sid and env.twilio_auth_token and env.twilio_from_number  # twilio_configured
        twilio = TwilioGateway(env.twilio_account_sid, env.twilio_auth_token, env.twilio_from_number,
                               api_url=env.twilio_api_url)
    calendar = None
    if settings.rotation.source == "google" and rotation_source is not None:
        from .adapters.gcal.calendar import GoogleCalendarSource, GoogleCalendarWriter

        assert isinstance(rotation_source, GoogleCalendarSource)  # rotation.source "google" builds one
        calendar = GoogleCalendarWriter(rotation_source.service, rotation_source.calendar_id)
    email = None
    if settings.email is not None and settings.email.smtp is not None:
        from .adapters.mail.smtp import SmtpNotifier, SmtpSettings

        smtp = settings.email.smtp
        email = SmtpNotifier(SmtpSettings(smtp.host, smtp.port, smtp.tls, smtp.username, smtp.from_,
                                          env.smtp_password))
    return NotificationRouter(ConsoleNotifier(), settings.server.public_url, slack=slack, twilio=twilio,
                              calendar=calendar, email=email)


def _listen_link(settings: Settings, env: Environment, clock: Clock) -> Callable[[int], str] | None:
    """The Slack card's "Listen" link of a voicemail page: signed, valid for phone_line.listen_link_valid_for."""
    line, secret = settings.phone_line, env.link_secret
    if line is None or not secret:
        return None
    from .domain.links import recording_link

    valid_for = line.listen_link_valid_for
    return lambda page_id: recording_link(settings.server.public_url, secret, page_id, clock.now() + valid_for)


def missing_credentials(env: Environment, settings: Settings | None = None) -> list[str]:
    notes: list[str] = []
    if settings is not None and settings.phone_line is not None and not env.link_secret:
        notes.append("ONCALLBOT_LINK_SECRET is not set: voicemail cards in Slack carry no Listen link")
    if not slack_configured(env):
        notes.append("Slack is not configured (SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN): "
                     "Slack messages go to the console notifier")
    if not twilio_configured(env):
        notes.append("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER): "
                     "SMS and calls go to the console notifier")
    return notes


def build_store(settings: Settings, env: Environment | None = None) -> DatabaseStore:
    """The database alone: what migrating needs (no calendar, no credentials, no clients)."""
    from .adapters.db import Store as DatabaseStore

    env = env or Environment.from_env()
    return DatabaseStore(env.database_url or default_database_url(settings.storage.sqlite_path))


def build(settings: Settings, env: Environment | None = None, clock: Clock | None = None) -> Container:
    env = env or Environment.from_env()
    slack_client = None
    if slack_configured(env):
        from .adapters.slack.notifier import build_web_client

        assert env.slack_bot_token is not None  # slack_configured
        slack_client = build_web_client(env.slack_bot_token, env.slack_api_url)
    rotation_source = build_rotation_source(settings, env)
    store = build_store(settings, env)
    clock = clock or SystemClock()
    recordings = None
    if twilio_configured(env) and settings.phone_line is not None:
        from .adapters.twilio import TwilioRecordings

        assert env.twilio_account_sid and env.twilio_auth_token  # twilio_configured
        recordings = TwilioRecordings(env.twilio_account_sid, env.twilio_auth_token, env.twilio_api_url)
    container = Container(
        settings=settings, env=env, clock=clock, store=store, database=store,
        procedure=build_procedure(settings), rotation_source=rotation_source,
        deliverer=build_deliverer(settings, env, slack_client, rotation_source, clock), slack_client=slack_client,
        recordings=recordings, notes=missing_credentials(env, settings),
    )
    from .services.rotation import RotationReadModel

    container.rotation = RotationReadModel(container.store, container.procedure)
    if slack_client is not None:
        from .domain.pacing import SlackPace
        from .services.delivery import SlackPacer

        pace = settings.slack.pace
        container.slack_pacer = SlackPacer(SlackPace(pace.per_second, pace.burst, pace.group_cards),
                                           tz=container.procedure.window.tz,
                                           pages_url=f"{settings.server.public_url.rstrip('/')}/web/pages")
    if heartbeat_url := env.heartbeat_url or settings.heartbeat.url:
        from .adapters.heartbeat import HttpHeartbeat

        container.heartbeat = HttpHeartbeat(heartbeat_url, settings.heartbeat.method,
                                            settings.heartbeat.timeout.total_seconds())
    if settings.server.metrics:
        from .adapters.metrics import Metrics

        container.metrics = Metrics(container.clock, container.health, container.last_mailbox_check)
        store.observer = container.metrics
        container.deliverer = container.metrics.counting(container.deliverer)
    return container


def build_slack_app(container: Container) -> SlackApp | None:
    """The bolt app with its listeners, when Slack is configured. Over HTTP bolt checks the signing secret;
    over Socket Mode (SLACK_APP_TOKEN) the connection itself is authenticated, so there is no secret to check."""
    if container.slack_client is None:
        return None
    from .adapters.slack import bolt
    from .adapters.slack.listeners import contacts, oncall, paging, swaps
    from .entrypoints.formatters import oncall_text, shift_line  # the words the CLI uses, in Slack too
    from .services import inbound, web_access

    settings, env, store, procedure, clock = (container.settings, container.env, container.store,
                                              container.procedure, container.clock)
    app = bolt.create_app(container.slack_client, None if env.slack_app_token else env.slack_signing_secret,
                          procedure.team, lambda key: inbound.already_handled(store, key))
    # Before oncall: its `/oncall swap | handover | reassign` listener must match first.
    swap_deps = swaps.SwapsDeps(store=store, procedure=procedure, clock=clock, deliver_now=container.deliver_now)
    swaps.register(app, swap_deps)
    public_url = settings.server.public_url

    def send_sign_in_link(person, now):
        return web_access.send_sign_in_link(store, procedure, person.id, public_url, now)

    def send_feed_links(person, now):
        return web_access.send_feed_links(store, procedure, person.id, public_url, now)

    contact_deps = contacts.ContactsDeps(store=store, procedure=procedure, clock=clock,
                                         deliver_now=container.deliver_now)
    contacts.register(app, contact_deps)
    contact_blocks, swap_blocks = contacts.home_blocks(contact_deps), swaps.home_blocks(swap_deps)
    oncall.register(app, oncall.OncallDeps(
        store=store, procedure=procedure, clock=clock,
        procedure_file=Path(settings.resolve_path(settings.slack.procedure_file)),
        oncall_text=oncall_text, shift_line=shift_line,
        home_blocks=lambda person, now: swap_blocks(person, now) + contact_blocks(person, now),
        send_sign_in_link=send_sign_in_link, send_feed_links=send_feed_links,
        deliver_now=container.deliver_now))
    paging.register(app, paging.PagingDeps(
        store=store, procedure=procedure, clock=clock, support_channel=settings.slack.support_channel,
        intake=settings.slack.intake, deliver_now=container.deliver_now))
    return app


def build_twilio_verifier(container: Container) -> TwilioSignatureVerifier | None:
    if not container.env.twilio_auth_token:
        return None
    from .adapters.twilio import TwilioSignatureVerifier

    return TwilioSignatureVerifier(container.env.twilio_auth_token, container.settings.server.public_url)


def build_user_groups(container: Container) -> UserGroups | None:
    """The on-call user group's adapter, when slack.oncall_usergroup is set and Slack is configured."""
    if container.slack_client is None or not container.settings.slack.oncall_usergroup:
        return None
    from .adapters.slack.usergroup import SlackUserGroups

    return SlackUserGroups(container.slack_client)


def mail_policy(settings: Settings) -> MailPolicy:
    from .domain.mail import MailPolicy

    email = settings.email
    assert email is not None
    own = {a.lower() for a in (email.address, email.smtp.from_ if email.smtp else None,
                               email.imap.username if email.imap else None) if a and "@" in a}
    return MailPolicy(frozenset(own), email.authserv_id, email.max_pages_per_sender)


def build_mail_watcher(container: Container) -> MailboxWatcher | None:
    """The support mailbox's watch, when email.imap is configured; its health joins GET /healthz."""
    settings, env = container.settings, container.env
    if settings.email is None or settings.email.imap is None:
        return None
    from .adapters.mail.imap import ImapSettings, MailboxWatcher, oauth2_login, password_login

    imap = settings.email.imap
    if imap.auth == "password":
        if not env.imap_password:
            raise ConfigError(["email.imap: ONCALLBOT_IMAP_PASSWORD is not set (or set email.imap.auth)"])
        login = password_login(imap.username, env.imap_password)
    elif imap.auth == "google":
        from .adapters.gcal.mail_token import gmail_token_provider

        if not env.google_credentials:
            raise ConfigError(["email.imap.auth: google needs GOOGLE_APPLICATION_CREDENTIALS (the service account)"])
        login = oauth2_login(imap.username, gmail_token_provider(env.google_credentials, imap.username))
    else:
        from .adapters.mail.oauth import microsoft_token_provider

        if not env.imap_client_secret:
            raise ConfigError(["email.imap.auth: microsoft needs ONCALLBOT_IMAP_CLIENT_SECRET"])
        assert imap.tenant_id and imap.client_id  # the config requires them with this auth
        login = oauth2_login(imap.username, microsoft_token_provider(imap.tenant_id, imap.client_id,
                                                                     env.imap_client_secret))
    watcher = MailboxWatcher(
        container.store, container.procedure, mail_policy(settings),
        ImapSettings(imap.host, imap.port, imap.tls, imap.username, imap.folder,
                     settings.email.poll_interval.total_seconds(), settings.email.idle),
        login, container.clock, container.deliver_now, container.stopping)
    container.health_checks["mailbox"] = watcher.health
    container.mailbox_checked_at = lambda: watcher.checked_at
    return watcher
