"""Prometheus metrics (`GET /metrics` when `server.metrics` is true): the only prometheus_client importer.

Per process, counted as things happen in this replica (sum them across replicas): pages opened by source,
time to On It!, escalation lateness, sends by channel and outcome. Read from the database at each scrape
(every replica reports the same value: take max, not sum): the outbox backlog and its oldest message's age,
the age of the last successful calendar sync; and the age of the last mailbox check, NaN until a mailbox is
wired. No label ever carries a person, a number or an address: sources, channels and outcomes are fixed words.
"""

import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ..domain.messages import Delivered, Found, Outgoing, SendCheck
from ..domain.watch import Check, Vitals
from ..errors import ChannelOptedOut, DeliveryFailed
from ..ports import Clock, Deliverer, SentFinder

TIME_TO_ON_IT_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)  # the window is 15 min
LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)  # the goal: p99 <= 250 ms

Health = Callable[[], tuple[Vitals, tuple[Check, ...]]]


class Metrics:
    """The store's observer (pages opened, first On It!, steps fired) and a wrapper that counts sends."""

    def __init__(self, clock: Clock, health: Health,
                 mailbox_checked_at: Callable[[], datetime | None] = lambda: None):
        self.clock = clock
        self.registry = CollectorRegistry()
        self.pages_opened = Counter("oncallbot_pages_opened", "Pages opened in this process, by source",
                                    ["source"], registry=self.registry)
        self.time_to_on_it = Histogram("oncallbot_time_to_on_it_seconds",
                                       "From a page's opening to its On It!, by source (the test page: test)",
                                       ["source"], buckets=TIME_TO_ON_IT_BUCKETS, registry=self.registry)
        self.lateness = Histogram("oncallbot_escalation_lateness_seconds",
                                  "How long after its due time an escalation step was fired (committed)",
                                  buckets=LATENESS_BUCKETS, registry=self.registry)
        self.sends = Counter("oncallbot_sends", "Messages handed to a provider, by channel and outcome",
                             ["channel", "outcome"], registry=self.registry)
        self.registry.register(_FromDatabase(clock, health, mailbox_checked_at))

    # --- the store's observer
    def page_opened(self, source: str) -> None:
        self.pages_opened.labels(source).inc()

    def page_taken(self, source: str, after: timedelta) -> None:
        self.time_to_on_it.labels(source).observe(max(after.total_seconds(), 0.0))

    def step_fired(self, due_at: datetime) -> None:
        self.lateness.observe(max((self.clock.now() - due_at).total_seconds(), 0.0))

    def counting(self, deliverer: Deliverer) -> Deliverer:
        return _CountingDeliverer(deliverer, self.sends)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The scrape's body and content type: the text format (0.0.4), or OpenMetrics when the scraper asks."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class _CountingDeliverer:
    def __init__(self, inner: Deliverer, sends: Counter):
        self.inner, self.sends = inner, sends

    def deliver(self, message: Outgoing) -> Delivered:
        try:
            delivered = self.inner.deliver(message)
        except DeliveryFailed as exc:
            self.sends.labels(str(message.channel), _outcome(exc)).inc()
            raise
        self.sends.labels(str(message.channel), "sent").inc()
        return delivered

    def find_sent(self, message: Outgoing, since: datetime, until: datetime | None = None) -> Found:
        if isinstance(self.inner, SentFinder):
            return self.inner.find_sent(message, since, until)
        return Found(SendCheck.UNKNOWN)


def _outcome(exc: DeliveryFailed) -> str:
    if isinstance(exc, ChannelOptedOut):
        return "opted_out"
    if exc.maybe_sent:
        return "ambiguous"
    return "failed" if exc.permanent else "retried"


class _FromDatabase(Collector):
    """Read at each scrape: what every replica shares."""

    def __init__(self, clock: Clock, health: Health, mailbox_checked_at: Callable[[], datetime | None]):
        self.clock, self.health, self.mailbox_checked_at = clock, health, mailbox_checked_at

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        vitals, failing = self.health()

        def age(at: datetime | None) -> float:
            return (now - at).total_seconds() if at is not None else math.nan

        outbox = vitals.outbox
        yield _gauge("oncallbot_database_up", "1 when the database answered this scrape", float(vitals.database))
        yield _gauge("oncallbot_outbox_backlog", "Messages waiting in the outbox (pending or being sent)",
                     float(outbox.waiting) if outbox else math.nan)
        oldest = (age(outbox.oldest_waiting_at) if outbox.oldest_waiting_at else 0.0) if outbox else math.nan
        yield _gauge("oncallbot_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent message (0: none)",
                     oldest)
        yield _gauge("oncallbot_calendar_sync_age_seconds", "Seconds since the last successful calendar sync",
                     age(vitals.last_sync_at))
        yield _gauge("oncallbot_mailbox_check_age_seconds",
                     "Seconds since the last successful mailbox check (NaN: no mailbox)",
                     age(self.mailbox_checked_at()))
        checks = GaugeMetricFamily("oncallbot_check_failing", "1 when the bot's own check fails (as /healthz)",
                                   labels=["check"])
        for check in Check:
            checks.add_metric([str(check)], float(check in failing))
        yield checks


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
