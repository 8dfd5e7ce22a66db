"""`oncallbot rotation history`: who had a week before and after each change, from the audit trail: the
calendar edits a sync found and the changes made in the bot."""

import json
from datetime import UTC, date, datetime, timedelta

from oncallbot.bootstrap import build_procedure, build_store
from oncallbot.config import load_settings
from oncallbot.domain.rotation import OverrideKind, RotationOverride
from oncallbot.entrypoints.cli import main
from oncallbot.services.overrides import apply_override
from tests.harness.clock import FakeClock
from tests.harness.config import example_data, write_config
from tests.harness.rotation import PAIR_ICS, ics, ics_series

START = FakeClock(datetime(2027, 1, 6, 12, 0, tzinfo=UTC))
LATER = FakeClock(datetime(2027, 1, 6, 13, 0, tzinfo=UTC))  # an hour on: past the sync interval
EDITED_WEEK = date(2027, 2, 1)  # Kelly's in the pair; Priya's after the edit below
HANDED_WEEK = date(2027, 2, 8)  # Marcus's, handed to Tom in the bot


def run(capsys, *argv, clock=LATER):
    code = main(list(argv), clock=clock)
    return code, capsys.readouterr().out


def test_history_shows_calendar_edits_and_changes_made_in_the_bot(capsys, tmp_path):
    config = write_config(tmp_path, example_data(), ics_text=ics(*PAIR_ICS))
    args = ["--config", str(config)]
    run(capsys, "sync", *args, clock=START)
    # Priya takes Kelly's week of Feb 1 in the calendar (an override of one occurrence of the series).
    (tmp_path / "rotation.ics").write_text(ics(*PAIR_ICS, ics_series("priya", EDITED_WEEK).replace(
        "RRULE:FREQ=WEEKLY;INTERVAL=2", f"RECURRENCE-ID;TZID=America/Los_Angeles:{EDITED_WEEK:%Y%m%d}T180100")
        .replace("UID:priya-series", "UID:kelly-series")))
    settings = load_settings(config)
    store = build_store(settings)
    handover = RotationOverride(HANDED_WEEK, "marcus", "tom", OverrideKind.HANDOVER, "Marcus moves house",
                                requested_by="marcus", approved_by="dana", applied_at=START.now())
    apply_override(store, build_procedure(settings), handover, START.now() + timedelta(minutes=30))
    store.dispose()

    code, out = run(capsys, "rotation", "history", *args)  # syncs first: the stored copy is an hour old
    assert code == 0
    assert out.splitlines() == [
        "the last 2 rotation change(s):",
        "  Wed 2027-01-06 04:30 PST  week of Mon 2027-02-08: Marcus Brown -> Tom Becker (handover, by Dana Whitfield):"
        ' "Marcus moves house"',
        "  Wed 2027-01-06 05:00 PST  week of Mon 2027-02-01: Kelly Nguyen -> Priya Patel (changed in the calendar)",
    ]

    code, out = run(capsys, "rotation", "history", "--week", "2027-02-10", "--json", *args)
    assert code == 0
    assert json.loads(out) == {"week_start": "2027-02-08", "since": None, "swaps": [], "changes": [{
        "week_start": "2027-02-08", "at": "2027-01-06T04:30:00-08:00", "kind": "override_applied",
        "before": {"id": "marcus", "name": "Marcus Brown"}, "after": {"id": "tom", "name": "Tom Becker"},
        "by": {"id": "dana", "name": "Dana Whitfield"}, "reason": "Marcus moves house",
        "override": {"id": 1, "kind": "handover"}}]}

    code, out = run(capsys, "rotation", "history", "--week", "2027-03-01", *args)
    assert (code, out) == (0, "no rotation changes recorded for the week of Mon 2027-03-01\n")

    code, out = run(capsys, "who", "--json", "--at", "2027-02-09T22:00", *args)
    assert json.loads(out)["current"]["person"]["id"] == "tom"


def test_history_refuses_a_week_that_is_not_a_date(capsys, tmp_path):
    config = write_config(tmp_path, example_data(), ics_text=ics(*PAIR_ICS))
    assert main(["rotation", "history", "--week", "soon", "--config", str(config)], clock=START) == 2
    assert '--week "soon" is not a date' in capsys.readouterr().err
