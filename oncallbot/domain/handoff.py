"""The week's start in words: the handoff (who is on call this week, who was before, who is next, and the
pages still open from before the week) and the reminder before a person's week. Pure: plain inputs in,
the text out; the service loads the weeks and pages and queues what these compose."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from urllib.parse import urlencode

from .rotation import ONE_MINUTE, Shift
from .team import Team
from .timelabels import format_duration

DEFAULT_CHECKLIST = (
    "Your phone is on and charged, and stays with you",
    "The support email is synced to your phone",
    "You can log in to the team's systems from outside the network",
    "Security codes arrive by text on your phone (your correct cell number is entered)",
)
OPEN_PAGES_SHOWN = 20


@dataclass(frozen=True)
class WeekHolder:
    """A person's on-call week as the messages name it."""

    name: str
    dates: str  # "Mon 2026-11-23 18:01 – Mon 2026-11-30 06:59 PST"


@dataclass(frozen=True)
class OpenPage:
    """A page still open (or at On It!) when the week starts; `link` to its Slack thread, when it has one."""

    id: int
    summary: str
    state: str  # open | on_it
    holder: str | None  # who said On It!
    link: str | None


def week_dates(shift: Shift, tz: tzinfo) -> str:
    """The week's first and last minute labels in the team's zone (the end label includes its minute)."""
    start = shift.start_at.astimezone(tz)
    last = (shift.end_at - ONE_MINUTE).astimezone(tz)
    return f"{start:%a %Y-%m-%d %H:%M} – {last:%a %Y-%m-%d %H:%M %Z}"


def holder(shift: Shift | None, team: Team, tz: tzinfo) -> WeekHolder | None:
    if shift is None:
        return None
    person = team.person(shift.person_id)
    return WeekHolder(person.name if person else shift.person_id, week_dates(shift, tz))


def thread_link(channel: str | None, ts: str | None, workspace_url: str | None = None) -> str | None:
    """The permalink of the page's Slack thread (`https://<workspace>.slack.com/archives/<channel>/p<ts>`),
    which needs the workspace's address; without it, a link that opens the page's channel from anywhere
    (Slack's app_redirect), naming the thread's message."""
    if not channel or not ts:
        return None
    if workspace_url:
        return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    return "https://slack.com/app_redirect?" + urlencode({"channel": channel, "message_ts": ts})


def _who(week: WeekHolder | None, gap: str) -> str:
    return f"{week.name} ({week.dates})" if week else gap


def handoff_text(week_label: str, current: WeekHolder | None, previous: WeekHolder | None,
                 following: WeekHolder | None, open_pages: Sequence[OpenPage], more: int = 0) -> str:
    """The post in the support channel and the DM to the incoming and outgoing people. `more`: open
    pages left out of `open_pages` (the list is capped)."""
    lines = [f"On-call handoff for the week of {week_label}",
             f"• This week: {_who(current, 'nobody (a gap in the rotation: pages go to the approvers)')}",
             f"• Before: {_who(previous, 'nobody')}",
             f"• Next: {_who(following, 'nobody yet')}"]
    if not open_pages:
        lines.append("No pages are still open from before this week.")
    else:
        lines.append(f"Still open from before this week ({len(open_pages) + more}):")
        for page in open_pages:
            state = f"On It! with {page.holder}" if page.state == "on_it" and page.holder else "no On It! yet"
            thread = f" <{page.link}|thread>" if page.link else ""
            lines.append(f"• Page #{page.id} ({state}): {page.summary}{thread}")
        if more:
            lines.append(f"…and {more} more: `oncallbot pages --open` lists them all.")
    return "\n".join(lines)


def week_reminder_text(name: str, week: WeekHolder, previous: WeekHolder | None, following: WeekHolder | None,
                       before: timedelta, checklist: Sequence[str]) -> str:
    """The DM `before` a person's week starts: their week, the people on either side, the checklist."""
    lines = [f"{name}, your on-call week starts in {format_duration(before)}: {week.dates}.",
             f"Before you: {_who(previous, 'nobody')}. After you: {_who(following, 'nobody yet')}."]
    if checklist:
        lines.append("Before it starts, check:")
        lines += [f"• {item}" for item in checklist]
    return "\n".join(lines)


def reminder_window(now: datetime, before: timedelta) -> tuple[datetime, datetime]:
    """The weeks to remind now: those starting in (now, now + before]. A run at any minute of that span
    reminds the week's person (a replica that was down catches up); a started week is never reminded."""
    return now + timedelta(microseconds=1), now + before + timedelta(microseconds=1)
