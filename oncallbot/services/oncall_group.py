"""Keep a Slack user group (slack.oncall_usergroup) to one member: the person on call now.

Who should be in it is decided here, from the rotation in effect (overrides laid over the calendar's weeks,
as `who` sees it). The scheduler calls `update_oncall_group` once at start and every minute: that catches a
week's start, a sync that moved the current week and a swap within a minute, with no hook in each of them.
It reads the group's members first and writes only when they differ (Slack's list is the memory, not a row
of ours): a group edited by hand is put right too, every replica may run it (the write is idempotent), and a
minute's read is far below Slack's rate limit for these methods.

A refusal that needs a person to act (a missing scope, a plan without user groups, an unknown group) is told
to the approvers once per problem; the job goes on retrying quietly, and the first success after the fix
updates the group."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ..domain import keys, wording
from ..domain.procedure import Procedure
from ..domain.rotation import Shift, neighbours_at
from ..domain.team import Person
from ..errors import IntegrationError, UserGroupRefused
from ..logs import log_event
from ..ports import Store, UserGroups
from .delivery import notify_approvers

log = logging.getLogger("oncallbot.oncall_group")

# Slack's error strings, by the problem the approvers are told about; any other error is retried quietly.
PROBLEMS = {
    "missing_scope": "missing_scope",
    "paid_teams_only": "no_user_groups",
    "paid_only": "no_user_groups",
    "not_allowed_token_type": "no_user_groups",
    "no_such_subteam": "no_such_subteam",
    "subteam_not_found": "no_such_subteam",
    "permission_denied": "restricted",
}
BREAK_BETWEEN_WEEKS = timedelta(days=1)  # longer than this without a week: a gap, told to the approvers


class GroupOutcome(StrEnum):
    UNCHANGED = "unchanged"  # the group already had the person on call: no write
    UPDATED = "updated"
    BETWEEN = "between"  # between two weeks (a week ends Monday morning, the next starts that evening): kept
    NOBODY = "nobody"  # nobody with a Slack id is on call: the group keeps its last member
    REFUSED = "refused"  # Slack said no (the approvers told once per problem)
    UNREACHABLE = "unreachable"  # retried at the next run


@dataclass(frozen=True)
class GroupUpdate:
    outcome: GroupOutcome
    member: str | None = None  # the Slack id the group should have
    error: str | None = None


def desired_member(store: Store, procedure: Procedure, now: datetime) -> tuple[Shift | None, Person | None, bool]:
    """The week in effect at `now` and its person (the group's member is their Slack id), if any; and whether
    `now` is only the short break between two weeks (the outgoing person stays until the next one starts)."""
    with store.reading() as tx:
        shifts = procedure.shifts_in_effect(tx.shifts_around(now))
    around = neighbours_at(now, shifts)
    current = around.current
    between = (current is None and around.previous is not None and around.next is not None
               and around.next.start_at - around.previous.end_at <= BREAK_BETWEEN_WEEKS)
    return current, procedure.team.person(current.person_id) if current else None, between


def update_oncall_group(store: Store, procedure: Procedure, groups: UserGroups, group_id: str,
                        now: datetime) -> GroupUpdate:
    shift, person, between = desired_member(store, procedure, now)
    if between:
        return GroupUpdate(GroupOutcome.BETWEEN)
    member = person.slack_id if person else None
    if member is None:
        week = shift.week_start if shift else now.astimezone(procedure.window.tz).date()
        with store.transaction() as tx:
            notify_approvers(tx, procedure, keys.oncall_group_nobody(group_id, week), now,
                             wording.oncall_group_nobody_text(group_id, week.isoformat(),
                                                              person.name if person else None))
        return GroupUpdate(GroupOutcome.NOBODY)
    try:
        if groups.members(group_id) == [member]:
            return GroupUpdate(GroupOutcome.UNCHANGED, member)
        groups.set_members(group_id, [member])
    except UserGroupRefused as exc:
        problem = PROBLEMS.get(exc.code)
        log_event(log, "on-call user group refused", level=logging.WARNING, group=group_id, error=exc.code)
        if problem is not None:
            with store.transaction() as tx:
                notify_approvers(tx, procedure, keys.oncall_group_problem(group_id, problem), now,
                                 wording.oncall_group_problem_text(group_id, problem))
        return GroupUpdate(GroupOutcome.REFUSED, member, exc.code)
    except IntegrationError as exc:
        log_event(log, "on-call user group unreachable", level=logging.WARNING, group=group_id, error=str(exc))
        return GroupUpdate(GroupOutcome.UNREACHABLE, member, str(exc))
    log_event(log, "on-call user group updated", group=group_id, person=person.id if person else None)
    return GroupUpdate(GroupOutcome.UPDATED, member)
