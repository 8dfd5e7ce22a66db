"""Plain-text renderings that several entry points share (CLI, Slack DMs)."""

from datetime import timedelta

from ..domain.procedure import Procedure
from ..domain.reports import WeekReport


def minutes(value: timedelta | None) -> str:
    return "-" if value is None else f"{value.total_seconds() / 60:.1f}m"


def report_text(report: WeekReport, procedure: Procedure) -> str:
    tz = procedure.window.tz
    window = int(procedure.ack_window.total_seconds() // 60)
    lines = [f"On-call report, week of {report.week_start:%a %Y-%m-%d} "
             f"({report.start_at.astimezone(tz):%a %H:%M} to {report.end_at.astimezone(tz):%a %Y-%m-%d %H:%M %Z})"]
    if not report.people:
        lines.append("No pages this week.")
        return "\n".join(lines)
    lines.append(f"{'responsible':<18}{'pages':>6}{'median':>9}{'p90':>9}{f'<={window}m':>8}{'missed':>8}")
    for row in report.people:
        person = procedure.team.person(row.responsible)
        lines.append(f"{person.name if person else row.responsible:<18}{row.pages:>6}"
                     f"{minutes(row.median_to_on_it):>9}{minutes(row.p90_to_on_it):>9}"
                     f"{row.share_within_window:>8.0%}{row.missed:>8}")
    return "\n".join(lines)


def age_label(value: timedelta) -> str:
    """How long a page has been open, as people say it: "<1m", "12m", "1h 05m", "2d 03h"."""
    minutes = max(0, int(value.total_seconds())) // 60
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"
