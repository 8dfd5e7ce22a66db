"""Issue 14, items 7 and 8: the read path (GET /api/v1/oncall against a real `serve`, the rotation version's
cost), the start of `oncallbot who` as a command, and growth (a pages table of 100,000 rows: `who`, a page's
lookup and the week report against a small database, the indexes PostgreSQL uses, and `serve`'s memory after
a simulated week of traffic). Measured, never asserted."""

import http.client
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from oncallbot.adapters.db import Store
from oncallbot.adapters.db.models import AuditEntryRow, NotificationRow, PageRow
from oncallbot.domain.paging import EscalationPlan, PlannedStep
from oncallbot.domain.rotation import Shift
from oncallbot.services import paging
from oncallbot.services.paging import plan_to_json
from oncallbot.services.reports import week_report
from oncallbot.services.rotation import RotationReadModel, who_is_on_call
from tests.harness.config import EXAMPLE_CONFIG
from tests.harness.e2e import API_TOKEN, E2E_PROCEDURE

PROCEDURE = E2E_PROCEDURE
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def p50_p99(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.2f} ms, p99 {percentile(values, 99):.2f} ms"


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


# --- item 8: the read path -------------------------------------------------------------------------


def _client_latencies(port: int, path: str, count: int, headers: dict | None = None) -> list[float]:
    """One keep-alive connection, requests one after the other (http.client: the lightest client at hand,
    so the figures are mostly the server's)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    timings = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            response.read()
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return timings


def http_latencies(port: int, path: str, clients: int, per_client: int) -> list[float]:
    """`clients` client processes at once (processes, not threads: one Python process's threads would wait
    for each other's lock and add that wait to the figures), after a warm-up."""
    _client_latencies(port, path, 200)  # the first answer loads the rotation, connections open
    if clients == 1:
        return _client_latencies(port, path, per_client)
    with ProcessPoolExecutor(max_workers=clients, mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(_client_latencies, [port] * clients, [path] * clients, [per_client] * clients))
    return [t for result in results for t in result]


def bench_oncall_http(stack, database_url: str, label: str, quick: bool) -> list[tuple]:
    store = Store(database_url)
    store.upgrade()
    store.dispose()
    server = stack.serve(database_url).start()
    per_client = 500 if quick else 3000
    try:
        empty = http_latencies(server.port, "/no-such-path", 1, per_client)
        one = http_latencies(server.port, "/api/v1/oncall", 1, per_client)
        eight = http_latencies(server.port, "/api/v1/oncall", 8, per_client // 4)
        memory = rss_mb(server.process.pid)
    finally:
        server.stop()
    return [
        (f"HTTP stack alone (GET of an unknown path, 404), {label}", f"1 client, {len(empty)} requests",
         p50_p99(empty), "-"),
        (f"GET /api/v1/oncall, {label}", f"1 client, {len(one)} requests", p50_p99(one),
         "p50 <= 0.8 ms, p99 <= 3 ms"),
        (f"GET /api/v1/oncall, {label}", f"8 clients, {len(eight)} requests", p50_p99(eight), "p99 <= 10 ms"),
        (f"resident memory of serve after the read-path run, {label}", "-", f"{memory:.0f} MB", "-"),
    ]


def seed_rotation(store: Store, years: int = 10) -> list[Shift]:
    window = PROCEDURE.window
    first = window.week_start_on_or_before(datetime(2020, 1, 1).date())
    people = [p.id for p in PROCEDURE.team.people]
    shifts = [Shift(first + timedelta(weeks=i), people[i % len(people)], *window.bounds(first + timedelta(weeks=i)),
                    f"e{i}") for i in range(52 * years)]
    with store.transaction() as tx:
        tx.replace_shifts(shifts)
    return shifts


def timed(function: Callable[[], object], count: int) -> list[float]:
    function()
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def bench_version_cost(database_url: str, label: str, count: int) -> list[tuple]:
    """In process: the read that tells whether the copy in memory is current, against reading the rotation."""
    store = Store(database_url)
    store.upgrade()
    seed_rotation(store)
    at = datetime.now(UTC)
    model = RotationReadModel(store, PROCEDURE)
    version = timed(store.rotation_version, count)
    rotation = timed(lambda: who_is_on_call(store, PROCEDURE, at), count)
    cached = timed(lambda: model.who(at), count)
    store.dispose()
    return [
        (f"in process, {label}: the rotation's version (one row, autocommit)", f"{count} reads", p50_p99(version),
         "cheaper than reading the rotation"),
        (f"in process, {label}: who from the database (a read transaction, 3 queries)", f"{count} reads",
         p50_p99(rotation), "-"),
        (f"in process, {label}: who from the read model (version check + memory)", f"{count} reads",
         p50_p99(cached), "-"),
    ]


def bench_who_command(workdir: Path, runs: int) -> list[tuple]:
    """`oncallbot who` as a user types it, on the example config (calendar file, embedded SQLite), after a
    first run has migrated the database and synced the calendar (a sync is due only every 10 minutes).

    Twice: as this checkout runs it (an editable install; with PYTHONDONTWRITEBYTECODE=1, as here, Python
    compiles every oncallbot module from source on each start), and as installed, with the package's
    bytecode compiled the way `pip install` (and so the Docker image) leaves it: a copy of the package,
    compiled, put first on PYTHONPATH. The runs of the two alternate, so the machine's load falls on both."""
    home = workdir / "who-command"
    home.mkdir(exist_ok=True)
    for name in ("oncallbot.example.yaml", "rotation.example.ics", "procedure.md"):
        shutil.copy(EXAMPLE_CONFIG.parent / name, home / name)
    package = Path(__file__).resolve().parents[1] / "oncallbot"
    compiled = workdir / "who-compiled"
    shutil.rmtree(compiled, ignore_errors=True)
    shutil.copytree(package, compiled / "oncallbot", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(compiled / "oncallbot")], check=True, timeout=300)
    variants = {"source": dict(os.environ), "compiled": {**os.environ, "PYTHONPATH": str(compiled)}}
    where = subprocess.run([sys.executable, "-c", "import oncallbot; print(oncallbot.__file__)"], cwd=home,
                           env=variants["compiled"], check=True, capture_output=True, text=True, timeout=60).stdout
    assert where.startswith(str(compiled)), where  # the compiled copy is the one that runs
    command = [str(Path(sys.executable).parent / "oncallbot"), "--config", "oncallbot.example.yaml", "who"]
    subprocess.run(command, cwd=home, check=True, capture_output=True, timeout=120)
    times: dict[str, list[float]] = {name: [] for name in variants}
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        for name, env in variants.items():
            export = home / f"hyperfine-{name}.json"
            subprocess.run([hyperfine, "--warmup", "2", "--runs", str(runs), "--export-json", str(export), "-N",
                            " ".join(command)], cwd=home, env=env, check=True, capture_output=True, timeout=600)
            times[name] = [t * 1000 for t in json.loads(export.read_text())["results"][0]["times"]]
        tool = "hyperfine"
    else:
        for _ in range(runs):
            for name, env in variants.items():
                started = time.perf_counter()
                subprocess.run(command, cwd=home, env=env, check=True, capture_output=True, timeout=120)
                times[name].append((time.perf_counter() - started) * 1000)
        tool = "subprocess"
    bare = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
        bare.append((time.perf_counter() - started) * 1000)

    def figure(values: list[float]) -> str:
        return f"median {statistics.median(values):.0f} ms, min {min(values):.0f} ms"

    return [("`oncallbot who` as a command (example config, SQLite, rotation fresh)", f"{runs} runs ({tool})",
             figure(times["source"]), "<= 250 ms"),
            ("... the same, its bytecode compiled (as `pip install` leaves it)", f"{runs} runs ({tool})",
             figure(times["compiled"]), "<= 250 ms"),
            ("... a bare `python -c pass` on the same machine, for scale", f"{runs} runs", figure(bare), "-")]


# --- item 7: growth -----------------------------------------------------------------------------------

MEASURED_WEEK = PROCEDURE.window.week_start_on_or_before(datetime(2026, 11, 2).date())
PAGES_IN_WEEK = 50


def seed_pages(store: Store, history: int) -> list[int]:
    """PAGES_IN_WEEK pages in MEASURED_WEEK, after `history` older pages spread over the three years before it;
    each page with its timeline (opened, On It!, done) and one Slack DM in the outbox. Returns the ids of the
    measured week's pages."""
    start_at, end_at = PROCEDURE.window.bounds(MEASURED_WEEK)
    def plan(due_at: datetime) -> dict:
        return plan_to_json(EscalationPlan(due_at, (PlannedStep("oncall", ("aisha",), ("slack",), timedelta(0)),),
                                           timedelta(minutes=15), 0))

    rng = random.Random(14)

    def page_rows(first_id: int, count: int, earliest: datetime, latest: datetime):
        span = (latest - earliest).total_seconds()
        for n in range(count):
            page_id = first_id + n
            created = earliest + timedelta(seconds=rng.uniform(0, span))
            on_it = created + timedelta(minutes=rng.uniform(1, 30))
            yield page_id, created, on_it, {
                "id": page_id, "summary": f"Ticket {page_id}", "source": "api", "external_id": f"x-{page_id}",
                "state": "done", "responsible": "aisha", "created_at": created,
                "deadline_at": created + timedelta(minutes=15), "on_it_by": "aisha", "on_it_at": on_it,
                "done_by": "aisha", "done_at": on_it + timedelta(hours=1),
                "plan": plan(created + timedelta(minutes=15)), "fired": 1, "next_due_at": None,
                "slack_channel": "C0TICKETS", "slack_thread_ts": f"{page_id}.000100", "done_reminders_sent": 0}

    def insert_batch(rows):
        with store.transaction() as tx:
            session = tx.session
            session.execute(insert(PageRow), [r[3] for r in rows])
            session.execute(insert(AuditEntryRow), [
                {"subject": "page", "subject_id": str(page_id), "at": at, "kind": kind, "actor": actor,
                 "channel": channel, "detail": None}
                for page_id, created, on_it, _ in rows
                for at, kind, actor, channel in ((created, "opened", None, "api"), (on_it, "on_it", "aisha", "slack"),
                                                 (on_it + timedelta(hours=1), "done", "aisha", "slack"))])
            session.execute(insert(NotificationRow), [
                {"key": f"bench:{page_id}:dm", "created_at": created, "state": "sent", "kind": "page",
                 "channel": "slack", "text": f"Ticket {page_id}", "page_id": page_id, "person_id": "aisha",
                 "attempts": 1, "sent_at": created}
                for page_id, created, _, _ in rows])

    batch: list = []
    for row in page_rows(1, history, start_at - timedelta(weeks=156), start_at - timedelta(hours=1)):
        batch.append(row)
        if len(batch) == 5000:
            insert_batch(batch)
            batch = []
    if batch:
        insert_batch(batch)
    measured = list(page_rows(history + 1, PAGES_IN_WEEK, start_at, end_at - timedelta(hours=2)))
    insert_batch(measured)
    if store.dialect == "postgresql":
        with store.engine.begin() as connection:  # explicit ids were inserted: move the sequence past them
            connection.execute(text("SELECT setval('pages_id_seq', (SELECT max(id) FROM pages))"))
            connection.execute(text("ANALYZE"))
    return [r[0] for r in measured]


def growth_timings(stores: dict[int, Store], page_ids: dict[int, list[int]], count: int) -> dict[str, dict]:
    """Each call on the small and on the large database in turn, so the load of the machine (shared with
    other work) weighs on both alike."""
    at = PROCEDURE.window.bounds(MEASURED_WEEK)[0] + timedelta(days=2)
    rng = random.Random(7)
    calls: dict[str, tuple[Callable[[Store, int], object], int]] = {
        "who": (lambda store, size: who_is_on_call(store, PROCEDURE, at), count),
        "page lookup (the page, its timeline, its outbox)":
            (lambda store, size: paging.get_page(store, rng.choice(page_ids[size])), count),
        "week report": (lambda store, size: week_report(store, PROCEDURE, MEASURED_WEEK), max(20, count // 10)),
    }
    figures: dict[str, dict] = {}
    for what, (call, times) in calls.items():
        figures[what] = {size: [] for size in stores}
        for _ in range(times + 1):
            for size, store in stores.items():
                started = time.perf_counter()
                call(store, size)
                figures[what][size].append((time.perf_counter() - started) * 1000)
        for timings in figures[what].values():
            del timings[0]  # the first call warms the connection and the caches
    return figures


EXPLAINED = {
    "report: a week of pages": "SELECT * FROM pages WHERE created_at >= :a AND created_at < :b ORDER BY id",
    "page lookup: its timeline": "SELECT * FROM audit_entries WHERE subject = 'page' AND subject_id IN ('5', '9')"
                                 " ORDER BY at, id",
    "page lookup: its outbox": "SELECT * FROM notifications WHERE page_id = 5 ORDER BY id",
    "a Slack thread reply finds its page": "SELECT * FROM pages WHERE slack_channel = 'C0TICKETS'"
                                           " AND slack_thread_ts = '5.000100'",
    "the open pages": "SELECT * FROM pages WHERE state IN ('open', 'on_it') ORDER BY id DESC LIMIT 50",
    "who: the weeks around now": "SELECT * FROM shifts WHERE start_at <= :a ORDER BY start_at DESC LIMIT 2",
}


def explain(database_url: str, label: str, history: int) -> list[tuple]:
    engine = create_engine(database_url)
    start_at, end_at = PROCEDURE.window.bounds(MEASURED_WEEK)
    sqlite = engine.dialect.name == "sqlite"
    rows = []
    with engine.connect() as connection:
        for what, sql in EXPLAINED.items():
            result = connection.execute(text(f"{'EXPLAIN QUERY PLAN' if sqlite else 'EXPLAIN'} {sql}"),
                                        {"a": start_at, "b": end_at})
            plan = [row[-1] for row in result] if sqlite else list(result.scalars())
            scans = [line.strip().split("  (")[0].lstrip("-> ").strip() for line in plan
                     if "Scan" in line or "SCAN" in line or "SEARCH" in line]
            rows.append((f"{'EXPLAIN QUERY PLAN' if sqlite else 'EXPLAIN'}, {label}, {history:,} pages: {what}", "-",
                         "; ".join(scans) or plan[0], "an index, no full scan"))
        connection.rollback()  # end the reads' transaction
        if not sqlite:  # the same two plans before migration 0018 (DDL is transactional here: rolled back)
            with connection.begin() as transaction:
                connection.execute(text("DROP INDEX ix_pages_created_at; DROP INDEX ix_pages_slack_thread"))
                for what in ("report: a week of pages", "a Slack thread reply finds its page"):
                    plan = list(connection.execute(text(f"EXPLAIN {EXPLAINED[what]}"),
                                                   {"a": start_at, "b": end_at}).scalars())
                    scans = [line.strip().split("  (")[0].lstrip("-> ").strip() for line in plan if "Scan" in line]
                    rows.append((f"EXPLAIN, {label}, {history:,} pages, without migration 0018's indexes: {what}",
                                 "-", "; ".join(scans), "-"))
                transaction.rollback()
    engine.dispose()
    return rows


def bench_growth(stack, database_factory, workdir: Path, history: int, count: int, quick: bool) -> list[tuple]:
    rows = []
    for label, make_url in database_factory:
        stores: dict[int, Store] = {}
        urls, drops, page_ids = {}, [], {}
        try:
            for size in (0, history):
                urls[size], drop = make_url(f"growth-{size}")
                drops.append(drop)
                stores[size] = Store(urls[size])
                stores[size].upgrade()
                seed_rotation(stores[size])
                page_ids[size] = seed_pages(stores[size], size)
            figures = growth_timings(stores, page_ids, count)
            rows += explain(urls[history], label, history)
            if label == "PostgreSQL":
                rows.append(simulated_week(stack, urls[history], quick))
        finally:
            for store in stores.values():
                store.dispose()
            for drop in drops:
                drop()
        for what, by_size in figures.items():
            small, large = percentile(by_size[0], 50), percentile(by_size[history], 50)
            rows.append((f"{what}, {label}: {PAGES_IN_WEEK} pages vs {history:,} more pages of history",
                         f"{len(by_size[history])} calls each, in turn",
                         f"p50 {small:.2f} ms -> {large:.2f} ms ({large / small:.2f}x)", "<= 2x"))
    return rows


def simulated_week(stack, database_url: str, quick: bool) -> tuple:
    """`serve` on the 100,000-page database, through a week of a busy team's traffic, squeezed: pages opened
    through the API, page lookups and listings, and the on-call reads of dashboards and bots."""
    server = stack.serve(database_url).start()
    try:
        opened = 100 if quick else 700  # about 100 a day
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        ids = []
        for n in range(opened):
            body = json.dumps({"summary": f"Week ticket {n}", "source": "api", "external_id": f"week-{n}"})
            connection.request("POST", "/api/v1/pages", body=body,
                               headers={**AUTH, "Content-Type": "application/json"})
            response = connection.getresponse()
            ids.append(json.loads(response.read())["id"])
        for n in range(opened * 10):
            connection.request("GET", f"/api/v1/pages/{random.choice(ids)}", headers=AUTH)
            connection.getresponse().read()
            if n % 10 == 0:
                connection.request("GET", "/api/v1/pages?state=open", headers=AUTH)
                connection.getresponse().read()
        for _ in range(opened * 30):
            connection.request("GET", "/api/v1/oncall")
            connection.getresponse().read()
        connection.close()
        memory = rss_mb(server.process.pid)
    finally:
        server.stop()
    stack.slack.clear()
    return ("resident memory of serve after a simulated week on 100,000 pages, PostgreSQL",
            f"{opened} pages opened, {opened * 11} lookups, {opened * 30} on-call reads", f"{memory:.0f} MB",
            "< 200 MB")


def cpu_note() -> str:
    load = os.getloadavg()
    return f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) on {os.cpu_count()} cores"
