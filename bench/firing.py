"""Firing due escalation steps in process: steps fired per second of CPU and queries per step, on SQLite and
PostgreSQL, with no server, no HTTP and no sending (what the dispatcher's own transaction costs).

    .venv/bin/python -m bench.firing [--pages 2000] [--batch 200] [--backend sqlite|postgresql|both]

Two chains: the bench's (`--only escalation`: Slack DM to the on-call person) and the default night chain's
first step (SMS and call to the on-call person, so the throttle and the digest are at work: one person is
responsible for every page). Nothing is asserted; the figures go into bench/README.md."""

import argparse
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.__main__ import PgDatabase  # noqa: E402
from oncallbot.adapters.db import Store  # noqa: E402
from oncallbot.domain.paging import EscalationPlan, PlannedStep  # noqa: E402
from oncallbot.services.paging import fire_due_escalations, plan_to_json  # noqa: E402
from tests.harness.pager import Pager  # noqa: E402

CHAINS = {
    "slack DM (the bench's chain)": (PlannedStep("oncall", ("aisha",), ("slack",), timedelta(0)),),
    "SMS + call (throttled, digested)": (PlannedStep("oncall", ("aisha",), ("sms", "voice"), timedelta(0)),),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(url: str, pages: int, batch: int, steps: tuple[PlannedStep, ...]) -> dict:
    store = Store(url)
    store.upgrade()
    pager = Pager(store)  # the example team, its rotation synced; Aisha is on call
    now = pager.clock.now()
    with store.transaction() as tx:
        for index in range(pages):
            due_at = now - timedelta(seconds=1)
            plan = EscalationPlan(due_at, steps, timedelta(minutes=15), 0)
            tx.add_page(summary=f"Storm {index}", source="bench", state="open", responsible="aisha",
                        created_at=due_at - timedelta(minutes=15), deadline_at=due_at, plan=plan_to_json(plan),
                        fired=0, next_due_at=due_at)
    queries = [0]

    def count(*_args):
        queries[0] += 1

    event.listen(store.engine, "before_cursor_execute", count)
    cpu, wall = cpu_seconds(), time.perf_counter()
    fired = fire_due_escalations(store, pager.procedure, now, batch=batch)
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    event.remove(store.engine, "before_cursor_execute", count)
    store.dispose()
    return {"fired": fired, "cpu_s": cpu, "wall_s": wall, "queries": queries[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{'backend':<11} {'chain':<34} {'fired':>6} {'queries/step':>13} {'steps/CPU s':>12} {'steps/s':>9}")
    for backend in backends:
        for name, steps in CHAINS.items():
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as directory:
                    result = run(f"sqlite:///{directory}/firing.sqlite3", args.pages, args.batch, steps)
            else:
                database = PgDatabase()
                try:
                    result = run(database.url, args.pages, args.batch, steps)
                finally:
                    database.drop()
            fired = max(result["fired"], 1)
            print(f"{backend:<11} {name:<34} {result['fired']:>6} {result['queries'] / fired:>13.2f} "
                  f"{result['fired'] / result['cpu_s']:>12.0f} {result['fired'] / result['wall_s']:>9.0f}")


if __name__ == "__main__":
    main()
