"""The `oncallbot` command. Exit codes: 0 ok, 1 a finding (e.g. rotation problems), 2 bad input or config."""

import argparse
import json
import logging
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from .. import bootstrap
from ..adapters.clock import SystemClock
from ..config_file import config_path, read_config_file
from ..domain.paging import LIST_LIMIT, LIST_LIMIT_MAX
from ..domain.procedure import Procedure
from ..errors import BadInput, ConfigError, IntegrationError
from ..logs import configure_logging
from ..services.rotation import (  # `who` and co.
    OnCallReport,
    check_rotation,
    last_synced_at,
    sync_and_notify,
    who_is_on_call,
)
from .formatters import (
    contact_json,
    contact_text,
    detail_weeks,
    job_json,
    job_text,
    local_iso,
    local_label,
    oncall_json,
    oncall_text,
    page_json,
    page_list_json,
    page_list_text,
    problem_line,
    swap_request_json,
    swap_request_line,
    swap_transition_json,
    swap_transition_line,
)
from .timeparse import parse_instant

if TYPE_CHECKING:
    from ..adapters.who_setup import WhoSetup
    from ..config import Settings

log = logging.getLogger("oncallbot.cli")


def load_settings(explicit: str | None = None) -> "Settings":
    """The validated settings (oncallbot.config, loaded here: `who` with a copy of its setup never needs it)."""
    from ..config import load_settings as load

    return load(explicit)


def _container(args) -> bootstrap.Container:
    container = bootstrap.build(load_settings(args.config), clock=args.clock)
    container.database.ensure_schema()
    return container


def _sync_if_stale(container: bootstrap.Container) -> None:
    """`who` answers from the stored rotation; refresh it first when it is older than the sync interval.
    Like every sync it queues its news (changed weeks, problems): a change applied silently would never be told."""
    now = container.clock.now()
    synced_at = last_synced_at(container.store, container.rotation_source.key)
    if synced_at is None or now - synced_at >= container.settings.rotation.sync_interval:
        try:
            sync_and_notify(container.store, container.rotation_source, container.procedure, now)
        except IntegrationError as exc:
            print(f"warning: could not sync the rotation, answering from the stored copy: {exc}", file=sys.stderr)


def cmd_who(args) -> int:
    """From a copy of its setup when this very file passed validation before (adapters.who_setup), else the
    file is validated in full first; then over the database driver alone when it can, else through the store."""
    from ..adapters import who_setup as kept

    path = config_path(args.config)
    content = read_config_file(path)
    setup = kept.load(path, content)
    if setup is not None and (answered := _who_from_reader(args, setup)) is not None:
        return answered
    from ..config import settings_from_file

    settings = settings_from_file(path, content)
    if setup is None:
        setup = bootstrap.who_setup(settings)
        kept.save(path, content, setup)
        if (answered := _who_from_reader(args, setup)) is not None:
            return answered
    container = bootstrap.build(settings, clock=args.clock)
    container.database.ensure_schema()
    procedure = container.procedure
    at = parse_instant(args.at, procedure.window.tz) if args.at else container.clock.now()
    _sync_if_stale(container)
    _print_who(args, who_is_on_call(container.store, procedure, at), procedure)
    return 0


def _who_from_reader(args, setup: "WhoSetup") -> int | None:
    """`who` in the common case, a database at the current schema and no sync due: read over the database
    driver alone, without the store's SQLAlchemy and Alembic (most of the command's start-up). None leaves
    it to the store: a sync is due, the schema is not current (the store migrates SQLite, or says to run
    `oncallbot db upgrade`), the database is one the reader does not open, a read failed."""
    from ..adapters.db.rotation_reader import RotationReadFailed

    env = bootstrap.Environment.from_env()
    reader = bootstrap.build_rotation_reader(setup.sqlite_path, env)
    if reader is None:
        return None
    try:
        if not reader.schema_is_current():
            return None
        procedure = setup.procedure
        now = (args.clock or SystemClock()).now()
        synced_at = last_synced_at(reader, bootstrap.source_key(setup.rotation_source, setup.rotation_ref, env))
        if synced_at is None or now - synced_at >= setup.sync_interval:
            return None
        at = parse_instant(args.at, procedure.window.tz) if args.at else now
        report = who_is_on_call(reader, procedure, at)
    except RotationReadFailed:
        return None
    finally:
        reader.close()
    _print_who(args, report, procedure)
    return 0


def _print_who(args, report: OnCallReport, procedure: Procedure) -> None:
    if args.json:
        print(json.dumps(oncall_json(report, procedure), indent=2))
    else:
        print(oncall_text(report, procedure))


def cmd_sync(args) -> int:
    container = _container(args)
    result = sync_and_notify(container.store, container.rotation_source, container.procedure, container.clock.now())
    if result.skipped:
        print(f"skipped: another sync of {container.rotation_source.key} is running (another `serve` or `sync`); "
              "it stores the calendar's weeks")
        return 0
    container.deliver_now()
    team = container.procedure.team
    print(f"synced {len(result.shifts)} on-call weeks from {container.rotation_source.key}")

    def name(person_id: str | None) -> str:
        found = team.person(person_id) if person_id else None
        return found.name if found else (person_id or "nobody")  # a stored week may name someone who left

    for change in result.changes:
        before, after = name(change.before), name(change.after)
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


# The other commands import their services in their own body, so `who` starts without them.
def cmd_rotation_history(args) -> int:
    from ..domain.audit import AuditSubject
    from ..services import swaps
    from ..services.overrides import rotation_history

    container = _container(args)
    procedure = container.procedure
    week_start = None
    if args.week:
        try:
            week_start = procedure.window.week_start_on_or_before(datetime.fromisoformat(args.week).date())
        except ValueError:
            raise BadInput(f'--week "{args.week}" is not a date (YYYY-MM-DD)') from None
    since = None
    if args.since:
        try:
            since_day = datetime.fromisoformat(args.since).date()
        except ValueError:
            raise BadInput(f'--since "{args.since}" is not a date (YYYY-MM-DD)') from None
        since = datetime.combine(since_day, datetime.min.time(), procedure.window.tz)
    _sync_if_stale(container)
    changes = rotation_history(container.store, week_start)
    if since is not None:
        changes = [c for c in rotation_history(container.store, week_start, limit=HISTORY_ALL) if c.at >= since]
    transitions = swaps.history(container.store, since, None if since or week_start else swaps.HISTORY_LIMIT,
                                subject=AuditSubject.SWAP)
    if week_start is not None:
        transitions = [t for t in transitions if week_start.isoformat() in detail_weeks(t)]
    team, tz = procedure.team, procedure.window.tz

    def person(person_id):
        found = team.person(person_id) if person_id else None
        return {"id": person_id, "name": found.name if found else person_id} if person_id else None

    if args.json:
        print(json.dumps({
            "week_start": week_start.isoformat() if week_start else None,
            "since": since.date().isoformat() if since else None,
            "swaps": [swap_transition_json(t, procedure) for t in transitions],
            "changes": [{"week_start": c.week_start.isoformat(), "at": local_iso(c.at, tz), "kind": c.kind.value,
                         "before": person(c.before), "after": person(c.after), "by": person(c.actor),
                         "reason": c.reason,
                         "override": {"id": c.override_id, "kind": c.override_kind} if c.override_id else None}
                        for c in changes]}, indent=2))
        return 0
    for t in transitions:
        print(f"  {local_label(t.at, tz)}  {swap_transition_line(t, procedure)}")
    if not changes:
        print(f"no rotation changes recorded{f' for the week of {week_start:%a %Y-%m-%d}' if week_start else ''}")
        return 0
    print(f"rotation changes for the week of {week_start:%a %Y-%m-%d}:" if week_start
          else f"the last {len(changes)} rotation change(s):")
    for c in changes:
        before, after = (person(p)["name"] if p else "nobody" for p in (c.before, c.after))
        how = (f"{c.override_kind}, by {person(c.actor)['name'] if c.actor else 'nobody'}"
               if c.override_id else "changed in the calendar")
        why = f': "{c.reason}"' if c.reason else ""
        print(f"  {local_label(c.at, tz)}  week of {c.week_start:%a %Y-%m-%d}: {before} -> {after} ({how}){why}")
    return 0


HISTORY_ALL = 1_000_000


def cmd_jobs(args) -> int:
    from ..services.catchup import jobs_status

    """Every periodic job of `serve`: its schedule, last run (and replica), next run, a missed run pending."""
    from .scheduler import periodic_jobs

    container = _container(args)
    tz = container.procedure.window.tz
    now = container.clock.now()
    statuses = jobs_status(container.store, container.procedure, periodic_jobs(container), now,
                           sync_source=container.rotation_source.key)
    if args.json:
        print(json.dumps({"at": local_iso(now, tz), "timezone": container.procedure.window.timezone,
                          "jobs": [job_json(s, tz) for s in statuses]}, indent=2))
        return 0
    print(f"jobs at {local_label(now, tz)}")
    for status in statuses:
        print("\n".join(job_text(status, tz)))
    return 0


def cmd_contacts(args) -> int:
    from ..services.contacts import contacts

    """Each person's channels, opt-outs and masked contact details (for the approvers)."""
    container = _container(args)
    views = contacts(container.store, container.procedure.team)
    if args.json:
        print(json.dumps({"team": container.procedure.team.name,
                          "people": [contact_json(v) for v in views]}, indent=2, ensure_ascii=False))
        return 0
    unverified = sum(1 for v in views if v.verified is False)
    print(f"contacts of {container.procedure.team.name} ({len(views)} people; {unverified} unverified "
          "phone numbers)")
    for view in views:
        print("\n".join(contact_text(view)))
    return 0


def cmd_swaps(args) -> int:
    from ..services import swaps

    """Pending swap requests (every request with --all), oldest first."""
    container = _container(args)
    procedure = container.procedure
    requests = swaps.list_requests(container.store, include_all=args.all)
    if args.json:
        print(json.dumps({"requests": [swap_request_json(r, procedure) for r in requests]}, indent=2))
        return 0
    if not requests:
        print("no swap requests" if args.all else "no pending swap requests")
        return 0
    for request in requests:
        print(swap_request_line(request, procedure))
    return 0


def cmd_page(args) -> int:
    from ..services import paging

    container = _container(args)
    _sync_if_stale(container)
    new = paging.NewPage(summary=args.summary, source="cli", external_id=args.external_id, details=args.details)
    page, created = paging.open_page(container.store, container.procedure, new, container.clock.now())
    if created:
        container.deliver_now(page.id)
    page = paging.get_page(container.store, page.id)
    if args.json:
        print(json.dumps(page_json(page, container.procedure), indent=2))
        return 0
    team, tz = container.procedure.team, container.procedure.window.tz
    person = team.person(page.responsible)
    who = person.name if person else {"office": "the office (business hours)",
                                      "nobody": "nobody on call: the approvers are paged now"}[page.responsible]
    print(f"page #{page.id} {'opened' if created else 'already exists'}: {page.summary}")
    print(f"  responsible: {who}")
    print(f"  On It! due by {local_label(page.deadline_at, tz)}; escalation runs in `oncallbot serve`")
    return 0


def cmd_pages(args) -> int:
    from ..services import paging

    container = _container(args)
    state = "open" if args.open else None
    listing = paging.list_pages(container.store, container.clock.now(), state, args.limit, args.before)
    if args.json:
        print(json.dumps(page_list_json(listing, container.procedure, state), indent=2))
        return 0
    print(page_list_text(listing, container.procedure, state))
    if listing.next_before is not None:
        print(f"  more, older pages: oncallbot pages{' --open' if args.open else ''} --before {listing.next_before}")
    return 0


def cmd_report(args) -> int:
    from ..services.presenting import report_text
    from ..services.reports import report_week_start, week_report

    container = _container(args)
    procedure = container.procedure
    day = None
    if args.week:
        try:
            day = datetime.fromisoformat(args.week).date()
        except ValueError:
            raise BadInput(f'--week "{args.week}" is not a date (YYYY-MM-DD)') from None
    report = week_report(container.store, procedure, report_week_start(procedure, container.clock.now(), day))
    if not args.json:
        print(report_text(report, procedure))
        return 0
    tz = procedure.window.tz

    def seconds(value):
        return None if value is None else round(value.total_seconds(), 1)

    print(json.dumps({
        "week_start": report.week_start.isoformat(), "start": local_iso(report.start_at, tz),
        "end": local_iso(report.end_at, tz), "window_seconds": procedure.ack_window.total_seconds(),
        "people": [{"responsible": p.responsible, "pages": p.pages,
                    "median_to_on_it_seconds": seconds(p.median_to_on_it),
                    "p90_to_on_it_seconds": seconds(p.p90_to_on_it),
                    "share_within_window": round(p.share_within_window, 4), "missed": p.missed}
                   for p in report.people],
        "pages": [{"id": r.page_id, "responsible": r.responsible, "created_at": local_iso(r.created_at, tz),
                   "to_on_it_seconds": seconds(r.to_on_it), "to_done_seconds": seconds(r.to_done),
                   "on_it_by": r.on_it_by, "within_window": r.within_window, "steps_ran": r.steps_ran}
                  for r in report.pages],
    }, indent=2))
    return 0


def cmd_db_upgrade(args) -> int:
    store = bootstrap.build_store(load_settings(args.config))
    try:
        store.upgrade()
        print(f"database {store.safe_url} is at the current schema")
    finally:
        store.dispose()
    return 0


def cmd_feeds_revoke(args) -> int:
    from ..services.web_access import revoke_feeds

    container = _container(args)
    person = container.procedure.team.person(args.person)
    revoked = revoke_feeds(container.store, container.procedure, args.person, container.clock.now())
    if person is None and not revoked:
        raise BadInput(f'"{args.person}" is not a person of the team (use their id from people:)')
    who = person.name if person else args.person
    print(f"revoked {revoked} calendar feed URL(s) of {who}" if revoked else f"{who} has no calendar feed to revoke")
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
    history = rotation_commands.add_parser(
        "history", parents=[common],
        help="who had a week before and after each change: calendar edits found by a sync, and changes made "
             "in the bot (swaps, handovers, reassignments); the recent ones, or every one of --week")
    history.add_argument("--week", metavar="DATE", help="any date in the week (YYYY-MM-DD)")
    history.add_argument("--since", metavar="DATE", help="only what happened from this day on (YYYY-MM-DD, team zone)")
    history.add_argument("--json", action="store_true", help="print the changes as JSON")
    history.set_defaults(func=cmd_rotation_history)

    swaps_command = commands.add_parser("swaps", parents=[common],
                                        help="swap requests waiting for a colleague or an approver (--all: every one)")
    swaps_command.add_argument("--all", action="store_true", help="every request, whatever became of it")
    swaps_command.add_argument("--json", action="store_true", help="print the requests as JSON")
    swaps_command.set_defaults(func=cmd_swaps)

    jobs = commands.add_parser("jobs", parents=[common],
                               help="the periodic jobs: schedule, last run and replica, next run, missed runs pending")
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON")
    jobs.set_defaults(func=cmd_jobs)

    contacts_command = commands.add_parser(
        "contacts", parents=[common],
        help="each person: channels, opt-outs (SMS STOP), verification, phone and email masked")
    contacts_command.add_argument("--json", action="store_true", help="print the contacts as JSON")
    contacts_command.set_defaults(func=cmd_contacts)

    page = commands.add_parser("page", parents=[common], help="open a page (a voicemail or ticket) now")
    page.add_argument("summary", help="what the page is about, e.g. \"Voicemail from ACME: site down\"")
    page.add_argument("--details", help="more text for the page")
    page.add_argument("--external-id", help="your id for it; a second page with the same id is not opened")
    page.add_argument("--json", action="store_true", help="print the page as JSON")
    page.set_defaults(func=cmd_page)

    pages = commands.add_parser("pages", parents=[common],
                                help="list pages, newest first, with their state, holder (who said On It!) and age")
    pages.add_argument("--open", action="store_true",
                       help="only the pages not closed yet (waiting for On It!, or On It!)")
    pages.add_argument("--limit", type=int, default=LIST_LIMIT,
                       help=f"at most this many (1-{LIST_LIMIT_MAX}, default {LIST_LIMIT})")
    pages.add_argument("--before", type=int, metavar="ID", help="only pages older than page ID (the next batch)")
    pages.add_argument("--json", action="store_true", help="print the list as JSON")
    pages.set_defaults(func=cmd_pages)

    report = commands.add_parser("report", parents=[common],
                                 help="response times per person for one on-call week (default: the last one)")
    report.add_argument("--week", metavar="DATE", help="any date in the week (YYYY-MM-DD)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.set_defaults(func=cmd_report)

    feeds = commands.add_parser("feeds", parents=[common], help="the private calendar feeds (/oncall calendar)")
    feeds_commands = feeds.add_subparsers(dest="feeds_command", metavar="COMMAND", required=True)
    revoke = feeds_commands.add_parser("revoke", parents=[common],
                                       help="stop every calendar feed URL of PERSON (theirs and the team's) working")
    revoke.add_argument("person", metavar="PERSON", help="the person's id (people: in the config)")
    revoke.set_defaults(func=cmd_feeds_revoke)

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
