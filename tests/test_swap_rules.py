"""Swap rules as a person meets them: every refusal in plain words, notice at its boundary across DST."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncallbot.domain.rotation import RotationChange, ShiftWindow
from oncallbot.domain.swaps import (
    Notice,
    Permission,
    SwapKind,
    SwapRefused,
    SwapRequest,
    SwapState,
    approver_reminder_at,
    can_accept,
    can_approve,
    can_cancel,
    can_decline,
    can_reject,
    clashes,
    describe_state,
    expires_at,
    is_expired,
    notice_deadline,
    parse_week,
    pending_weeks,
    rotation_after,
    still_applicable,
    swapped_rotation,
    validate_reassignment,
    validate_request,
)
from oncallbot.domain.team import Person, Team
from oncallbot.domain.timelabels import WeeklyTime

LA = ZoneInfo("America/Los_Angeles")
WINDOW = ShiftWindow(WeeklyTime.parse("Mon 18:01"), WeeklyTime.parse("Mon 06:59"), "America/Los_Angeles")
ONCALL = frozenset({"oncall"})
PEOPLE = (
    Person("priya", "Priya Patel", roles=ONCALL),
    Person("marcus", "Marcus Chen", roles=ONCALL),
    Person("sam", "Sam Rivera", roles=ONCALL),
    Person("dana", "Dana Lee", roles=frozenset({"manager"})),
    Person("omar", "Omar Haddad", roles=frozenset({"manager", "oncall"})),  # an approver who takes weeks too
    Person("rachel", "Rachel Green", roles=frozenset({"senior_manager"})),
)
TEAM = Team("Support", "America/Los_Angeles", PEOPLE, ("dana", "omar"))
ONLY_OMAR = replace(TEAM, approver_ids=("omar",))
FIVE_DAYS = timedelta(days=5)

ROTATION: dict[date, str | None] = {
    date(2027, 1, 4): "priya",
    date(2027, 1, 11): "marcus",
    date(2027, 1, 18): "sam",
    date(2027, 1, 25): "omar",
    date(2027, 2, 1): None,  # in the calendar's range, but nobody on it
    date(2027, 2, 8): "priya",
    date(2027, 3, 8): "marcus",
    date(2027, 3, 15): "priya",
    date(2027, 3, 22): "marcus",
    date(2027, 11, 1): "marcus",
    date(2027, 11, 8): "priya",
    date(2027, 11, 15): "marcus",
}
NOW = datetime(2026, 12, 20, 10, 0, tzinfo=LA)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LA)


# --- naming a week --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "person", "now", "week"), [
    ("2027-01-04", "priya", NOW, date(2027, 1, 4)),
    ("  2027-01-11 ", "priya", NOW, date(2027, 1, 11)),  # any week start; whose it is, validation says
    ("next", "priya", NOW, date(2027, 1, 4)),
    ("NEXT", "marcus", NOW, date(2027, 1, 11)),
    ("next", "priya", local(2027, 1, 4, 18, 0, 59), date(2027, 1, 4)),  # not started yet
    ("next", "priya", local(2027, 1, 4, 18, 1), date(2027, 2, 8)),  # started: her following week
])
def test_a_week_is_named_by_its_start_date_or_next(text: str, person: str, now: datetime, week: date) -> None:
    assert parse_week(text, person, ROTATION, WINDOW, now) == week


@pytest.mark.parametrize(("text", "person", "name", "message"), [
    ("2027-01-03", "priya", None,
     "Sun 2027-01-03 is not the start of an on-call week (weeks start Mon 18:01); "
     "the nearest week starts Mon 2027-01-04"),
    ("2027-01-07", "priya", None,
     "Thu 2027-01-07 is not the start of an on-call week (weeks start Mon 18:01); "
     "the nearest week starts Mon 2027-01-04"),
    ("2027-01-08", "priya", None,
     "Fri 2027-01-08 is not the start of an on-call week (weeks start Mon 18:01); "
     "the nearest week starts Mon 2027-01-11"),
    ("tomorrow", "priya", None,
     '"tomorrow" is not a week: name it by the date its shift starts (e.g. 2026-12-21) or say next'),
    ("04/01/2027", "priya", None,
     '"04/01/2027" is not a week: name it by the date its shift starts (e.g. 2026-12-21) or say next'),
    ("2027-02-30", "priya", None, "2027-02-30 is not a date"),
    ("next", "rachel", None, "You have no upcoming on-call week in the rotation"),
    ("next", "dana", "Dana Lee", "Dana Lee has no upcoming on-call week in the rotation"),
])
def test_naming_a_week_refusals(text: str, person: str, name: str | None, message: str) -> None:
    with pytest.raises(SwapRefused) as refused:
        parse_week(text, person, ROTATION, WINDOW, NOW, name=name)
    assert str(refused.value) == message


# --- validating a request -------------------------------------------------------------------------------

SWAP, HANDOVER = SwapKind.SWAP, SwapKind.HANDOVER
JAN4, JAN11, JAN18, JAN25 = date(2027, 1, 4), date(2027, 1, 11), date(2027, 1, 18), date(2027, 1, 25)
FEB1, FEB8 = date(2027, 2, 1), date(2027, 2, 8)


@pytest.mark.parametrize(("kind", "requester", "counterpart", "mine", "theirs", "weeks"), [
    (SWAP, "priya", "marcus", JAN4, JAN11, (JAN4, JAN11)),
    (SWAP, "marcus", "priya", JAN11, JAN4, (JAN4, JAN11)),  # earliest first
    (HANDOVER, "priya", "sam", JAN4, None, (JAN4,)),
    (SWAP, "priya", "omar", FEB8, JAN25, (JAN25, FEB8)),  # an approver with weeks can swap like anyone
])
def test_a_valid_request_returns_the_weeks_it_touches(kind: SwapKind, requester: str, counterpart: str,
                                                      mine: date, theirs: date | None,
                                                      weeks: tuple[date, ...]) -> None:
    assert validate_request(kind, requester, counterpart, mine, theirs, ROTATION, frozenset(), TEAM, WINDOW,
                            FIVE_DAYS, NOW) == weeks


RUNNING = local(2027, 1, 5, 9, 0)  # inside the week of Jan 4


@pytest.mark.parametrize(("kind", "requester", "counterpart", "mine", "theirs", "pending", "now", "rule", "message"), [
    (SWAP, "priya", "marcus", JAN11, JAN4, (), NOW, "not_their_week",
     "The week of Mon 2027-01-11 is Marcus Chen's, not yours"),
    (SWAP, "priya", "marcus", JAN4, JAN18, (), NOW, "not_their_week",
     "The week of Mon 2027-01-18 is Sam Rivera's, not Marcus Chen's"),
    (SWAP, "priya", "marcus", JAN4, FEB8, (), NOW, "not_their_week",
     "The week of Mon 2027-02-08 is yours, not Marcus Chen's"),
    (HANDOVER, "priya", "marcus", FEB1, None, (), NOW, "nobody_assigned",
     "Nobody is assigned to the week of Mon 2027-02-01"),
    (SWAP, "priya", "marcus", JAN4, date(2027, 5, 3), (), NOW, "nobody_assigned",  # beyond the published rotation
     "Nobody is assigned to the week of Mon 2027-05-03"),
    (HANDOVER, "priya", "marcus", JAN4, None, (), local(2027, 1, 12, 9, 0), "past_week",
     "The week of Mon 2027-01-04 is already over"),
    (HANDOVER, "priya", "marcus", JAN4, None, (), RUNNING, "running_week",
     "The week of Mon 2027-01-04 has already started; ask an approver (Dana Lee, Omar Haddad) to reassign it"),
    (SWAP, "marcus", "priya", JAN11, JAN4, (), RUNNING, "running_week",
     "The week of Mon 2027-01-04 has already started; ask an approver (Dana Lee, Omar Haddad) to reassign it"),
    (SWAP, "priya", "marcus", JAN4, JAN4, (), NOW, "same_week",
     "You named the week of Mon 2027-01-04 twice; a swap exchanges two different weeks"),
    (SWAP, "priya", "zoe", JAN4, JAN11, (), NOW, "counterpart_not_on_team",
     '"zoe" is not on the Support team'),
    (HANDOVER, "priya", "rachel", JAN4, None, (), NOW, "counterpart_not_oncall",
     "Rachel Green does not take on-call weeks (no oncall role)"),
    (HANDOVER, "priya", "dana", JAN4, None, (), NOW, "counterpart_not_oncall",
     "Dana Lee does not take on-call weeks (no oncall role)"),
    (HANDOVER, "priya", "priya", JAN4, None, (), NOW, "same_person",
     "You cannot swap with yourself; name a colleague"),
    (HANDOVER, "zoe", "priya", JAN4, None, (), NOW, "requester_not_on_team",
     "You are not on the Support team"),
    (SWAP, "priya", "marcus", JAN4, JAN11, (JAN11,), NOW, "pending",
     "The week of Mon 2027-01-11 is already part of a pending request; it has to be decided or cancelled first"),
    (HANDOVER, "priya", "marcus", JAN4, None, (JAN4, JAN18), NOW, "pending",
     "The week of Mon 2027-01-04 is already part of a pending request; it has to be decided or cancelled first"),
    (SWAP, "priya", "marcus", JAN4, None, (), NOW, "missing_week",
     "A swap needs one of Marcus Chen's weeks too; name it, or ask for a handover"),
    (HANDOVER, "priya", "marcus", JAN4, JAN11, (), NOW, "extra_week",
     "A handover gives your week away without taking one back; leave out the second week, or ask for a swap"),
    (SWAP, "priya", "marcus", date(2027, 1, 5), JAN11, (), NOW, "not_a_week_start",
     "Tue 2027-01-05 is not the start of an on-call week (weeks start Mon 18:01); "
     "the nearest week starts Mon 2027-01-04"),
    (SwapKind.REASSIGNMENT, "dana", "marcus", JAN4, None, (), NOW, "wrong_kind",
     "A reassignment is made by an approver (reassign), not requested"),
    (HANDOVER, "priya", "marcus", JAN4, None, (), local(2027, 1, 1, 9, 0), "notice",
     "Requests for the week of Mon 2027-01-04 had to be made by Wed 2026-12-30 18:01 PST; "
     "ask an approver (Dana Lee, Omar Haddad) to reassign the week"),
    (SWAP, "omar", "priya", JAN25, FEB8, (), local(2027, 1, 22, 9, 0), "notice",  # the requester is not his own way out
     "Requests for the week of Mon 2027-01-25 had to be made by Wed 2027-01-20 18:01 PST; "
     "ask an approver (Dana Lee) to reassign the week"),
])
def test_request_refusals(kind: SwapKind, requester: str, counterpart: str, mine: date, theirs: date | None,
                          pending: tuple[date, ...], now: datetime, rule: str, message: str) -> None:
    with pytest.raises(SwapRefused) as refused:
        validate_request(kind, requester, counterpart, mine, theirs, ROTATION, frozenset(pending), TEAM, WINDOW,
                         FIVE_DAYS, now)
    assert (refused.value.rule, str(refused.value)) == (rule, message)


def test_a_late_request_with_no_other_approver_says_so() -> None:
    with pytest.raises(SwapRefused) as refused:
        validate_request(SWAP, "omar", "priya", JAN25, FEB8, ROTATION, frozenset(), ONLY_OMAR, WINDOW, FIVE_DAYS,
                         local(2027, 1, 22, 9, 0))
    assert str(refused.value) == ("Requests for the week of Mon 2027-01-25 had to be made by Wed 2027-01-20 18:01 PST; "
                                  "there is no approver who could reassign the week (swaps.approvers)")


# --- notice ---------------------------------------------------------------------------------------------

SPRING_WEEK = date(2027, 3, 15)  # DST starts Sun 2027-03-14, inside the 5 days before it
FALL_WEEK = date(2027, 11, 8)  # DST ends Sun 2027-11-07


@pytest.mark.parametrize(("week", "deadline", "hours", "label"), [
    (JAN11, local(2027, 1, 6, 18, 1), 120, "Wed 2027-01-06 18:01 PST"),
    (SPRING_WEEK, local(2027, 3, 10, 18, 1), 119, "Wed 2027-03-10 18:01 PST"),
    (FALL_WEEK, local(2027, 11, 3, 18, 1), 121, "Wed 2027-11-03 18:01 PDT"),
])
def test_five_days_notice_is_five_calendar_days_even_across_dst(week: date, deadline: datetime, hours: int,
                                                                label: str) -> None:
    assert notice_deadline(week, WINDOW, FIVE_DAYS) == deadline
    assert WINDOW.bounds(week)[0] - deadline == timedelta(hours=hours)
    owner = ROTATION[week]
    assert owner is not None
    # Exactly at the deadline: in time.
    assert validate_request(HANDOVER, owner, "sam", week, None, ROTATION, frozenset(), TEAM, WINDOW, FIVE_DAYS,
                            deadline) == (week,)
    # A minute less notice (and even a second): too late, naming the deadline in local time.
    for late in (deadline + timedelta(minutes=1), deadline + timedelta(seconds=1)):
        with pytest.raises(SwapRefused) as refused:
            validate_request(HANDOVER, owner, "sam", week, None, ROTATION, frozenset(), TEAM, WINDOW, FIVE_DAYS,
                             late)
        assert str(refused.value) == (f"Requests for the week of {week:%a %Y-%m-%d} had to be made by {label}; "
                                      "ask an approver (Dana Lee, Omar Haddad) to reassign the week")


def test_the_earliest_week_of_a_swap_sets_the_deadline() -> None:
    # Marcus offers Mar 22 for Priya's Mar 15: the deadline is Mar 15's, across the spring change.
    deadline = local(2027, 3, 10, 18, 1)
    assert validate_request(SWAP, "marcus", "priya", date(2027, 3, 22), SPRING_WEEK, ROTATION, frozenset(), TEAM,
                            WINDOW, FIVE_DAYS, deadline) == (SPRING_WEEK, date(2027, 3, 22))
    with pytest.raises(SwapRefused, match="Mon 2027-03-15 had to be made by Wed 2027-03-10 18:01 PST"):
        validate_request(SWAP, "marcus", "priya", date(2027, 3, 22), SPRING_WEEK, ROTATION, frozenset(), TEAM,
                         WINDOW, FIVE_DAYS, deadline + timedelta(minutes=1))


@pytest.mark.parametrize(("notice", "week", "deadline"), [
    # Parts of a day are absolute hours: 36 h before Mon 18:01 PDT is Sun 06:01 PDT.
    (Notice.parse("36h"), SPRING_WEEK, local(2027, 3, 14, 6, 1)),
    (timedelta(hours=36), SPRING_WEEK, local(2027, 3, 14, 6, 1)),
    # 48 h and 2 days differ by the hour DST took away.
    (Notice.parse("48h"), SPRING_WEEK, local(2027, 3, 13, 17, 1)),
    (Notice.parse("2d"), SPRING_WEEK, local(2027, 3, 13, 18, 1)),
    (Notice.parse("48h"), FALL_WEEK, local(2027, 11, 6, 19, 1)),
    # Calendar days first, then the hours: Wed 18:01 PST, then 12 h back.
    (Notice.parse("5d 12h"), SPRING_WEEK, local(2027, 3, 10, 6, 1)),
    (Notice.parse("1w"), SPRING_WEEK, local(2027, 3, 8, 18, 1)),
    (Notice.parse("0d"), SPRING_WEEK, local(2027, 3, 15, 18, 1)),
])
def test_partial_days_of_notice_are_absolute_hours(notice: Notice | timedelta, week: date,
                                                   deadline: datetime) -> None:
    assert notice_deadline(week, WINDOW, notice) == deadline


def test_36h_notice_at_the_boundary() -> None:
    notice = Notice.parse("36h")
    deadline = WINDOW.bounds(SPRING_WEEK)[0] - timedelta(hours=36)
    assert validate_request(HANDOVER, "priya", "sam", SPRING_WEEK, None, ROTATION, frozenset(), TEAM, WINDOW,
                            notice, deadline) == (SPRING_WEEK,)
    with pytest.raises(SwapRefused) as refused:
        validate_request(HANDOVER, "priya", "sam", SPRING_WEEK, None, ROTATION, frozenset(), TEAM, WINDOW, notice,
                         deadline + timedelta(minutes=1))
    assert str(refused.value) == ("Requests for the week of Mon 2027-03-15 had to be made by Sun 2027-03-14 06:01 PDT; "
                                  "ask an approver (Dana Lee, Omar Haddad) to reassign the week")


@pytest.mark.parametrize(("text", "notice", "shown"), [
    ("5d", Notice(5), "5d"),
    ("36h", Notice(0, timedelta(hours=36)), "36h"),
    ("5d 12h", Notice(5, timedelta(hours=12)), "5d 12h"),
    ("5d12h", Notice(5, timedelta(hours=12)), "5d 12h"),
    ("1w", Notice(7), "7d"),
    ("1w 2d", Notice(9), "9d"),
    ("90m", Notice(0, timedelta(minutes=90)), "1h 30m"),
])
def test_notice_texts(text: str, notice: Notice, shown: str) -> None:
    assert Notice.parse(text) == notice
    assert str(notice) == shown


@pytest.mark.parametrize("text", ["", "5", "5x", "12h 5d", "-5d", "five days"])
def test_notice_texts_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a notice"):
        Notice.parse(text)


@pytest.mark.parametrize(("value", "notice"), [
    (timedelta(days=5), Notice(5)),
    (timedelta(hours=36), Notice(0, timedelta(hours=36))),  # a timedelta of 36 h stays absolute
    (timedelta(hours=48), Notice(2)),  # indistinguishable from 2d: whole days count on the calendar
])
def test_a_configured_timedelta_as_notice(value: timedelta, notice: Notice) -> None:
    assert Notice.of(value) == notice


# --- who may do what ------------------------------------------------------------------------------------

AT = datetime(2026, 12, 21, 18, 2, tzinfo=UTC)  # 10:02 PST
WHEN = "Mon 2026-12-21 10:02 PST"
BASE = SwapRequest("r1", SWAP, "priya", "marcus", JAN4, JAN11, requested_at=datetime(2026, 12, 21, 17, tzinfo=UTC))
OMARS = SwapRequest("r2", SWAP, "priya", "omar", FEB8, JAN25, requested_at=BASE.requested_at)


def at(state: SwapState, by: str | None = None, reason: str = "", request: SwapRequest = BASE) -> SwapRequest:
    return replace(request, state=state, decided_by=by, decided_at=AT if by else None, reason=reason)


REQUESTED = at(SwapState.REQUESTED)
ACCEPTED = at(SwapState.ACCEPTED, "marcus")
APPROVED = at(SwapState.APPROVED, "dana")


@pytest.mark.parametrize(("check", "swap", "person", "team", "allowed", "message"), [
    (can_accept, REQUESTED, "marcus", TEAM, True, ""),
    (can_accept, REQUESTED, "priya", TEAM, False, "Only Marcus Chen can accept this swap"),
    (can_accept, REQUESTED, "dana", TEAM, False, "Only Marcus Chen can accept this swap"),
    (can_accept, ACCEPTED, "marcus", TEAM, False,
     f"Already accepted by Marcus Chen on {WHEN}; waiting for an approver"),
    (can_accept, APPROVED, "marcus", TEAM, False, f"Already approved by Dana Lee on {WHEN}"),
    (can_decline, REQUESTED, "marcus", TEAM, True, ""),
    (can_decline, REQUESTED, "sam", TEAM, False, "Only Marcus Chen can decline this swap"),
    (can_decline, at(SwapState.CANCELLED, "priya"), "marcus", TEAM, False,
     f"Already cancelled by Priya Patel on {WHEN}"),
    (can_approve, ACCEPTED, "dana", TEAM, True, ""),
    (can_approve, ACCEPTED, "omar", TEAM, True, ""),
    (can_approve, ACCEPTED, "sam", TEAM, False, "Only an approver (Dana Lee, Omar Haddad) can approve this swap"),
    (can_approve, ACCEPTED, "priya", TEAM, False, "Only an approver (Dana Lee, Omar Haddad) can approve this swap"),
    (can_approve, REQUESTED, "dana", TEAM, False,
     "Marcus Chen has not accepted yet; it comes to the approvers once they do"),
    (can_approve, APPROVED, "omar", TEAM, False, f"Already approved by Dana Lee on {WHEN}"),
    (can_approve, APPROVED, "sam", TEAM, False, f"Already approved by Dana Lee on {WHEN}"),  # stale: state first
    (can_approve, at(SwapState.ACCEPTED, "omar", request=OMARS), "omar", TEAM, False,
     "You are part of this swap, so another approver must approve it (Dana Lee)"),
    (can_approve, at(SwapState.ACCEPTED, "omar", request=OMARS), "dana", TEAM, True, ""),
    (can_approve, at(SwapState.ACCEPTED, "omar", request=OMARS), "omar", ONLY_OMAR, False,
     "You are part of this swap and there is no other approver to approve it; add one to swaps.approvers"),
    (can_approve, at(SwapState.ACCEPTED, "marcus"), "dana", replace(TEAM, approver_ids=()), False,
     "Only an approver can approve this swap"),
    (can_reject, ACCEPTED, "dana", TEAM, True, ""),
    (can_reject, REQUESTED, "omar", TEAM, True, ""),
    (can_reject, at(SwapState.ACCEPTED, "omar", request=OMARS), "omar", TEAM, True, ""),  # a no grants nothing
    (can_reject, ACCEPTED, "marcus", TEAM, False, "Only an approver (Dana Lee, Omar Haddad) can reject this swap"),
    (can_reject, at(SwapState.REJECTED, "omar", "short-staffed"), "dana", TEAM, False,
     f"Already rejected by Omar Haddad on {WHEN}: short-staffed"),
    (can_cancel, REQUESTED, "priya", TEAM, True, ""),
    (can_cancel, ACCEPTED, "priya", TEAM, True, ""),
    (can_cancel, APPROVED, "priya", TEAM, True, ""),  # until it is applied
    (can_cancel, REQUESTED, "marcus", TEAM, False, "Only Priya Patel, who asked, can cancel this swap"),
    (can_cancel, at(SwapState.APPLIED, "dana"), "priya", TEAM, False, f"Already applied on {WHEN}"),
    (can_cancel, at(SwapState.DECLINED, "marcus", "I'm away"), "priya", TEAM, False,
     f"Already declined by Marcus Chen on {WHEN}: I'm away"),
    (can_cancel, at(SwapState.EXPIRED, "system"), "priya", TEAM, False,
     f"Expired on {WHEN}: it was not decided before the week of Mon 2027-01-04 started"),
    (can_accept,
     at(SwapState.REFUSED_ON_APPLY, "dana", "The week of Mon 2027-01-11 is now Sam Rivera's, not Marcus Chen's"),
     "marcus", TEAM, False, f"Could not be applied on {WHEN}: The week of Mon 2027-01-11 is now Sam Rivera's, "
                            "not Marcus Chen's"),
    (can_accept, replace(REQUESTED, kind=HANDOVER, counterpart_week=None), "sam", TEAM, False,
     "Only Marcus Chen can accept this handover"),
])
def test_who_may_do_what(check: Callable[[SwapRequest, str, Team], Permission], swap: SwapRequest, person: str,
                         team: Team, allowed: bool, message: str) -> None:
    permission = check(swap, person, team)
    assert (permission.allowed, permission.message) == (allowed, message)


def test_a_reassignment_describes_itself() -> None:
    reassigned = SwapRequest("r9", SwapKind.REASSIGNMENT, "dana", "sam", JAN4, None, requested_at=AT,
                             state=SwapState.APPLIED, decided_by="dana", decided_at=AT, reason="Priya is ill",
                             previous_owner_id="priya")
    assert describe_state(reassigned, TEAM) == f"Reassigned by Dana Lee on {WHEN}: Priya is ill"
    assert can_accept(reassigned, "sam", TEAM).message == describe_state(reassigned, TEAM)


# --- applying, and the races ----------------------------------------------------------------------------


def test_applying_a_swap_exchanges_both_weeks() -> None:
    changes = swapped_rotation(ROTATION, APPROVED, TEAM)
    assert changes == [RotationChange(JAN4, "priya", "marcus"), RotationChange(JAN11, "marcus", "priya")]
    after = rotation_after(ROTATION, changes)
    assert (after[JAN4], after[JAN11], after[JAN18]) == ("marcus", "priya", "sam")


def test_applying_a_handover_and_a_reassignment() -> None:
    handover = SwapRequest("h", HANDOVER, "priya", "sam", FEB8, None, requested_at=AT, state=SwapState.APPROVED)
    assert swapped_rotation(ROTATION, handover, TEAM) == [RotationChange(FEB8, "priya", "sam")]
    gap = SwapRequest("g", SwapKind.REASSIGNMENT, "dana", "sam", FEB1, None, requested_at=AT,
                      state=SwapState.APPLIED, reason="nobody was on it", previous_owner_id=None)
    assert swapped_rotation(ROTATION, gap, TEAM) == [RotationChange(FEB1, None, "sam")]


@pytest.mark.parametrize(("rotation", "message"), [
    (ROTATION, None),
    ({**ROTATION, JAN11: "sam"}, "The week of Mon 2027-01-11 is now Sam Rivera's, not Marcus Chen's"),
    ({**ROTATION, JAN4: None}, "The week of Mon 2027-01-04 is now nobody's, not Priya Patel's"),
    ({k: v for k, v in ROTATION.items() if k != JAN4}, "The week of Mon 2027-01-04 is now nobody's, not Priya Patel's"),
    ({**ROTATION, JAN4: "marcus", JAN11: "priya"},  # already swapped (e.g. applied twice)
     "The week of Mon 2027-01-04 is now Marcus Chen's, not Priya Patel's; "
     "the week of Mon 2027-01-11 is now Priya Patel's, not Marcus Chen's"),
])
def test_the_apply_time_recheck_says_what_changed(rotation: dict[date, str | None], message: str | None) -> None:
    assert still_applicable(APPROVED, rotation, TEAM) == message
    if message is not None:
        with pytest.raises(SwapRefused, match="is now"):
            swapped_rotation(rotation, APPROVED, TEAM)


def test_of_two_requests_sharing_a_week_exactly_one_applies() -> None:
    first = APPROVED  # Priya's Jan 4 for Marcus's Jan 11
    second = SwapRequest("r3", SWAP, "sam", "marcus", JAN18, JAN11, requested_at=AT, state=SwapState.APPROVED)
    assert clashes(first, [first, second]) == (second,)
    rotation = rotation_after(ROTATION, swapped_rotation(ROTATION, first, TEAM))
    assert still_applicable(second, rotation, TEAM) == (
        "The week of Mon 2027-01-11 is now Priya Patel's, not Marcus Chen's")
    # The other way round, the other one wins: order decides, never both.
    rotation = rotation_after(ROTATION, swapped_rotation(ROTATION, second, TEAM))
    assert still_applicable(first, rotation, TEAM) == (
        "The week of Mon 2027-01-11 is now Sam Rivera's, not Marcus Chen's")


def test_a_reassignment_racing_an_approval() -> None:
    weeks = validate_reassignment("omar", JAN11, "sam", "Marcus is ill", ROTATION, TEAM, WINDOW, NOW)
    reassignment = SwapRequest("x", SwapKind.REASSIGNMENT, "omar", "sam", JAN11, None, requested_at=NOW,
                               state=SwapState.APPLIED, reason="Marcus is ill", previous_owner_id=ROTATION[JAN11])
    assert weeks == (JAN11,)
    assert clashes(reassignment, [ACCEPTED]) == (ACCEPTED,)
    rotation = rotation_after(ROTATION, swapped_rotation(ROTATION, reassignment, TEAM))
    assert still_applicable(ACCEPTED, rotation, TEAM) == (
        "The week of Mon 2027-01-11 is now Sam Rivera's, not Marcus Chen's")


def test_pending_weeks_and_clashes_only_count_open_requests() -> None:
    closed = [at(s, "dana") for s in (SwapState.APPLIED, SwapState.DECLINED, SwapState.REJECTED, SwapState.CANCELLED,
                                      SwapState.EXPIRED, SwapState.REFUSED_ON_APPLY)]
    opened = [replace(at(s, "dana"), id=f"o{i}") for i, s in enumerate(
        (SwapState.REQUESTED, SwapState.ACCEPTED, SwapState.APPROVED))]
    assert pending_weeks(closed) == frozenset()
    assert pending_weeks(opened + [OMARS]) == {JAN4, JAN11, JAN25, FEB8}
    assert clashes(BASE, closed) == ()
    assert clashes(BASE, opened + [OMARS, BASE]) == tuple(opened)


# --- reassignment by an approver ------------------------------------------------------------------------


@pytest.mark.parametrize(("approver", "week", "to", "now", "weeks"), [
    ("dana", JAN4, "sam", NOW, (JAN4,)),
    ("dana", JAN4, "sam", RUNNING, (JAN4,)),  # no notice: an illness mid-week
    ("dana", JAN4, "omar", local(2027, 1, 4, 18, 0), (JAN4,)),  # to an approver, by another
    ("omar", FEB1, "sam", NOW, (FEB1,)),  # fills a week nobody had
])
def test_an_approver_reassigns_a_week(approver: str, week: date, to: str, now: datetime,
                                      weeks: tuple[date, ...]) -> None:
    assert validate_reassignment(approver, week, to, "Priya is ill", ROTATION, TEAM, WINDOW, now) == weeks


@pytest.mark.parametrize(("approver", "week", "to", "reason", "team", "now", "rule", "message"), [
    ("priya", JAN4, "sam", "ill", TEAM, NOW, "not_an_approver",
     "Only an approver (Dana Lee, Omar Haddad) can reassign a week"),
    ("dana", JAN4, "sam", "  ", TEAM, NOW, "reason_required", "Say why the week is reassigned: a reason is required"),
    ("dana", JAN4, "zoe", "ill", TEAM, NOW, "counterpart_not_on_team", '"zoe" is not on the Support team'),
    ("dana", JAN4, "rachel", "ill", TEAM, NOW, "counterpart_not_oncall",
     "Rachel Green does not take on-call weeks (no oncall role)"),
    ("dana", date(2027, 1, 6), "sam", "ill", TEAM, NOW, "not_a_week_start",
     "Wed 2027-01-06 is not the start of an on-call week (weeks start Mon 18:01); "
     "the nearest week starts Mon 2027-01-04"),
    ("dana", JAN4, "sam", "ill", TEAM, local(2027, 1, 11, 7, 0), "past_week",
     "The week of Mon 2027-01-04 is already over"),
    ("dana", JAN11, "marcus", "ill", TEAM, NOW, "already_theirs",
     "The week of Mon 2027-01-11 is already Marcus Chen's"),
    ("omar", JAN25, "sam", "ill", TEAM, NOW, "own_change",
     "You are part of this reassignment, so another approver must make it (Dana Lee)"),
    ("omar", JAN4, "omar", "ill", TEAM, NOW, "own_change",
     "You are part of this reassignment, so another approver must make it (Dana Lee)"),
    ("omar", JAN25, "sam", "ill", ONLY_OMAR, NOW, "own_change",
     "You are part of this reassignment and there is no other approver to make it; add one to swaps.approvers"),
])
def test_reassignment_refusals(approver: str, week: date, to: str, reason: str, team: Team, now: datetime,
                               rule: str, message: str) -> None:
    with pytest.raises(SwapRefused) as refused:
        validate_reassignment(approver, week, to, reason, ROTATION, team, WINDOW, now)
    assert (refused.value.rule, str(refused.value)) == (rule, message)


# --- expiry and the approvers' reminder -----------------------------------------------------------------


def test_a_request_expires_when_its_earliest_week_starts() -> None:
    request = SwapRequest("r", SWAP, "marcus", "priya", date(2027, 3, 22), SPRING_WEEK,
                          requested_at=local(2027, 3, 1, 9, 0), state=SwapState.ACCEPTED)
    start = local(2027, 3, 15, 18, 1)
    assert expires_at(request, WINDOW) == start
    assert approver_reminder_at(request, WINDOW) == start.astimezone(UTC) - timedelta(hours=48)
    assert approver_reminder_at(request, WINDOW) == local(2027, 3, 13, 17, 1)  # absolute hours: Sat 17:01 PST
    assert not is_expired(request, WINDOW, start - timedelta(seconds=1))
    assert is_expired(request, WINDOW, start)
    assert not is_expired(replace(request, state=SwapState.APPLIED), WINDOW, start)


def test_no_reminder_when_the_request_came_within_48_hours() -> None:
    request = SwapRequest("r", HANDOVER, "priya", "sam", SPRING_WEEK, None,
                          requested_at=local(2027, 3, 14, 6, 1), state=SwapState.ACCEPTED)
    assert approver_reminder_at(request, WINDOW) is None
