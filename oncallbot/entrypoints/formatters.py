"""Formatters: how results look to people (text) and scripts (JSON). The JSON shapes here are public contracts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..domain.procedure import Procedure
from ..domain.rotation import RotationProblem, Shift
from ..domain.timelabels import WEEKDAYS

# Types only: importing the services (or the swaps' rules, which the functions that need them import) here
# would slow every CLI command's start, `who` first.
if TYPE_CHECKING:
    from ..domain.swap_flow import HistoryLine
    from ..domain.swaps import SwapRequest
    from ..services.catchup import JobStatus
    from ..services.contacts import ContactView
    from ..services.paging import PageList, PageSnapshot
    from ..services.rotation import OnCallReport


def local_iso(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat()


def local_label(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{WEEKDAYS[local.weekday()]} {local:%Y-%m-%d %H:%M %Z}"


def shift_json(shift: Shift | None, procedure: Procedure) -> dict | None:
    if shift is None:
        return None
    person = procedure.team.person(shift.person_id)
    tz = procedure.window.tz
    return {
        "person": {"id": shift.person_id, "name": person.name if person else shift.person_id},
        "start": local_iso(shift.start_at, tz),
        "end": local_iso(shift.end_at, tz),  # exclusive
    }


def oncall_json(report: OnCallReport, procedure: Procedure) -> dict:
    tz = procedure.window.tz
    body = {
        "at": local_iso(report.at, tz),
        "timezone": procedure.window.timezone,
        "responsible": report.responsibility.responsible,
        "current": shift_json(report.neighbours.current, procedure),
        "previous": shift_json(report.neighbours.previous, procedure),
        "next": shift_json(report.neighbours.next, procedure),
    }
    if report.responsibility.cause:
        body["cause"] = report.responsibility.cause
    return body


def shift_line(shift: Shift | None, procedure: Procedure) -> str:
    if shift is None:
        return "nobody in the calendar"
    person = procedure.team.person(shift.person_id)
    tz = procedure.window.tz
    # People read the week's end as its last minute label ("Mon 06:59"), as the procedure writes it.
    return (f"{person.name if person else shift.person_id:<16} "
            f"{local_label(shift.start_at, tz)} -> {local_label(shift.end_at - timedelta(minutes=1), tz)}")


def oncall_text(report: OnCallReport, procedure: Procedure) -> str:
    tz = procedure.window.tz
    resp = report.responsibility
    person = procedure.team.person(resp.shift.person_id) if resp.shift else None
    headline = {
        "oncall": f"on call: {person.name if person else '?'}",
        "office": "business hours: the office handles pages"
                  + (f" (on call this week: {person.name})" if person else ""),
        "nobody": f"NOBODY is responsible ({resp.cause}); pages go to the approvers",
    }[resp.responsible]
    return "\n".join([
        f"At {local_label(report.at, tz)}: {headline}",
        f"  this week: {shift_line(report.neighbours.current, procedure)}",
        f"  before:    {shift_line(report.neighbours.previous, procedure)}",
        f"  next:      {shift_line(report.neighbours.next, procedure)}",
    ])


def problem_line(problem: RotationProblem) -> str:
    return f"{problem.kind:<15} {problem.message}"


def _iso(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat() if at else None


def page_json(page: PageSnapshot, procedure: Procedure) -> dict:
    """The page contract of `POST /api/v1/pages` and `GET /api/v1/pages/{id}`."""
    tz = procedure.window.tz
    return {
        "id": page.id,
        "summary": page.summary,
        "source": page.source,
        "external_id": page.external_id,
        "state": page.state,
        "responsible": page.responsible,
        "created_at": _iso(page.created_at, tz),
        "deadline": _iso(page.deadline_at, tz),
        "on_it_by": page.on_it_by,
        "on_it_at": _iso(page.on_it_at, tz),
        "done_at": _iso(page.done_at, tz),
        "escalation_steps": [
            {"step": s.number, "at": _iso(s.at, tz), "notify": s.notify, "people": list(s.person_ids),
             "channels": list(s.channels), "status": s.status} for s in page.steps],
        "timeline": [
            {"at": _iso(e.at, tz), "event": e.kind, "who": e.person_id, "channel": e.channel, "detail": e.detail}
            for e in page.timeline],
        # Per person and channel: sent, delivered (Twilio's status), answered by human/machine, confirmed.
        "channels": [
            {"who": o.person_id, "channel": o.channel, "sent_at": _iso(o.sent_at, tz),
             "delivery_status": o.delivery_status, "delivered": o.delivered, "answered_by": o.answered,
             "answered_at": _iso(o.answered_at, tz), "confirmed": o.confirmed_at is not None,
             "confirmed_at": _iso(o.confirmed_at, tz)}
            for o in page.channels],
    }


def _person_ref(person_id: str | None, procedure: Procedure) -> dict | None:
    if person_id is None:
        return None
    person = procedure.team.person(person_id)
    return {"id": person_id, "name": person.name if person else person_id}


def page_list_json(listing: PageList, procedure: Procedure, state: str | None) -> dict:
    """The contract of `GET /api/v1/pages` and `oncallbot pages --json`."""
    tz = procedure.window.tz
    return {
        "at": _iso(listing.at, tz),
        "state": state,
        "total": listing.total,
        "next_before": listing.next_before,
        "pages": [{
            "id": p.id, "summary": p.summary, "source": p.source, "state": p.state, "responsible": p.responsible,
            "holder": _person_ref(p.holder_id, procedure), "created_at": _iso(p.created_at, tz),
            "age_seconds": int(p.age.total_seconds()), "deadline": _iso(p.deadline_at, tz),
            "on_it_at": _iso(p.on_it_at, tz), "done_at": _iso(p.done_at, tz),
        } for p in listing.pages],
    }


def page_list_text(listing: PageList, procedure: Procedure, state: str | None) -> str:
    from ..services.presenting import age_label

    team, tz = procedure.team, procedure.window.tz
    kind = f"{state} page" if state else "page"
    if not listing.pages:
        return f"No {kind}s at {local_label(listing.at, tz)}."
    lines = [(f"{listing.total} {kind}{'' if listing.total == 1 else 's'} at {local_label(listing.at, tz)}, "
              "newest first:"),
             f"  {'page':<8}{'state':<11}{'holder':<17}{'responsible':<17}{'age':>8}  summary"]
    for p in listing.pages:
        holder = team.person(p.holder_id)
        responsible = team.person(p.responsible)
        lines.append(f"  {'#' + str(p.id):<8}{p.state:<11}{holder.name if holder else (p.holder_id or '-'):<17}"
                     f"{responsible.name if responsible else p.responsible:<17}{age_label(p.age):>8}  {p.summary}")
    return "\n".join(lines)


# --- swaps (public contract: `oncallbot swaps --json`, the `swaps` list of `rotation history --json`) -----


def _person_json(procedure: Procedure, person_id: str | None) -> dict | None:
    if person_id is None:
        return None
    person = procedure.team.person(person_id)
    return {"id": person_id, "name": person.name if person else person_id}


def swap_request_json(request: SwapRequest, procedure: Procedure) -> dict:
    from ..domain.swap_flow import status_line
    from ..domain.swaps import expires_at

    tz = procedure.window.tz
    return {
        "id": request.id, "kind": request.kind.value, "state": request.state.value,
        "requester": _person_json(procedure, request.requester_id),
        "counterpart": _person_json(procedure, request.counterpart_id),
        "requester_week": request.requester_week.isoformat(),
        "counterpart_week": request.counterpart_week.isoformat() if request.counterpart_week else None,
        "weeks": [w.isoformat() for w in request.weeks],
        "requested_at": local_iso(request.requested_at, tz),
        "expires_at": local_iso(expires_at(request, procedure.window), tz),
        "decided_by": _person_json(procedure, request.decided_by),
        "decided_at": local_iso(request.decided_at, tz) if request.decided_at else None,
        "reason": request.reason or None, "note": request.note or None,
        "previous_owner": _person_json(procedure, request.previous_owner_id),
        "status": status_line(request, procedure.team),
    }


def swap_request_line(request: SwapRequest, procedure: Procedure) -> str:
    from ..domain.swap_flow import status_line, summary

    return (f"#{request.id} {request.state.value:<16} {summary(request, procedure.team)} "
            f"(asked {local_label(request.requested_at, procedure.window.tz)}): {status_line(request, procedure.team)}")


def swap_transition_json(line: HistoryLine, procedure: Procedure) -> dict:
    detail = line.detail
    return {"request_id": line.subject_id, "at": local_iso(line.at, procedure.window.tz), "state": line.kind,
            "by": _person_json(procedure, line.actor), "surface": line.surface, "kind": detail.get("kind"),
            "requester": _person_json(procedure, str(detail["requester"]) if detail.get("requester") else None),
            "counterpart": _person_json(procedure, str(detail["counterpart"]) if detail.get("counterpart") else None),
            "weeks": detail.get("weeks", []), "reason": detail.get("reason") or None,
            "note": detail.get("note") or None}


def detail_weeks(line: HistoryLine) -> list[str]:
    """The weeks a history line names, read back from its audit entry's JSON detail."""
    weeks = line.detail.get("weeks")
    return [str(w) for w in weeks] if isinstance(weeks, list) else []


def swap_transition_line(line: HistoryLine, procedure: Procedure) -> str:
    by = _person_json(procedure, line.actor)
    weeks = ", ".join(detail_weeks(line))
    why = f': "{line.detail["reason"]}"' if line.detail.get("reason") else ""
    via = f" via {line.surface}" if line.surface else ""
    return (f"{line.detail.get('kind')} request #{line.subject_id} ({weeks}): {line.kind}, "
            f"by {by['name'] if by else 'the bot'}{via}{why}")


# --- `oncallbot jobs` -------------------------------------------------------------------------------------

def job_json(status: JobStatus, tz: ZoneInfo) -> dict:
    """One job of `oncallbot jobs --json` (the contract in the README's Commands table)."""
    job, run = status.job, status.last_run
    return {
        "name": job.name,
        "description": job.description,
        "schedule": job.schedule_text(),
        "every_seconds": job.every.total_seconds() if job.every is not None else None,
        "weekly": str(job.weekly.at) if job.weekly is not None else None,
        "grace_seconds": job.grace.total_seconds() if job.grace is not None else None,  # weekly: None = the day
        "last_run": None if run is None else {
            "occasion": run.occasion or None, "at": local_iso(run.ran_at, tz), "replica": run.replica,
            "outcome": run.outcome},
        "next_run": local_iso(status.next_run, tz) if status.next_run is not None else None,
        "missed_pending": status.missed_pending,
        "pending_occasion": local_iso(status.pending_occasion, tz) if status.pending_occasion else None,
    }


def job_text(status: JobStatus, tz: ZoneInfo) -> list[str]:
    job, run = status.job, status.last_run
    lines = [f"{job.name}: {job.description}", f"  schedule: {job.schedule_text()}"]
    if run is None:
        last = "never recorded" if job.weekly is not None or job.name == "rotation.sync" else "not recorded"
    else:
        last = local_label(run.ran_at, tz) + (f" on {run.replica}" if run.replica else "")
        if run.outcome != "ran":
            last += f" ({run.outcome})"
        if run.occasion:
            last += f", occasion {run.occasion}"
    lines.append(f"  last run: {last}")
    if status.next_run is not None:
        lines.append(f"  next run: {local_label(status.next_run, tz)}")
    if status.missed_pending and status.pending_occasion is not None:
        lines.append(f"  MISSED RUN PENDING: due {local_label(status.pending_occasion, tz)}")
    return lines


# --- `oncallbot contacts` ---------------------------------------------------------------------------------

def contact_json(view: ContactView) -> dict:
    """One person of `oncallbot contacts --json` (the contract in the README's Commands table)."""
    return {
        "id": view.person_id,
        "name": view.name,
        "roles": list(view.roles),
        "channels": list(view.channels),
        "opted_out": list(view.opted_out),
        "phone": view.phone,
        "email": view.email,
        "slack_id": view.slack_id,
        "verified": view.verified,
        "channel_order": list(view.channel_order),
    }


def contact_text(view: ContactView) -> list[str]:
    roles = f" ({', '.join(view.roles)})" if view.roles else ""
    channels = ", ".join(f"{c} (opted out)" if c in view.opted_out else c for c in view.channels) or "none"
    verified = "no number" if view.verified is None else ("verified" if view.verified else "UNVERIFIED")
    lines = [f"{view.name} [{view.person_id}]{roles}", f"  channels: {channels}"]
    if view.phone:
        lines.append(f"  phone: {view.phone} ({verified})")
    if view.email:
        lines.append(f"  email: {view.email}")
    if view.slack_id:
        lines.append(f"  slack: {view.slack_id}")
    if view.channel_order:
        lines.append(f"  channel order: {' > '.join(view.channel_order)}")
    stray = [c for c in view.opted_out if c not in view.channels]
    if stray:
        lines.append(f"  opted out: {', '.join(stray)}")
    return lines
