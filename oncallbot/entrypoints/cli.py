"""The `oncallbot` command. Exit codes: 0 ok, 1 a finding (e.g. rotation problems), 2 bad input or config."""

import argparse
import json
import logging
import sys
from datetime import datetime

from .. import bootstrap
from ..config import load_settings
from ..errors import BadInput, ConfigError, IntegrationError
from ..logs import configure_logging, log_event
from ..services.rotation import check_rotation, last_synced_at, sync_rotation, who_is_on_call
from .timeparse import parse_instant
from .views import local_label, oncall_json, oncall_text, problem_line

log = logging.getLogger("oncallbot.cli")


def _container(args) -> bootstrap.Container:
    container = bootstrap.build(load_settings(args.config), clock=args.clock)
    container.store.ensure_schema()
    return container


def _sync_if_stale(container: bootstrap.Container) -> None:
    """`who` answers from the stored rotation; refresh it first when it is older than the sync interval."""
    now = container.clock.now()
    synced_at = last_synced_at(container.store, container.rotation_source.key)
    if synced_at is None or now - synced_at >= container.settings.rotation.sync_interval:
        try:
            sync_rotation(container.store, container.rotation_source, container.procedure, now)
        except IntegrationError as exc:
            print(f"warning: could not sync the rotation, answering from the stored copy: {exc}", file=sys.stderr)


def cmd_who(args) -> int:
    container = _container(args)
    procedure = container.procedure
    at = parse_instant(args.at, procedure.window.tz) if args.at else container.clock.now()
    _sync_if_stale(container)
    report = who_is_on_call(container.store, procedure, at)
    if args.json:
        print(json.dumps(oncall_json(report, procedure), indent=2))
    else:
        print(oncall_text(report, procedure))
    return 0


def cmd_sync(args) -> int:
    container = _container(args)
    result = sync_rotation(container.store, container.rotation_source, container.procedure, container.clock.now())
    team, tz = container.procedure.team, container.procedure.window.tz
    print(f"synced {len(result.shifts)} on-call weeks from {container.rotation_source.key}")
    for change in result.changes:
        before = team.person(change.before).name if change.before else "nobody"
        after = team.person(change.after).name if change.after else "nobody"
        print(f"  week of {change.week_start:%a %Y-%m-%d}: {before} -> {after}")
    for problem in result.problems:
        print(f"  problem: {problem.message}")
    return 0


def cmd_rotation_check(args) -> int:
    container = _container(args)
    _sync_if_stale(container)
    now = container.clock.now()
    problems = check_rotation(container.store, container.procedure, now)
    tz = container.procedure.window.tz
    if not problems:
        print(f"rotation OK from {local_label(now, tz)} for the coming quarter")
        return 0
    print(f"{len(problems)} rotation problem(s) from {local_label(now, tz)} for the coming quarter:")
    for problem in problems:
        print(f"  {problem_line(problem)}")
    return 1


def cmd_db_upgrade(args) -> int:
    settings = load_settings(args.config)
    container = bootstrap.build(settings)
    container.store.upgrade()
    print(f"database {container.store.safe_url} is at the current schema")
    return 0


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(_container(args), host=args.host, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="configuration file (default: $ONCALLBOT_CONFIG, config/oncallbot.yaml, "
                             "config/oncallbot.example.yaml)")
    parser = argparse.ArgumentParser(prog="oncallbot", parents=[common],
                                     description="On-call rotation and paging bot for a support team.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the HTTP server and the scheduler")
    serve.add_argument("--host", help="listen address (default: server.host)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port)")
    serve.set_defaults(func=cmd_serve)

    who = commands.add_parser("who", parents=[common], help="who is on call now (or --at), before and next")
    who.add_argument("--at", metavar="ISO", help="an ISO-8601 time; without an offset, in the team's zone")
    who.add_argument("--json", action="store_true", help="print the stable JSON contract")
    who.set_defaults(func=cmd_who)

    sync = commands.add_parser("sync", parents=[common], help="sync the rotation from its calendar now")
    sync.set_defaults(func=cmd_sync)

    rotation = commands.add_parser("rotation", parents=[common], help="rotation tools")
    rotation_commands = rotation.add_subparsers(dest="rotation_command", metavar="COMMAND", required=True)
    check = rotation_commands.add_parser(
        "check", parents=[common],
        help="report gaps, overlaps, misaligned events and unknown people in the coming quarter (exit 1 if any)")
    check.set_defaults(func=cmd_rotation_check)

    db = commands.add_parser("db", parents=[common], help="database tools")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = db_commands.add_parser("upgrade", parents=[common], help="apply database migrations")
    upgrade.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: list[str] | None = None, clock=None) -> int:
    """`clock` lets tests fix "now"; the command line always uses the system clock."""
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.clock = clock
    configure_logging()
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except IntegrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
