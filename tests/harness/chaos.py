"""The chaos run (issue 14, item 1): `serve` replicas on one PostgreSQL against the loopback fakes, pages opened
over the API and the Slack channel, acknowledged at random by button, thread reply, SMS and keypress, the rest
escalating through every step; a random replica killed with SIGKILL every few seconds and started again,
PostgreSQL optionally restarted once; every fake failing a share of calls at random. At the end the database and
the fakes' records are checked: `ChaosResult`.

Used by `make chaos` (bench/chaos.py, at scale) and by tests/test_e2e_chaos.py (one minute, asserted). Everything
runs on the real clock: waits poll a condition with a deadline."""

from __future__ import annotations

import heapq
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.models import NotificationRow
from oncallbot.services.pages import plan_from_json
from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.fakes.base import RandomFaults

from .config import example_settings
from .e2e import API_TOKEN, SLACK_SECRET, current_week, e2e_config, e2e_env, seed_quarter, utc_now, wait_until
from .gcal import service_account_file
from .serve import CLIENT_TLS, ServeProcess, free_port

SUPPORT = "C01SUPPORT"
FRONT_DESK = "U0FRONTDSK"
OUR_NUMBER = "+14155550199"
ACK_WINDOW = timedelta(seconds=4)
STEP_DELAY = timedelta(seconds=3)
CHAIN = {
    "steps": [{"notify": "oncall", "channels": ["sms", "voice"], "after": "0s"},
              {"notify": "manager", "channels": ["sms", "slack"], "after": f"{STEP_DELAY.seconds}s"},
              {"notify": "senior_managers", "channels": ["sms", "voice", "slack"], "after": f"{STEP_DELAY.seconds}s"}],
    "repeat_every": f"{STEP_DELAY.seconds}s", "max_repeats": 0, "phone_throttle": {"calls": 2, "per": "2s"},
}
STEPS = len(CHAIN["steps"])
PLAN_LENGTH = ACK_WINDOW + STEP_DELAY * (STEPS - 1)
ACK_METHODS = ("button", "thread", "sms", "keypress")
PEOPLE = {p.id: p for p in example_settings().team_model().people}
PG_RESTART = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"]
LATE_TOLERANCE = timedelta(seconds=15)  # a step due this long before the ack, and not fired, was missed


@dataclass
class ChaosSettings:
    pages: int = 10_000
    minutes: float = 10.0
    replicas: int = 3
    kill_every: float = 5.0  # seconds; 0: never
    restart_postgres: bool = False
    ack_share: float = 0.5
    slack_share: float = 0.3  # of pages opened by a message in the support channel (the rest over the API)
    faults: RandomFaults | None = field(default_factory=RandomFaults)
    seed: int = 14
    settle_timeout: float = 240.0  # seconds, after the last page, for every step and send to finish
    # Kills at least this many, however slowly replicas restart: the chaos goes on after the last ack until then
    # (at most `min_kills_timeout` seconds). A restart takes 20-40 s on a loaded machine, and the last replica up
    # is never killed, so "every 5 s" alone gave 4 kills in a minute when the machine was busiest.
    min_kills: int = 0
    min_kills_timeout: float = 120.0
    start_timeout: float = 120.0  # seconds for each replica's first start (with its first calendar sync)


@dataclass
class Ack:
    page_id: int
    method: str
    person_id: str
    at: datetime
    accepted: bool  # our side answered (2xx)
    retried: bool = False  # a replica died under the request, which was sent again (as Slack and Twilio do)
    answer: str = ""


@dataclass
class ChaosResult:
    settings: ChaosSettings
    seconds: float = 0.0
    opened: int = 0
    intake_lost: list[str] = field(default_factory=list)  # Slack tickets answered 200, never a page
    api_lost: list[int] = field(default_factory=list)  # pages the API answered with an id, not in the database
    slack_tickets: int = 0  # answered 200
    steps_fired: int = 0
    steps_repeated: int = 0
    steps_missed: list[int] = field(default_factory=list)  # due, never fired, the page never taken
    steps_late_then_taken: list[int] = field(default_factory=list)  # due, not fired yet when it was taken
    step_lateness: list[float] = field(default_factory=list)  # seconds from due to fired
    stuck: list[int] = field(default_factory=list)
    acks: int = 0
    acks_accepted: int = 0  # answered 2xx: what the outside world believes was recorded
    acks_by_method: dict[str, int] = field(default_factory=dict)
    acks_lost: list[int] = field(default_factory=list)
    acks_lost_by_method: dict[str, int] = field(default_factory=dict)
    acks_lost_answered_at_once: int = 0  # by SMS or keypress, lost although answered at the first try: never ok
    acks_lost_answers: list[str] = field(default_factory=list)
    outbox: Counter = field(default_factory=Counter)  # state -> rows
    sent_by_channel: Counter = field(default_factory=Counter)
    sends: int = 0  # rows sent, or ambiguous
    ambiguous: int = 0
    lost_sends: list[str] = field(default_factory=list)  # left pending/sending, or "sent" with no provider record
    # Of those left pending: Slack messages still waiting for their channel's pace (slack.pace, about 1 a second
    # per channel) when the settling ended: a backlog, sent later, told apart from what nothing will send.
    paced_backlog: int = 0
    double_sends: list[str] = field(default_factory=list)
    reconciled: Counter = field(default_factory=Counter)  # what the providers said of interrupted sends
    kills: int = 0
    kills_skipped: int = 0
    never_restarted: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    postgres_restarts: int = 0
    faults: dict[str, dict[str, int]] = field(default_factory=dict)
    rss_mb: list[float] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def ambiguous_per_1000(self) -> float:
        return 1000 * self.ambiguous / self.sends if self.sends else 0.0

    def rows(self) -> list[tuple[str, str]]:
        s = self.settings
        return [
            ("load", f"{self.opened} pages in {s.minutes:g} min ({self.seconds:.0f} s with settling), "
                     f"{s.replicas} replicas, kill every {s.kill_every:g} s ({self.kills} kills, {self.kills_skipped} "
                     f"skipped: the others still starting), PostgreSQL restarts {self.postgres_restarts}"),
            ("replica restart, SIGKILL to healthy", _spread(self.restart_seconds, "s")
             + (f"; {self.never_restarted} never came back" if self.never_restarted else "")),
            ("provider faults", ", ".join(f"{name}: " + "/".join(f"{k} {v}" for k, v in counts.items())
                                          for name, counts in self.faults.items())),
            ("pages lost at intake (answered 2xx, never opened): API, Slack tickets",
             f"{len(self.api_lost)}, {len(self.intake_lost)} of {self.slack_tickets}"),
            ("requests refused (the caller is told)", f"{len(self.refused)} {Counter(self.refused).most_common(3)}"),
            ("steps fired", str(self.steps_fired)),
            ("steps repeated", str(self.steps_repeated)),
            ("steps missed (due, never fired, page never taken)", str(len(self.steps_missed))),
            (f"pages with a step more than {LATE_TOLERANCE.seconds} s late when taken",
             str(len(self.steps_late_then_taken))),
            ("step lateness (due to fired)", _percentiles(self.step_lateness, "s")),
            ("pages stuck open past their plan", str(len(self.stuck))),
            ("acks (button/thread/sms/keypress)",
             f"{self.acks} ({'/'.join(str(self.acks_by_method.get(m, 0)) for m in ACK_METHODS)})"),
            ("acks recorded (of those answered 2xx)",
             f"{self.acks_accepted - len(self.acks_lost)} of {self.acks_accepted} ({len(self.acks_lost)} lost)"),
            ("acks not recorded (button/thread/sms/keypress)",
             f"{len(self.acks_lost)} ({'/'.join(str(self.acks_lost_by_method.get(m, 0)) for m in ACK_METHODS)}); "
             f"by Twilio, answered at the first try: {self.acks_lost_answered_at_once}; "
             f"answers: {Counter(self.acks_lost_answers).most_common(3)}"),
            ("outbox rows by state", ", ".join(f"{k} {v}" for k, v in sorted(self.outbox.items()))),
            ("outbox rows sent by channel", ", ".join(f"{k} {v}" for k, v in sorted(self.sent_by_channel.items()))),
            ("sends lost (left sending, pending off Slack, or sent unknown to the provider)",
             str(len(self.lost_sends))),
            ("Slack messages still waiting for the channel's pace when settling ended", str(self.paced_backlog)),
            ("double sends (one person, one step)", str(len(self.double_sends))),
            ("interrupted sends, as the providers answered", ", ".join(f"{k} {v}" for k, v in
                                                                     sorted(self.reconciled.items())) or "none"),
            ("ambiguous reports per 1,000 sends", f"{self.ambiguous_per_1000:.2f} ({self.ambiguous} of {self.sends})"),
            ("serve RSS after the run", ", ".join(f"{mb:.0f} MB" for mb in self.rss_mb)),
        ]

    def failures(self) -> list[str]:
        """Each failed check's cases, to look them up in a kept database and its replicas' logs."""
        listed = [("pages lost at intake", self.api_lost + self.intake_lost), ("steps missed", self.steps_missed),
                  ("pages stuck", self.stuck), ("acks lost (page ids)", self.acks_lost),
                  ("acks lost, answers", self.acks_lost_answers), ("sends lost", self.lost_sends),
                  ("double sends", self.double_sends)]
        return [f"{name}: {cases[:20]}" for name, cases in listed if cases]

    def table(self) -> str:
        width = max(len(name) for name, _ in self.rows())
        lines = [f"| {'what'.ljust(width)} | measured |", f"| {'-' * width} | --- |"]
        lines += [f"| {name.ljust(width)} | {value} |" for name, value in self.rows()]
        return "\n".join(lines)


def _percentiles(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
    return f"p50 {at(50):.2f} {unit}, p99 {at(99):.2f} {unit}, max {ordered[-1]:.2f} {unit}"


def _spread(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"median {ordered[len(ordered) // 2]:.1f} {unit}, max {ordered[-1]:.1f} {unit} ({len(values)})"


class Replicas:
    """`serve` processes on one database; one can be killed with SIGKILL and is started again on its port."""

    def __init__(self, workdir: Path, env: dict[str, str], count: int):
        self.servers = []
        for _ in range(count):
            port = free_port()
            config = e2e_config(workdir, port, acknowledgment={"window": f"{ACK_WINDOW.seconds}s"},
                                escalation=CHAIN)
            self.servers.append(ServeProcess(config, workdir, env=env, port=port))
        self._lock = threading.Lock()
        self._down: set[int] = set()
        self._restarts: list[threading.Thread] = []
        self.restart_seconds: list[float] = []  # SIGKILL to healthy again
        self.kills_skipped = 0  # a kill was due while the others were still starting: never kill the last one up
        self.never_restarted = 0  # replicas that did not come back after five tries

    def start(self, timeout: float = 30.0) -> None:
        for server in self.servers:
            server.start(ready_timeout=timeout)

    def live(self) -> list[ServeProcess]:
        with self._lock:
            return [s for i, s in enumerate(self.servers) if i not in self._down]

    def kill_one(self, rng: random.Random) -> bool:
        """SIGKILL a running replica (never the last one up), then start it again in the background."""
        with self._lock:
            up = [i for i in range(len(self.servers)) if i not in self._down]
            if len(up) < 2:
                self.kills_skipped += 1
                return False
            index = rng.choice(up)
            self._down.add(index)
        self.servers[index].kill()  # SIGKILL
        restart = threading.Thread(target=self._restart, args=(index,), daemon=True)
        restart.start()
        self._restarts.append(restart)
        return True

    def _restart(self, index: int) -> None:
        server = self.servers[index]
        started = time.monotonic()
        for _ in range(5):
            try:
                server.start(ready_timeout=60, wait_for_sync=False)
                break
            except AssertionError:  # e.g. PostgreSQL restarting at that moment: try again
                continue
        else:  # never came back: it stays down (never sent requests, never killed again), and it is said
            self.never_restarted += 1
            return
        with self._lock:
            self._down.discard(index)
            self.restart_seconds.append(time.monotonic() - started)

    def wait_all_up(self, timeout: float = 90) -> None:
        for restart in self._restarts:
            restart.join(timeout)

    def rss_mb(self) -> list[float]:
        sizes = []
        for server in self.live():
            status = Path(f"/proc/{server.process.pid}/status").read_text()
            kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            sizes.append(kb / 1024)
        return sizes

    def stop(self) -> None:
        self.wait_all_up()
        for server in self.servers:
            if server.process and server.process.poll() is None:
                try:
                    server.stop()
                except subprocess.TimeoutExpired:  # still working through a backlog: the checks are done
                    server.kill()


class Driver:
    """What the outside world does: opens pages, acknowledges some, retried on another replica when one dies."""

    def __init__(self, replicas: Replicas, twilio: FakeTwilio, slack: FakeSlack, store: Store, rng: random.Random):
        self.replicas, self.twilio, self.slack, self.store, self.rng = replicas, twilio, slack, store, rng
        self._lock = threading.Lock()
        self.opened: dict[str, int | None] = {}  # external id or Slack ts -> page id (None: opened over Slack)
        self.by_index: dict[int, str] = {}
        self.refused: list[str] = []  # requests our side never accepted (the caller would see the failure)
        self._local = threading.local()
        self.acks: list[Ack] = []
        self.oncall = current_week(_seeded_weeks, utc_now())[1]

    def _send(self, request, attempts: int = 12) -> httpx.Response | None:
        """`request(server)` on a random live replica; another one when a replica is down or answers 5xx."""
        why = ""
        self._local.retried = False
        for attempt in range(attempts):
            server = self.rng.choice(self.replicas.live())
            try:
                response = request(server, attempt)
            except httpx.HTTPError as exc:
                why = type(exc).__name__
                self._local.retried = True  # the replica died under it, perhaps half way through
                continue
            if response.status_code < 500:
                if response.status_code >= 300:
                    self.refused.append(f"HTTP {response.status_code}: {response.text[:100]}")
                return response
            why = f"HTTP {response.status_code}"
        self.refused.append(f"gave up after {attempts} attempts: {why}")
        return None

    def open_by_api(self, index: int) -> None:
        external_id = f"chaos-{index}"

        def post(server, _):
            return httpx.post(f"{server.url}/api/v1/pages", timeout=10, verify=CLIENT_TLS,
                              headers={"Authorization": f"Bearer {API_TOKEN}"},
                              json={"summary": f"Ticket {index}", "source": "api", "external_id": external_id})

        response = self._send(post)
        if response is not None and response.status_code in (200, 201):
            with self._lock:
                self.opened[external_id] = response.json()["id"]
                self.by_index[index] = external_id

    def open_by_slack(self, index: int) -> None:
        text = f"Customer ticket {index}: printer on fire"
        # In the channel as in Slack: a thread a reply is looked for in, a ts no card shares
        ts = self.slack.person_posts(SUPPORT, FRONT_DESK, text)
        event = {"type": "message", "channel": SUPPORT, "channel_type": "channel", "user": FRONT_DESK,
                 "text": text, "ts": ts, "event_ts": ts}
        response = self._send(self._slack_event(event))
        if response is not None and response.status_code == 200:
            with self._lock:
                self.opened[ts] = None
                self.by_index[index] = ts

    def _slack_event(self, event: dict):
        body = json.dumps({"token": "legacy", "team_id": "T1", "api_app_id": "A0ONCALL", "type": "event_callback",
                           "event_id": f"Ev{uuid.uuid4().hex[:12]}", "event_time": int(time.time()), "event": event,
                           "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}]})

        def post(server, attempt):  # Slack retries an event that got no answer, saying so
            retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"} if attempt else {}
            return _slack_post(server, body, "application/json", retry)
        return post

    def acknowledge_opened(self, index: int, method: str) -> None:
        """Acknowledge the `index`th page opened, if it was (a Slack ticket once its page exists)."""
        key = self.by_index.get(index)
        page_id = self.opened.get(key) if key else None
        if key and page_id is None:
            try:
                with self.store.transaction() as tx:
                    page = tx.page_by_slack_thread(SUPPORT, key)
                    page_id = page.id if page else None
            except Exception:  # PostgreSQL restarting: this one goes unacknowledged and escalates
                return
        if page_id is not None:
            self.acknowledge(page_id, method)

    def acknowledge(self, page_id: int, method: str) -> None:
        person = PEOPLE[self.oncall]
        if method == "button":
            response = self._send(lambda server, _: _slack_post(server, urlencode({"payload": json.dumps({
                "type": "block_actions", "user": {"id": person.slack_id, "username": person.id, "team_id": "T1"},
                "token": "legacy", "api_app_id": "A0ONCALL", "team": {"id": "T1", "domain": "fake"},
                "trigger_id": f"{uuid.uuid4().hex}.trigger", "response_url": "http://127.0.0.1:9/response",
                "container": {"type": "message", "message_ts": self._thread(page_id) or "1.0", "channel_id": SUPPORT},
                "channel": {"id": SUPPORT, "name": "support"},
                "actions": [{"type": "button", "action_id": "page.on_it", "block_id": f"page-{page_id}",
                             "value": str(page_id), "action_ts": f"{time.time():.6f}"}]})}),
                "application/x-www-form-urlencoded"))
        elif method == "thread":
            thread = self._thread(page_id)
            if thread is None:  # its card is not posted yet: the button is as good
                return self.acknowledge(page_id, "button")
            ts = self.slack.person_posts(SUPPORT, person.slack_id, "On It!", thread)
            response = self._send(self._slack_event({
                "type": "message", "channel": SUPPORT, "channel_type": "channel", "user": person.slack_id,
                "text": "On It!", "ts": ts, "event_ts": ts, "thread_ts": thread}))
        elif method == "sms":
            sid = "SM" + uuid.uuid4().hex
            params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": self.twilio.account_sid, "From": person.phone,
                      "To": OUR_NUMBER, "Body": f"on it #{page_id}", "NumMedia": "0", "ApiVersion": "2010-04-01"}
            response = self._send(lambda server, _: self._twilio_post(server, "/twilio/sms", params))
        else:
            params = {"AccountSid": self.twilio.account_sid, "CallSid": "CA" + uuid.uuid4().hex, "Digits": "1",
                      "From": OUR_NUMBER, "To": person.phone, "Direction": "outbound-api",
                      "CallStatus": "in-progress", "ApiVersion": "2010-04-01"}
            response = self._send(lambda server, _: self._twilio_post(server, f"/twilio/voice?page={page_id}", params))
        with self._lock:
            self.acks.append(Ack(page_id, method, person.id, utc_now(),
                                 response is not None and response.status_code < 300, self._local.retried,
                                 response.text[:120] if response is not None else ""))

    def _twilio_post(self, server: ServeProcess, path: str, params: dict) -> httpx.Response:
        url = f"{server.url}{path}"  # each replica's public URL is its own address here
        signature = RequestValidator(self.twilio.auth_token).compute_signature(url, params)
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10, verify=CLIENT_TLS)

    def _thread(self, page_id: int) -> str | None:
        try:
            with self.store.transaction() as tx:
                page = tx.page(page_id)
                return page.slack_thread_ts if page else None
        except Exception:  # PostgreSQL restarting: the thread reply waits for its card
            return None

    def slack_page_ids(self) -> dict[str, int | None]:
        with self.store.transaction() as tx:
            return {ts: (page.id if (page := tx.page_by_slack_thread(SUPPORT, ts)) else None)
                    for ts, page_id in self.opened.items() if page_id is None}


def _slack_post(server: ServeProcess, body: str, content_type: str, headers: dict | None = None) -> httpx.Response:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=timestamp, body=body)
    return httpx.post(f"{server.url}/slack/events", content=body.encode(), timeout=10, verify=CLIENT_TLS, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
        **(headers or {})})


_seeded_weeks: dict = {}


def run_chaos(settings: ChaosSettings, workdir: Path, database_url: str, log=print) -> ChaosResult:
    """One chaos run on `database_url` (an empty PostgreSQL database of its own)."""
    result = ChaosResult(settings)
    rng = random.Random(settings.seed)
    started = time.monotonic()
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        _seeded_weeks.clear()
        _seeded_weeks.update(seed_quarter(gcal, utc_now()))
        env = e2e_env(slack, twilio, gcal, service_account_file(workdir, f"{gcal.url}/token"), database_url)
        replicas = Replicas(workdir, env, settings.replicas)
        upgrade = subprocess.run([sys.executable, "-m", "oncallbot", "db", "upgrade", "--config",
                                  str(replicas.servers[0].config)], cwd=workdir, env=replicas.servers[0].env,
                                 capture_output=True, text=True, timeout=120)
        if upgrade.returncode != 0:
            raise RuntimeError(upgrade.stderr)
        store = Store(database_url)
        try:
            replicas.start(settings.start_timeout)
            for offset, fake in enumerate((slack, twilio, gcal)):
                faults = settings.faults
                fake.fail_at_random(replace(faults, seed=faults.seed + offset) if faults and faults.seed else faults)
            driver = Driver(replicas, twilio, slack, store, rng)
            log(f"chaos: {settings.replicas} replicas up; opening {settings.pages} pages over "
                f"{settings.minutes:g} min")
            _drive(settings, driver, replicas, rng, result, log)
            for fake in (slack, twilio, gcal):
                fake.fail_at_random(None)
            replicas.wait_all_up()
            log("chaos: opening done; waiting for every step and send to finish")
            _settle(store, settings.settle_timeout)
            result.rss_mb = replicas.rss_mb()
            result.restart_seconds, result.kills_skipped = replicas.restart_seconds, replicas.kills_skipped
            result.never_restarted = replicas.never_restarted
            result.faults = {type(f).__name__.removeprefix("Fake"): dict(f.random_fault_counts)
                             for f in (slack, twilio, gcal)}
            _check(store, driver, slack, twilio, result)
            result.reconciled = _reconciled(replicas)
        finally:
            replicas.stop()
            store.dispose()
    result.seconds = time.monotonic() - started
    return result


def _drive(settings: ChaosSettings, driver: Driver, replicas: Replicas, rng: random.Random, result: ChaosResult,
           log) -> None:
    duration = settings.minutes * 60
    start = time.monotonic()
    stop = threading.Event()

    def chaos_monkey():
        next_kill = start + settings.kill_every
        restarted_postgres = not settings.restart_postgres
        while not stop.is_set():
            now = time.monotonic()
            if not restarted_postgres and now - start >= duration / 2:
                restarted_postgres = True
                log("chaos: restarting PostgreSQL")
                subprocess.run(PG_RESTART, check=True, timeout=120, capture_output=True)
                result.postgres_restarts += 1
            if settings.kill_every and now >= next_kill:
                next_kill += settings.kill_every
                result.kills += replicas.kill_one(rng)
            stop.wait(0.1)

    monkey = threading.Thread(target=chaos_monkey, name="chaos-monkey", daemon=True)
    monkey.start()
    acks: list[tuple[float, int, str]] = []  # a heap of (when, index, method)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="driver") as pool:
        futures = []
        for index in range(settings.pages):
            due = start + duration * index / settings.pages
            while True:  # paced by the real clock: this is a load generator
                while acks and acks[0][0] <= time.monotonic():
                    _, ack_index, method = heapq.heappop(acks)
                    futures.append(pool.submit(driver.acknowledge_opened, ack_index, method))
                if (wait := min(due, acks[0][0] if acks else due) - time.monotonic()) <= 0 \
                        and due <= time.monotonic():
                    break
                stop.wait(max(wait, 0))
            by_slack = rng.random() < settings.slack_share
            futures.append(pool.submit(driver.open_by_slack if by_slack else driver.open_by_api, index))
            if rng.random() < settings.ack_share:  # at a random point of its plan: before, during or after steps
                heapq.heappush(acks, (time.monotonic() + rng.uniform(0.5, PLAN_LENGTH.total_seconds() + 2),
                                      index, rng.choice(ACK_METHODS)))
            if index % 500 == 499:
                log(f"chaos: {index + 1} pages opened, {result.kills} kills, {time.monotonic() - start:.0f} s")
        while acks:
            when, ack_index, method = heapq.heappop(acks)
            if (wait := when - time.monotonic()) > 0:
                stop.wait(wait)
            futures.append(pool.submit(driver.acknowledge_opened, ack_index, method))
        for future in futures:
            future.result()
    enough = time.monotonic() + settings.min_kills_timeout
    while result.kills < settings.min_kills and time.monotonic() < enough:  # the last pages' steps still run
        stop.wait(0.5)
    stop.set()
    monkey.join()


def _settle(store: Store, timeout: float) -> None:
    """Until no step is due and nothing is left to send (an interrupted send is looked up after its claim ends);
    what is left after `timeout` is counted by the checks."""
    def settled() -> bool:
        with store.transaction() as tx:
            waiting, due = tx.outbox_state(), tx.next_due_at()
        return waiting.waiting == 0 and (due is None or due > utc_now() + timedelta(minutes=10))

    try:
        wait_until(settled, timeout, "every step and send to finish", interval=1)
    except AssertionError:
        return


def _check(store: Store, driver: Driver, slack: FakeSlack, twilio: FakeTwilio, result: ChaosResult) -> None:
    slack_pages = driver.slack_page_ids()
    result.intake_lost = [k for k, v in slack_pages.items() if v is None]
    result.slack_tickets = len(slack_pages)
    result.refused = list(driver.refused)
    page_ids = sorted({p for p in driver.opened.values() if p} | {p for p in slack_pages.values() if p})
    result.opened = len(page_ids)
    acked = {ack.page_id: ack for ack in driver.acks}
    result.acks = len(driver.acks)
    result.acks_accepted = sum(1 for ack in driver.acks if ack.accepted)
    result.acks_by_method = dict(Counter(ack.method for ack in driver.acks))
    now = utc_now()
    with store.transaction() as tx:
        for chunk in range(0, len(page_ids), 500):
            ids = page_ids[chunk:chunk + 500]
            events = tx.events_of_pages(ids)
            steps = Counter(e.page_id for e in events if e.kind == "step")
            fired_at: dict[int, list[datetime]] = {}
            for event in events:
                if event.kind == "step":
                    fired_at.setdefault(event.page_id, []).append(event.at)
            for page_id in ids:
                page = tx.page(page_id)
                if page is None:  # an id the API answered with: the page was never committed
                    result.api_lost.append(page_id)
                    continue
                result.steps_fired += steps[page_id]
                result.steps_repeated += max(0, steps[page_id] - page.fired)
                plan = plan_from_json(page.plan)
                taken_at = page.on_it_at or page.done_at
                due = [at for n in range(plan.total) if (at := plan.due_at(n))]
                for n, at in enumerate(sorted(fired_at.get(page_id, []))[:len(due)]):
                    result.step_lateness.append((at - due[n]).total_seconds())
                if taken_at is None and page.fired < len([at for at in due if at < now]):
                    result.steps_missed.append(page_id)
                elif taken_at is not None and page.fired < sum(1 for at in due if at < taken_at - LATE_TOLERANCE):
                    result.steps_late_then_taken.append(page_id)
                if page.state == "open" and page.next_due_at and page.next_due_at < now - LATE_TOLERANCE:
                    result.stuck.append(page_id)
                if page_id in acked and acked[page_id].accepted and page.on_it_by is None and page.done_by is None:
                    result.acks_lost.append(page_id)
                    method = acked[page_id].method
                    result.acks_lost_by_method[method] = result.acks_lost_by_method.get(method, 0) + 1
                    # Twilio's webhooks answer after their commit; Slack's are answered first, then handled (bolt)
                    result.acks_lost_answered_at_once += not acked[page_id].retried and method in ("sms", "keypress")
                    result.acks_lost_answers.append(f"{method}{' (retried)' if acked[page_id].retried else ''}: "
                                                    f"{acked[page_id].answer[:80]}")
    _check_sends(all_notifications(store.url), slack, twilio, result)


def all_notifications(database_url: str) -> list:
    """Every outbox row (the store's port has no such read: it is the harness's)."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(NotificationRow)))
    finally:
        engine.dispose()


def _check_sends(rows, slack: FakeSlack, twilio: FakeTwilio, result: ChaosResult) -> None:
    result.outbox = Counter(n.state for n in rows)
    result.sent_by_channel = Counter(n.channel for n in rows if n.state == "sent")
    result.sends = sum(1 for n in rows if n.state in ("sent", "ambiguous"))
    result.ambiguous = sum(1 for n in rows if n.state == "ambiguous")
    texts, calls = twilio.all_texts(), twilio.all_calls()
    posts = slack.messages()
    provider_refs = {m["sid"] for m in texts} | {c["sid"] for c in calls} | {p["ts"] for p in posts}
    for n in rows:
        if n.state in ("pending", "sending"):
            if n.state == "pending" and n.channel == "slack":
                result.paced_backlog += 1
            else:
                result.lost_sends.append(f"{n.key} left {n.state}")
        elif n.state == "sent" and n.channel in ("sms", "voice", "slack") and n.kind != "card_update" \
                and n.provider_ref and n.provider_ref not in provider_refs and not n.provider_ref.startswith("console"):
            result.lost_sends.append(f"{n.key} marked sent, not at the provider")
    for (_to, body), count in Counter((m["to"], m["body"]) for m in texts).items():
        if count > 1:
            result.double_sends.append(f"{count} texts to a number: {body[:40]}")
    for (_to, twiml), count in Counter((c["to"], c["twiml"]) for c in calls).items():
        if count > 1:
            result.double_sends.append(f"{count} calls to a number: {twiml[:60]}")
    keys = Counter(((p.get("metadata") or {}).get("event_payload") or {}).get("key") for p in posts)
    for key, count in keys.items():
        if key and count > 1:
            result.double_sends.append(f"{count} Slack posts of {key}")


def _reconciled(replicas: Replicas) -> Counter:
    found: Counter = Counter()
    for server in replicas.servers:
        for line in server.output().splitlines():
            if '"interrupted send looked up"' in line:
                try:
                    found[json.loads(line).get("provider", "?")] += 1
                except ValueError:
                    continue
    return found
