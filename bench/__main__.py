"""`make bench`: the timing goals of shared/DESIGN.md, measured against real `serve` processes and the
loopback fakes. Figures are printed as a table; they are recorded in bench/README.md, never asserted."""

import argparse
import os
import platform
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import bindparam, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import readpath  # noqa: E402
from oncallbot.adapters.db import Store  # noqa: E402
from oncallbot.domain.paging import EscalationPlan, PlannedStep  # noqa: E402
from oncallbot.services.paging import plan_to_json  # noqa: E402
from oncallbot.services.rotation import who_is_on_call  # noqa: E402
from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio  # noqa: E402
from tests.harness.e2e import E2E_PROCEDURE, api, e2e_config, e2e_env, seed_quarter, utc_now  # noqa: E402
from tests.harness.config import example_data  # noqa: E402
from tests.harness.gcal import service_account_file  # noqa: E402
from tests.harness.serve import CLIENT_TLS, ServeProcess, free_port  # noqa: E402

CASES = ["intake", "escalation", "instant", "rest", "storm", "who", "phone_line", "readpath", "command", "growth"]
# The escalation cases' poll for committed steps: it asks only about pages already due and not yet seen fired
# (a handful), so the bench's own reads stay small beside the replicas it measures.
POLL_SECONDS = 0.01
PG_ADMIN_URL = os.environ.get("ONCALLBOT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class Stack:
    """The three fakes and a service-account key, for `serve` processes to talk to."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.slack, self.twilio, self.gcal = FakeSlack().start(), FakeTwilio().start(), FakeGoogleCalendar().start()
        seed_quarter(self.gcal, utc_now())
        self.key_file = service_account_file(workdir, f"{self.gcal.url}/token")

    def serve(self, database_url: str, **sections) -> ServeProcess:
        port = free_port()
        config = e2e_config(self.workdir, port, **sections)
        env = e2e_env(self.slack, self.twilio, self.gcal, self.key_file, database_url)
        return ServeProcess(config, self.workdir, env=env, port=port)

    def stop(self):
        for fake in (self.slack, self.twilio, self.gcal):
            fake.stop()


class PgDatabase:
    def __init__(self):
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.name = f"oncallbot_bench_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = self.admin.url.set(database=self.name).render_as_string(hide_password=False)

    def drop(self):
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def bench_intake(stack: Stack, database_url: str, rate: float, seconds: float) -> dict:
    """POST /api/v1/pages at `rate` per second; latency until the fake Slack receives the page's card."""
    store = Store(database_url)
    store.upgrade()
    store.dispose()
    # Slack's own pace (about 1 message/s per channel) cannot carry 20 cards/s into one channel: what this
    # measures is our path (HTTP, transaction, outbox kick), so the pace is raised out of its way.
    slack = {**example_data()["slack"], "pace": {"per_second": 100, "burst": 100}}
    server = stack.serve(database_url, slack=slack).start()
    try:
        cpu_before = serve_cpu_seconds(server)
        count = int(rate * seconds)
        sent_at: dict[int, float] = {}
        lock = threading.Lock()

        def post(index):
            started = time.time()
            response = api(server, "POST", "/api/v1/pages", json={"summary": f"Bench ticket {index}",
                                                                  "source": "api", "external_id": f"b-{index}"})
            with lock:
                sent_at[response.json()["id"]] = started

        begin = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            for index in range(count):
                time.sleep(max(0.0, begin + index / rate - time.monotonic()))  # pacing, not a test
                pool.submit(post, index)
        cards = stack.slack.wait_for(lambda r: r.path.endswith("chat.postMessage")
                                     and "Bench ticket" in str((r.json or {}).get("text")), timeout=60, count=count)
        # serve's CPU per page (its scheduler's jobs included): steadier than wall time on a shared machine.
        cpu_ms = (serve_cpu_seconds(server) - cpu_before) * 1000 / count
        latencies = []
        for card in cards:
            page_id = int(card.json["text"].split("#")[1].split(":")[0])
            if page_id in sent_at:
                latencies.append((card.received_at - sent_at[page_id]) * 1000)
        time.sleep(3)  # let the process settle before reading its idle memory
        rss_mb = int(Path(f"/proc/{server.process.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
        return {"pages": count, "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
                "max_ms": max(latencies), "rss_mb": rss_mb, "cpu_ms": cpu_ms}
    finally:
        server.stop()
        stack.slack.clear()


def serve_cpu_seconds(server: ServeProcess) -> float:
    """utime + stime of the serve process so far (/proc/<pid>/stat)."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_escalation(stack: Stack, pages: int, spread_seconds: float, replicas: int) -> dict:
    """`pages` open pages whose first step falls due within `spread_seconds`, `replicas` serve processes on
    one PostgreSQL. Lateness of the step (from its due time until a replica has committed it, seen by
    polling the database every POLL_SECONDS) and of its delivery (until the fake Slack receives the DM)."""
    database = PgDatabase()
    servers = []
    try:
        chain = {"steps": [{"notify": "oncall", "channels": ["slack"], "after": "0s"}], "max_repeats": 0}
        servers = [stack.serve(database.url, escalation=chain) for _ in range(replicas)]
        Store(database.url).upgrade()
        for server in servers:
            server.start()
        store = Store(database.url)
        start = datetime.now(UTC) + timedelta(seconds=15)
        due: dict[int, datetime] = {}
        with store.transaction() as tx:
            for index in range(pages):
                due_at = start + timedelta(seconds=random.uniform(0, spread_seconds))
                plan = EscalationPlan(due_at, (PlannedStep("oncall", ("aisha",), ("slack",), timedelta(0)),),
                                      timedelta(minutes=15), 0)
                page = tx.add_page(summary=f"Storm {index}", source="bench", state="open", responsible="aisha",
                                   created_at=due_at - timedelta(minutes=15), deadline_at=due_at,
                                   plan=plan_to_json(plan), fired=0, next_due_at=due_at)
                due[page.id] = due_at
        fired_seen: dict[int, float] = {}
        poll = create_engine(database.url)
        by_due = sorted(due, key=due.__getitem__)
        asked, watching = 0, set()  # pages already due and not yet seen fired: the only ones asked about
        fired_of = text("SELECT id FROM pages WHERE fired >= 1 AND id IN :ids").bindparams(
            bindparam("ids", expanding=True))
        deadline = time.monotonic() + spread_seconds + 120
        with poll.connect() as connection:
            while len(fired_seen) < pages and time.monotonic() < deadline:
                now = datetime.now(UTC)
                while asked < len(by_due) and due[by_due[asked]] <= now:
                    watching.add(by_due[asked])
                    asked += 1
                if watching:
                    rows = connection.execute(fired_of, {"ids": list(watching)}).scalars().all()
                    connection.rollback()  # a fresh snapshot each time
                    seen_at = time.time()
                    for page_id in rows:
                        fired_seen[page_id] = seen_at
                        watching.discard(page_id)
                time.sleep(POLL_SECONDS)
        with poll.connect() as connection:
            step_events = dict(connection.execute(text(
                "SELECT CAST(subject_id AS INTEGER), count(*) FROM audit_entries"
                " WHERE subject = 'page' AND kind = 'step' GROUP BY subject_id")).all())
        poll.dispose()
        aisha = E2E_PROCEDURE.team.person("aisha").slack_id

        def storm_dms():
            per_page: dict[int, list[float]] = {}
            for dm in stack.slack.requests_to("chat.postMessage"):
                body = dm.json or {}
                if body.get("channel") == aisha and "Storm" in body.get("text", ""):
                    for page_id in set(re.findall(r"#(\d+)", body["text"])):  # a digest DM carries several
                        per_page.setdefault(int(page_id), []).append(dm.received_at)
            return per_page

        wait_deadline = time.monotonic() + 300
        while len(storm_dms()) < len(fired_seen) and time.monotonic() < wait_deadline:
            time.sleep(0.5)
        per_page = storm_dms()
        fired_lateness = [(seen - due[p].timestamp()) * 1000 for p, seen in fired_seen.items()]
        all_committed_s = (max(fired_seen.values()) - min(d.timestamp() for d in due.values())
                           if len(fired_seen) == pages else float("inf"))
        delivered_lateness = [(min(t) - due[p].timestamp()) * 1000 for p, t in per_page.items()]
        return {"pages": pages, "replicas": replicas,
                "fired_p50_ms": percentile(fired_lateness, 50), "fired_p99_ms": percentile(fired_lateness, 99),
                "fired_max_ms": max(fired_lateness),
                "sent_p50_ms": percentile(delivered_lateness, 50), "sent_p99_ms": percentile(delivered_lateness, 99),
                "sent_max_ms": max(delivered_lateness), "delivered": len(per_page),
                "duplicates": sum(n - 1 for n in step_events.values()) + sum(len(t) - 1 for t in per_page.values()),
                "misses": sum(1 for p in due if p not in fired_seen), "all_committed_s": all_committed_s}
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception:  # a replica still busy: the figures above are what we came for
                server.kill()
        database.drop()


LINE = "+14155550100"


def bench_phone_line(stack: Stack, database_url: str, calls: int, concurrency: int) -> dict:
    """Customers calling the office line: each call rings the on-call person, who picks up and lets the
    screening time out, then the caller leaves a voicemail. Latency of every TwiML answer (incoming, screen,
    end of ring, end of recording) as the fake Twilio sees it."""
    store = Store(database_url)
    store.upgrade()
    store.dispose()
    server = stack.serve(database_url, phone_line={"numbers": [LINE]}).start()
    timings: list[float] = []
    lock = threading.Lock()

    def send(url: str, params: dict, signature: str):
        started = time.perf_counter()
        response = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10,
                               verify=CLIENT_TLS)
        if response.headers.get("content-type", "").startswith("text/xml"):
            with lock:
                timings.append((time.perf_counter() - started) * 1000)
        return response

    def one_call(index: int) -> None:
        call = stack.twilio.incoming_call(LINE, f"+1650555{index % 10000:04d}", send, server.url)
        call.answer()
        call.no_keypress()
        call.leave_message(30, f"Bench voicemail {index}")

    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one_call, range(calls)))
        return {"calls": calls, "answers": len(timings), "p50_ms": percentile(timings, 50),
                "p99_ms": percentile(timings, 99), "max_ms": max(timings)}
    finally:
        server.stop()
        stack.slack.clear()


def phone_line_rows(stack: Stack, workdir: Path, calls: int) -> list[tuple]:
    results = {("SQLite", 1): bench_phone_line(stack, f"sqlite:///{workdir}/line1.sqlite3", calls // 2, 1),
               ("SQLite", 4): bench_phone_line(stack, f"sqlite:///{workdir}/line4.sqlite3", calls, 4)}
    pg = PgDatabase()
    try:
        results[("PostgreSQL", 4)] = bench_phone_line(stack, pg.url, calls, 4)
    finally:
        pg.drop()
    return [(f"TwiML answer to the office line's webhooks, {label}, {at_once} call(s) at a time",
             f"{result['calls']} calls, {result['answers']} answers",
             f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms",
             "p99 <= 1 s") for (label, at_once), result in results.items()]


def _epoch(value) -> float:
    """A timestamp read with plain SQL (aware on PostgreSQL), as seconds since the epoch."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def bench_storm(stack: Stack, pages: int, intake_seconds: float, observe_seconds: float) -> dict:
    """`pages` pages through POST /api/v1/pages within `intake_seconds` against one `serve` on PostgreSQL,
    acknowledgment window 30 s, then the on-call person (Slack and SMS) and after 30 s more their manager
    (Slack, SMS, call): several people responsible. Watched for `observe_seconds` from the first request:
    what every person and channel received (the fakes' records), Slack's pace per channel, the largest
    Slack backlog in the outbox (polled every second), and what the database says was lost."""
    database = PgDatabase()
    server = None
    try:
        chain = {"steps": [{"notify": "oncall", "channels": ["slack", "sms"], "after": "0s"},
                           {"notify": "manager", "channels": ["slack", "sms", "voice"], "after": "30s"}],
                 "repeat_every": "15m", "max_repeats": 0}
        server = stack.serve(database.url, escalation=chain, acknowledgment={"window": "30s"})
        Store(database.url).upgrade()
        server.start()
        stack.slack.clear()
        stack.twilio.clear()
        begin_wall, begin = time.time(), time.monotonic()

        def post(index):
            api(server, "POST", "/api/v1/pages", json={"summary": f"Storm ticket {index}", "source": "api",
                                                        "external_id": f"s-{index}"})

        with ThreadPoolExecutor(max_workers=16) as pool:
            for index in range(pages):
                time.sleep(max(0.0, begin + index * intake_seconds / pages - time.monotonic()))  # pacing
                pool.submit(post, index)
        intake_done = time.monotonic() - begin
        poll = create_engine(database.url)
        backlog, all_posted_at = 0, None
        while time.monotonic() - begin < observe_seconds:
            with poll.connect() as connection:
                backlog = max(backlog, connection.execute(text(
                    "SELECT count(*) FROM notifications WHERE channel = 'slack' AND state IN ('pending', 'sending')"
                )).scalar_one())
                if all_posted_at is None:  # each page's card row: sent as a card or in a storm message
                    posted, last = connection.execute(text(
                        "SELECT count(*), max(sent_at) FROM notifications WHERE kind = 'card' AND sent_at IS NOT NULL"
                    )).one()
                    if posted >= pages:
                        all_posted_at = _epoch(last) - begin_wall
            time.sleep(1)
        with poll.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM pages WHERE summary LIKE 'Storm ticket %'"))\
                .scalar_one()
            unfired = connection.execute(text("SELECT count(*) FROM pages WHERE summary LIKE 'Storm ticket %'"
                                              " AND fired = 0")).scalar_one()
            card_states = dict(connection.execute(text(
                "SELECT state, count(*) FROM notifications WHERE kind = 'card' GROUP BY state")).all())
        poll.dispose()
        posts = stack.slack.requests_to("chat.postMessage")
        per_channel: dict[str, list[float]] = {}
        for request in posts:
            per_channel.setdefault(str((request.json or {}).get("channel")), []).append(request.received_at)
        busiest_second = max((max_in_window(times, 1.0) for times in per_channel.values()), default=0)
        top_level = [r for r in posts if not (r.json or {}).get("thread_ts")
                     and str((r.json or {}).get("channel")).startswith("C")]
        storm_messages = sum(1 for r in top_level if str((r.json or {}).get("text")).startswith(":zap: *Storm:"))
        card_count = sum(1 for r in top_level if str((r.json or {}).get("text")).startswith("Page #"))
        team = E2E_PROCEDURE.team
        received = {}
        for person in team.people:
            received[person.id] = (len(stack.twilio.sms_to(person.phone)) if person.phone else 0,
                                   len(stack.twilio.calls_to(person.phone)) if person.phone else 0,
                                   len(per_channel.get(person.slack_id or "-", [])))
        support = max(per_channel.items(), key=lambda kv: len(kv[1]), default=("-", []))
        return {"pages": pages, "intake_s": intake_done, "stored": stored, "unfired": unfired,
                "cards": card_count, "storm_messages": storm_messages, "card_states": card_states,
                "all_posted_s": all_posted_at, "observe_s": observe_seconds,
                "backlog": backlog, "busiest_second": busiest_second,
                "support_posts": len(support[1]),
                "received": {p: r for p, r in received.items() if any(r)}}
    finally:
        if server is not None:
            try:
                server.stop()
            except Exception:  # a replica still busy: the figures above are what we came for
                server.kill()
        database.drop()


def max_in_window(times: list[float], window: float) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def page_due(tx, due_at: datetime, summary: str):
    plan = EscalationPlan(due_at, (PlannedStep("oncall", ("aisha",), ("slack",), timedelta(0)),),
                          timedelta(minutes=15), 0)
    return tx.add_page(summary=summary, source="bench", state="open", responsible="aisha",
                       created_at=due_at - timedelta(minutes=15), deadline_at=due_at, plan=plan_to_json(plan),
                       fired=0, next_due_at=due_at)


def bench_at_rest(stack: Stack, pages: int, idle_seconds: float) -> dict:
    """One `serve` on PostgreSQL with nothing to do: its CPU over `idle_seconds`; then `pages` pages, one at a
    time, each committed by another process (the bench) with its step due 0.3-1.3 s later. Lateness: from the
    due time until the dispatcher's round that fired it began (the step's recorded time), and until the bench
    saw it committed (polled every 5 ms)."""
    database = PgDatabase()
    server = None
    try:
        chain = {"steps": [{"notify": "oncall", "channels": ["slack"], "after": "0s"}], "max_repeats": 0}
        server = stack.serve(database.url, escalation=chain)
        Store(database.url).upgrade()
        server.start()
        time.sleep(5)  # past start-up: the first sync and catch-up
        cpu_before, wall_before = process_cpu_seconds(server.process.pid), time.monotonic()
        time.sleep(idle_seconds)  # measuring idle: nothing to wait for
        idle_cpu = (process_cpu_seconds(server.process.pid) - cpu_before) / (time.monotonic() - wall_before)
        store = Store(database.url)
        poll = create_engine(database.url)
        round_late, commit_late = [], []
        for index in range(pages):
            due_at = datetime.now(UTC) + timedelta(seconds=random.uniform(0.3, 1.3))
            with store.transaction() as tx:
                page_id = page_due(tx, due_at, f"At rest {index}").id
            deadline = time.monotonic() + 30
            with poll.connect() as connection:
                while time.monotonic() < deadline:
                    row = connection.execute(text(
                        "SELECT a.at FROM pages p JOIN audit_entries a ON a.subject = 'page' AND a.kind = 'step'"
                        " AND a.subject_id = CAST(p.id AS VARCHAR) WHERE p.id = :id AND p.fired >= 1"),
                        {"id": page_id}).first()
                    connection.rollback()
                    if row is not None:
                        commit_late.append((time.time() - due_at.timestamp()) * 1000)
                        round_late.append((row[0].timestamp() - due_at.timestamp()) * 1000)
                        break
                    time.sleep(0.005)
        poll.dispose()
        store.dispose()
        return {"pages": pages, "idle_cpu_pct": idle_cpu * 100, "idle_seconds": idle_seconds,
                "round_p50_ms": percentile(round_late, 50), "round_p99_ms": percentile(round_late, 99),
                "commit_p50_ms": percentile(commit_late, 50), "commit_p99_ms": percentile(commit_late, 99),
                "missed": pages - len(commit_late)}
    finally:
        if server is not None:
            server.stop()
        database.drop()


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def bench_who(database_url: str, years: int, lookups: int) -> dict:
    """`who` against `years` of weekly shifts."""
    from oncallbot.domain.rotation import Shift

    store = Store(database_url)
    store.upgrade()
    window = E2E_PROCEDURE.window
    first = window.week_start_on_or_before(datetime(2020, 1, 1).date())
    shifts = [Shift(first + timedelta(weeks=i), "kelly", *window.bounds(first + timedelta(weeks=i)), f"e{i}")
              for i in range(52 * years)]
    with store.transaction() as tx:
        tx.replace_shifts(shifts)
    span = (shifts[-1].end_at - shifts[0].start_at).total_seconds()
    timings = []
    for _ in range(lookups):
        at = shifts[0].start_at + timedelta(seconds=random.uniform(0, span))
        started = time.perf_counter()
        who_is_on_call(store, E2E_PROCEDURE, at)
        timings.append((time.perf_counter() - started) * 1000)
    store.dispose()
    return {"shifts": len(shifts), "p50_ms": percentile(timings, 50), "p99_ms": percentile(timings, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--only", choices=CASES, help="run one measurement")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="oncallbot-bench-"))
    wanted = {args.only} if args.only else set(CASES)
    stack = Stack(workdir)
    rows = []
    try:
        if "intake" in wanted:
            rows += intake_rows(stack, workdir, 5 if args.quick else 15)
        if "escalation" in wanted:
            rows += escalation_rows(stack, 1000 if args.quick else 10_000)
        if "phone_line" in wanted:
            rows += phone_line_rows(stack, workdir, 30 if args.quick else 200)
        if "instant" in wanted:
            rows += instant_rows(stack, 1000 if args.quick else 10_000)
        if "rest" in wanted:
            rows += rest_rows(stack, 20 if args.quick else 200, 10 if args.quick else 30)
        if "storm" in wanted:
            rows += storm_rows(stack, 500 if args.quick else 5000, 10, 90 if args.quick else 420)
        if "who" in wanted:
            who = bench_who(f"sqlite:///{workdir}/who.sqlite3", 10, 2000)
            rows.append(("who over 10 years of weekly shifts (one team), SQLite", f"{who['shifts']} shifts",
                         f"p50 {who['p50_ms']:.2f} ms, p99 {who['p99_ms']:.2f} ms", "p99 <= 5 ms"))
        rows += readpath_rows(stack, workdir, wanted, args.quick)
    finally:
        stack.stop()
    print(f"\nMachine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d}; {readpath.cpu_note()}")
    print("| what | load | measured | goal |\n| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


def intake_rows(stack: Stack, workdir: Path, seconds: float) -> list[tuple]:
    rows = []
    intake = bench_intake(stack, f"sqlite:///{workdir}/bench.sqlite3", 20, seconds)
    rows.append(("intake -> first notification, SQLite, 20 pages/s", f"{intake['pages']} pages",
                 f"p50 {intake['p50_ms']:.1f} ms, p99 {intake['p99_ms']:.1f} ms, max {intake['max_ms']:.1f} ms; "
                 f"serve CPU {intake['cpu_ms']:.1f} ms/page", "p99 <= 100 ms"))
    pg = PgDatabase()
    try:
        intake_pg = bench_intake(stack, pg.url, 20, seconds)
    finally:
        pg.drop()
    rows.append(("intake -> first notification, PostgreSQL, 20 pages/s", f"{intake_pg['pages']} pages",
                 f"p50 {intake_pg['p50_ms']:.1f} ms, p99 {intake_pg['p99_ms']:.1f} ms, "
                 f"max {intake_pg['max_ms']:.1f} ms; serve CPU {intake_pg['cpu_ms']:.1f} ms/page", "p99 <= 100 ms"))
    rows.append(("resident memory of serve after the intake run", "-", f"{intake['rss_mb']:.0f} MB",
                 "<= 150 MB at idle"))
    return rows


def readpath_rows(stack: Stack, workdir: Path, wanted: set[str], quick: bool) -> list[tuple]:
    rows = []
    if "readpath" in wanted:
        rows += readpath.bench_oncall_http(stack, f"sqlite:///{workdir}/readpath.sqlite3", "SQLite", quick)
        pg = PgDatabase()
        try:
            rows += readpath.bench_oncall_http(stack, pg.url, "PostgreSQL", quick)
            rows += readpath.bench_version_cost(pg.url, "PostgreSQL", 500 if quick else 3000)
        finally:
            pg.drop()
        rows += readpath.bench_version_cost(f"sqlite:///{workdir}/version.sqlite3", "SQLite", 500 if quick else 3000)
    if "command" in wanted:
        rows += readpath.bench_who_command(workdir, 5 if quick else 20)
    if "growth" in wanted:
        databases: list[PgDatabase] = []

        def sqlite(name):
            return f"sqlite:///{workdir}/{name}.sqlite3", lambda: None

        def postgresql(name):
            database = PgDatabase()
            databases.append(database)
            return database.url, database.drop

        rows += readpath.bench_growth(stack, [("SQLite", sqlite), ("PostgreSQL", postgresql)], workdir,
                                      10_000 if quick else 100_000, 100 if quick else 500, quick)
    return rows


def escalation_rows(stack: Stack, pages: int) -> list[tuple]:
    escalation = bench_escalation(stack, pages, 60, 2)
    return [
        (f"escalation lateness: step committed, {pages} pages due within 60 s, 2 replicas, PostgreSQL",
         f"{escalation['pages']} pages",
         f"p50 {escalation['fired_p50_ms']:.0f} ms, p99 {escalation['fired_p99_ms']:.0f} ms, "
         f"max {escalation['fired_max_ms']:.0f} ms; duplicates {escalation['duplicates']}, "
         f"misses {escalation['misses']}", "p99 <= 250 ms, max <= 1 s, 0 duplicates, 0 misses"),
        ("... and until its Slack DM reached the fake", f"{escalation['delivered']} DMs",
         f"p50 {escalation['sent_p50_ms']:.0f} ms, p99 {escalation['sent_p99_ms']:.0f} ms, "
         f"max {escalation['sent_max_ms']:.0f} ms (paced: one person's DMs, grouped)", "-"),
    ]



def instant_rows(stack: Stack, pages: int) -> list[tuple]:
    instant = bench_escalation(stack, pages, 0, 2)
    return [(f"{pages} steps due at the same instant, 2 replicas, PostgreSQL", f"{instant['pages']} pages",
             f"all committed {instant['all_committed_s']:.1f} s after; p99 {instant['fired_p99_ms']:.0f} ms; "
             f"duplicates {instant['duplicates']}, misses {instant['misses']}", "all within 10 s")]


def rest_rows(stack: Stack, pages: int, idle_seconds: float) -> list[tuple]:
    rest = bench_at_rest(stack, pages, idle_seconds)
    return [
        ("a single due step at rest, PostgreSQL: late until its round began", f"{rest['pages']} pages, one at a time",
         f"p50 {rest['round_p50_ms']:.1f} ms, p99 {rest['round_p99_ms']:.1f} ms; missed {rest['missed']}",
         "p99 <= 50 ms"),
        ("... until the bench saw it committed (polled every 5 ms)", "-",
         f"p50 {rest['commit_p50_ms']:.1f} ms, p99 {rest['commit_p99_ms']:.1f} ms", "-"),
        ("idle CPU of serve (PostgreSQL, nothing due)", f"{rest['idle_seconds']:.0f} s",
         f"{rest['idle_cpu_pct']:.2f}% of a core", "< 2% of a core"),
    ]



def storm_rows(stack: Stack, pages: int, intake_seconds: float, observe_seconds: float) -> list[tuple]:
    storm = bench_storm(stack, pages, intake_seconds, observe_seconds)
    states = ", ".join(f"{n} {state}" for state, n in sorted(storm["card_states"].items()))
    posted = (f"every page posted after {storm['all_posted_s']:.0f} s" if storm["all_posted_s"] is not None
              else f"not every page posted in {storm['observe_s']:.0f} s")
    cards = (f"{posted}: {storm['cards']} cards and {storm['storm_messages']} storm messages (card rows: {states})")
    people = "; ".join(f"{person} {sms} SMS, {calls} calls, {dms} DMs"
                       for person, (sms, calls, dms) in storm["received"].items())
    return [
        (f"storm: {pages} pages in {intake_seconds:.0f} s through the API, PostgreSQL", f"{pages} pages",
         f"intake took {storm['intake_s']:.1f} s; {storm['stored']} pages stored, {storm['unfired']} with no step "
         f"fired; {cards}", "nothing lost"),
        ("... Slack's pace", "-", f"busiest channel second {storm['busiest_second']} posts; largest Slack backlog "
         f"{storm['backlog']} messages; support channel {storm['support_posts']} posts", "~1 msg/s per channel, bursts"),
        ("... what each person received", "-", people or "-", "at most one SMS and one call per throttle period"),
    ]


if __name__ == "__main__":
    sys.exit(main())
