"""`make chaos`: the chaos run of issue 14 at scale (tests/harness/chaos.py), printed as a table.

    .venv/bin/python -m bench.chaos [--pages N] [--minutes M] [--replicas 3] [--kill-every 5]
                                    [--restart-postgres] [--no-faults] [--seed 14]
                                    [--keep-database]

Three `serve` replicas on a PostgreSQL database of its own (created and dropped here) against the loopback fakes.
`--restart-postgres` restarts the local cluster once mid-run (pg_ctlcluster): every database on it blips,
so `make chaos` turns it on and nothing else does. Exit 1 when a check fails (lost, doubled or missed)."""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.__main__ import PgDatabase  # noqa: E402
from tests.fakes.base import RandomFaults  # noqa: E402
from tests.harness.chaos import ChaosSettings, run_chaos  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between SIGKILLs (0: none)")
    parser.add_argument("--restart-postgres", action="store_true", help="restart the PostgreSQL cluster mid-run")
    parser.add_argument("--no-faults", action="store_true", help="the fakes answer every call")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep-database", action="store_true",
                        help="leave the run's database and the replicas' logs behind to look into (both are printed)")
    args = parser.parse_args(argv)
    settings = ChaosSettings(pages=args.pages, minutes=args.minutes, replicas=args.replicas,
                             kill_every=args.kill_every, restart_postgres=args.restart_postgres,
                             faults=None if args.no_faults else RandomFaults(seed=args.seed), seed=args.seed)
    database = PgDatabase()
    try:
        if args.keep_database:  # with the replicas' logs (serve-PORT.log), to look into what failed
            workdir = tempfile.mkdtemp(prefix="oncallbot-chaos-")
            result = run_chaos(settings, Path(workdir), database.url, log=lambda line: print(line, flush=True))
        else:
            with tempfile.TemporaryDirectory(prefix="oncallbot-chaos-") as workdir:
                result = run_chaos(settings, Path(workdir), database.url, log=lambda line: print(line, flush=True))
        print(result.table(), flush=True)  # before the drop: the admin connection may not outlive a restart
        for line in result.failures():
            print(f"chaos: {line}", flush=True)
    finally:
        database.admin.dispose()  # its pooled connection died with a PostgreSQL restart: connect afresh
        if args.keep_database:
            print(f"chaos: the run's database is kept: {database.url}; the replicas' logs: {workdir}", flush=True)
        else:
            database.drop()
    failed = (result.intake_lost or result.api_lost or result.steps_repeated or result.steps_missed or result.stuck
              or result.acks_lost or result.lost_sends or result.double_sends)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
