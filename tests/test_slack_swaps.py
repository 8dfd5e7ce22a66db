"""Issue 9 in Slack, end to end: signed requests into the real bolt app, the real WebClient against the fake
Slack Web API. `/oncall swap @colleague WEEK WEEK` → the colleague's DM with Accept / Decline → Accept → each
approver's DM with Approve / Reject → Approve → the rotation changes (`oncallbot who --json`), survives a sync,
and every DM already sent is redrawn without its buttons; refusals are answered, nothing changes."""

import json
from datetime import datetime

import pytest

from oncallbot.entrypoints.cli import main as cli_main
from oncallbot.services import swaps
from tests.harness.slack import AISHA, OMAR, TOM, SlackHarness, block_texts, button_ids

KELLY, MARCUS, DANA, PRIYA = "U01KELLY00", "U01MARCUS0", "U01DANA000", "U01PRIYA00"
KELLY_WEEK, MARCUS_WEEK = "2026-12-07", "2026-12-21"  # the example rotation (Priya has 12-14)


@pytest.fixture
def fake():
    from tests.fakes import FakeSlack

    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack(database_url, fake):
    harness = SlackHarness(database_url, fake)
    yield harness
    harness.close()


def last_dm(slack, user: str) -> dict:
    dms = slack.fake.dms_to(user)
    assert dms, f"no DM to {user}"
    return dms[-1]


def press(slack, action_id: str, message: dict, user: str):
    """A button on a DM, as Slack sends it: the request id in the button's value, the presser in user.id."""
    (button,) = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == action_id]
    slack.trigger_id = f"{slack.next_id()}.1.trigger"
    return slack.interact({
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "trigger_id": slack.trigger_id, "response_url": f"{slack.fake.url}/response/x",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
        "channel": {"id": message["channel"]}, "message": {"ts": message["ts"], "text": message["text"]},
        "actions": [{"type": "button", "action_id": action_id, "block_id": button.get("block_id", "b"),
                     "value": button["value"], "action_ts": "1.000001"}]})


def answers(slack) -> list[str]:
    return [r.json["text"] for r in slack.fake.requests_to("/response/x")]


def cli(slack, tmp_path, monkeypatch, *args) -> str:
    """`oncallbot ARGS --config …` on the harness's database and clock; its output."""
    import contextlib
    import io

    from tests.harness.config import example_data, write_config

    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", slack.store.url)
    config = tmp_path / "oncallbot.yaml"
    if not config.exists():
        write_config(tmp_path, example_data())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main([*args, "--config", str(config)], clock=slack.clock)
    assert code == 0, out.getvalue()
    return out.getvalue()


def test_a_swap_through_slack_end_to_end(slack, tmp_path, monkeypatch):
    def who(at: str) -> str:
        return json.loads(cli(slack, tmp_path, monkeypatch, "who", "--at", at, "--json"))["current"]["person"]["id"]

    response = slack.command(f"swap <@{MARCUS}|marcus> {KELLY_WEEK} {MARCUS_WEEK} dentist", user=KELLY)
    assert "Sent to Marcus Brown to accept" in response.json()["text"]
    ask = last_dm(slack, MARCUS)
    assert "Kelly Nguyen asks you to accept a swap" in ask["text"] and "dentist" in ask["text"]
    assert button_ids(ask["blocks"]) == ["swap_accept", "swap_decline"]
    assert button_ids(last_dm(slack, KELLY)["blocks"]) == ["swap_cancel"]

    press(slack, "swap_accept", ask, MARCUS)
    assert answers(slack)[-1].startswith("Accepted")
    for approver in (DANA, OMAR):
        dm = last_dm(slack, approver)
        assert button_ids(dm["blocks"]) == ["swap_approve", "swap_reject"]
        assert "Kelly Nguyen: " in dm["text"] and "Marcus Brown: " in dm["text"] and "holiday" in dm["text"]
    assert button_ids(slack.fake.dms_to(MARCUS)[0]["blocks"]) == []  # his Accept/Decline is redrawn away

    press(slack, "swap_approve", last_dm(slack, DANA), PRIYA)  # a non-approver's Approve changes nothing
    assert answers(slack)[-1].startswith("Only an approver")
    press(slack, "swap_approve", last_dm(slack, DANA), DANA)
    assert answers(slack)[-1].startswith("Approved and applied")
    omar = last_dm(slack, OMAR)
    assert "Approved by Dana Whitfield" in block_texts(omar["blocks"]) and button_ids(omar["blocks"]) == []
    for user in (KELLY, MARCUS, DANA):
        assert all(button_ids(m["blocks"]) == [] for m in slack.fake.dms_to(user) if m["blocks"])

    press(slack, "swap_approve", omar | {"blocks": [{"type": "actions", "elements": [
        {"action_id": "swap_approve", "value": "1"}]}]}, OMAR)  # a stale button: answered with the state
    assert answers(slack)[-1].startswith("Approved by Dana Whitfield and applied")

    kelly_week_night = "2026-12-08T22:00:00-08:00"
    kelly_weeks = slack.command("me", user=KELLY).json()["text"]  # /oncall sees the swap at once
    assert "Mon 2026-12-21 18:01" in kelly_weeks and "Mon 2026-12-07 18:01" not in kelly_weeks
    assert who(kelly_week_night) == "marcus"
    cli(slack, tmp_path, monkeypatch, "sync")
    assert who(kelly_week_night) == "marcus"
    assert who("2026-12-22T22:00:00-08:00") == "kelly"

    listed = json.loads(cli(slack, tmp_path, monkeypatch, "swaps", "--all", "--json"))
    assert [(r["state"], r["weeks"], r["decided_by"]["name"]) for r in listed["requests"]] == [
        ("applied", [KELLY_WEEK, MARCUS_WEEK], "Dana Whitfield")]
    assert json.loads(cli(slack, tmp_path, monkeypatch, "swaps", "--json"))["requests"] == []
    history = json.loads(cli(slack, tmp_path, monkeypatch, "rotation", "history", "--since", "2026-11-23", "--json"))
    assert [(t["state"], t["by"]["id"], t["surface"]) for t in history["swaps"]] == [
        ("requested", "kelly", "slack"), ("accepted", "marcus", "slack"), ("applied", "dana", "slack")]
    assert [(c["week_start"], c["after"]["id"]) for c in history["changes"]] == [
        (KELLY_WEEK, "marcus"), (MARCUS_WEEK, "kelly")]
    later = json.loads(cli(slack, tmp_path, monkeypatch, "rotation", "history", "--since", "2026-11-24", "--json"))
    assert (later["swaps"], later["changes"]) == ([], [])


def test_a_request_with_four_days_notice_is_refused_naming_its_deadline(slack):
    slack.clock.set(datetime.fromisoformat("2026-12-03T12:00:00-08:00"))  # Thu: 4 days before Mon 12-07
    text = slack.command(f"swap <@{MARCUS}|marcus> {KELLY_WEEK} {MARCUS_WEEK}", user=KELLY).json()["text"]
    assert "had to be made by Wed 2026-12-02 18:01 PST" in text
    assert "Dana Whitfield, Omar Haddad" in text
    assert swaps.list_requests(slack.store, include_all=True) == []
    assert slack.fake.dms_to(MARCUS) == []


@pytest.mark.parametrize(("text", "refusal"), [
    (f"swap <@{MARCUS}|marcus> 2026-12-08 {MARCUS_WEEK}", "is not the start of an on-call week"),
    (f"swap <@{MARCUS}|marcus> {MARCUS_WEEK} {KELLY_WEEK}", "is Marcus Brown's, not yours"),
    (f"swap <@{MARCUS}|marcus> {KELLY_WEEK} {KELLY_WEEK}", "You named the week of Mon 2026-12-07 twice"),
    (f"swap <@{MARCUS}|marcus> {KELLY_WEEK} 2026-11-30", "is Tom Becker's, not Marcus Brown's"),
    (f"swap <@{MARCUS}|marcus> 2026-11-23 {MARCUS_WEEK}", "has already started"),
    (f"swap <@{MARCUS}|marcus> 2026-11-16 {MARCUS_WEEK}", "already over"),
    (f"swap <@U0STRANGER|someone> {KELLY_WEEK} {MARCUS_WEEK}", "is not on the Customer Support team"),
    (f"swap <@{DANA}|dana> {KELLY_WEEK} {MARCUS_WEEK}", "does not take on-call weeks"),
    (f"swap <@{MARCUS}|marcus> {KELLY_WEEK}", "Usage: `/oncall swap"),
    (f"handover <@{MARCUS}|marcus> soon", "is not a week"),
    (f"reassign {KELLY_WEEK} <@{TOM}|tom> ill", "Only an approver"),
])
def test_refusals_are_answered_and_change_nothing(slack, text, refusal):
    answer = slack.command(text, user=KELLY).json()["text"]
    assert refusal in answer
    assert swaps.list_requests(slack.store, include_all=True) == []


def test_a_week_in_a_pending_request_is_refused(slack):
    slack.command(f"swap marcus {KELLY_WEEK} {MARCUS_WEEK}", user=KELLY)  # a team member id works too
    answer = slack.command(f"handover <@{PRIYA}|priya> {MARCUS_WEEK}", user=MARCUS).json()["text"]
    assert "already part of a pending request" in answer


def test_decline_with_a_reason_tells_the_requester(slack):
    slack.command(f"handover <@{MARCUS}|marcus> {KELLY_WEEK}", user=KELLY)
    press(slack, "swap_decline", last_dm(slack, MARCUS), MARCUS)
    (modal,) = slack.calls("views.open")
    assert modal["view"]["callback_id"] == "swap.reason"
    slack.interact({"type": "view_submission", "user": {"id": MARCUS, "team_id": "T1"},
                    "view": {"id": "V1", "type": "modal", "callback_id": "swap.reason",
                             "private_metadata": modal["view"]["private_metadata"],
                             "state": {"values": {"reason": {"reason_input": {"type": "plain_text_input",
                                                                              "value": "away that week"}}}}}})
    declined = last_dm(slack, KELLY)["text"]
    assert "Marcus Brown declined your handover" in declined and declined.endswith(": away that week.")
    assert button_ids(slack.fake.dms_to(MARCUS)[0]["blocks"]) == []
    press(slack, "swap_decline", slack.fake.dms_to(KELLY)[0] | {"blocks": [{"type": "actions", "elements": [
        {"action_id": "swap_decline", "value": "1"}]}]}, MARCUS)
    assert answers(slack)[-1].startswith("Declined by Marcus Brown")


def test_cancel_by_the_requester_redraws_the_colleagues_dm(slack):
    slack.command(f"handover <@{MARCUS}|marcus> {KELLY_WEEK}", user=KELLY)
    press(slack, "swap_cancel", last_dm(slack, KELLY), KELLY)
    assert "Kelly Nguyen cancelled the handover" in last_dm(slack, MARCUS)["text"]
    assert button_ids(slack.fake.dms_to(MARCUS)[0]["blocks"]) == []


def test_reassign_by_an_approver(slack, tmp_path, monkeypatch):
    text = slack.command(f"reassign 2026-11-23 <@{TOM}|tom> Aisha is ill", user=DANA).json()["text"]
    assert text.startswith("Reassigned")
    who = json.loads(cli(slack, tmp_path, monkeypatch, "who", "--at", "2026-11-24T22:00:00-08:00", "--json"))
    assert who["current"]["person"]["id"] == "tom"
    assert "Aisha is ill" in last_dm(slack, AISHA)["text"] and "Aisha is ill" in last_dm(slack, OMAR)["text"]


def test_swap_alone_opens_the_request_modal_with_my_weeks_and_the_teams(slack):
    slack.command("swap", user=KELLY)
    (opened,) = slack.calls("views.open")
    view = opened["view"]
    assert view["callback_id"] == "swap.request"
    mine = view["blocks"][0]["element"]["options"]
    assert mine[0]["value"] == KELLY_WEEK
    theirs = [o["value"] for o in view["blocks"][1]["element"]["options"]]
    assert f"{MARCUS_WEEK}|marcus" in theirs and "handover|marcus" in theirs
    slack.interact({"type": "view_submission", "user": {"id": KELLY, "team_id": "T1"},
                    "view": {"id": "V2", "type": "modal", "callback_id": "swap.request", "private_metadata": "",
                             "state": {"values": {
                                 "mine": {"mine_input": {"type": "static_select",
                                                         "selected_option": {"value": KELLY_WEEK}}},
                                 "theirs": {"theirs_input": {"type": "static_select",
                                                             "selected_option": {"value": f"{MARCUS_WEEK}|marcus"}}},
                                 "note": {"note_input": {"type": "plain_text_input", "value": "thanks!"}}}}}})
    assert button_ids(last_dm(slack, MARCUS)["blocks"]) == ["swap_accept", "swap_decline"]
    assert "thanks!" in last_dm(slack, MARCUS)["text"]


def open_home(slack, user: str) -> list[dict]:
    slack.event({"type": "app_home_opened", "user": user, "channel": "D0HOME0000", "tab": "home",
                 "event_ts": "1.000001"})
    return slack.calls("views.publish")[-1]["view"]["blocks"]


def test_app_home_shows_my_weeks_with_a_swap_button_what_waits_on_me_and_the_approvers_queue(slack):
    blocks = open_home(slack, KELLY)
    swap_buttons = [b["accessory"]["value"] for b in blocks
                    if b.get("accessory", {}).get("action_id") == "swap.home_swap"]
    assert swap_buttons[0] == KELLY_WEEK
    slack.command(f"swap <@{MARCUS}|marcus> {KELLY_WEEK} {MARCUS_WEEK}", user=KELLY)
    marcus_home = open_home(slack, MARCUS)
    assert "Swap requests waiting on you" in block_texts(marcus_home)
    assert button_ids(marcus_home) == ["swap_accept", "swap_decline"]
    press(slack, "swap_accept", last_dm(slack, MARCUS), MARCUS)
    dana_home = open_home(slack, DANA)
    assert "Approvers' queue" in block_texts(dana_home)
    assert button_ids(dana_home) == ["swap_approve", "swap_reject", "swap.home_reassign"]
    assert "Approvers' queue" not in block_texts(open_home(slack, PRIYA))

    # The Swap button of a week opens the request modal with that week picked.
    home = open_home(slack, PRIYA)
    (button,) = [b for b in home if b.get("accessory", {}).get("action_id") == "swap.home_swap"][:1]
    slack.interact({"type": "block_actions", "user": {"id": PRIYA, "team_id": "T1"}, "trigger_id": "9.1.trigger",
                    "response_url": f"{slack.fake.url}/response/x", "container": {"type": "view", "view_id": "VH"},
                    "actions": [{"type": "button", "action_id": "swap.home_swap",
                                 "value": button["accessory"]["value"], "action_ts": "1.000002"}]})
    view = slack.calls("views.open")[-1]["view"]
    assert view["blocks"][0]["element"]["initial_option"]["value"] == button["accessory"]["value"]


def test_an_approver_reassigns_a_week_from_app_home_with_a_required_reason(slack, tmp_path, monkeypatch):
    home = open_home(slack, DANA)
    assert "swap.home_reassign" in button_ids(home)
    assert "swap.home_reassign" not in button_ids(open_home(slack, KELLY))
    slack.interact({"type": "block_actions", "user": {"id": DANA, "team_id": "T1"}, "trigger_id": "8.1.trigger",
                    "response_url": f"{slack.fake.url}/response/x", "container": {"type": "view", "view_id": "VH"},
                    "actions": [{"type": "button", "action_id": "swap.home_reassign", "value": "reassign",
                                 "action_ts": "1.000003"}]})
    view = slack.calls("views.open")[-1]["view"]
    assert view["blocks"][0]["element"]["options"][0]["value"] == "2026-11-23"  # the running week too

    def submit(reason: str):
        values = {"week": {"week_input": {"type": "static_select", "selected_option": {"value": "2026-11-23"}}},
                  "to": {"to_input": {"type": "static_select", "selected_option": {"value": "tom"}}},
                  "reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}
        return slack.interact({"type": "view_submission", "user": {"id": DANA, "team_id": "T1"},
                               "view": {"id": "V3", "type": "modal", "callback_id": "swap.reassign",
                                        "private_metadata": "", "state": {"values": values}}})

    refused = submit(" ").json()
    assert refused["response_action"] == "errors" and "a reason is required" in refused["errors"]["reason"]
    assert submit("Aisha is ill").status_code == 200
    who = json.loads(cli(slack, tmp_path, monkeypatch, "who", "--at", "2026-11-24T22:00:00-08:00", "--json"))
    assert who["current"]["person"]["id"] == "tom"
    assert "Aisha is ill" in last_dm(slack, AISHA)["text"]


def test_a_stranger_can_neither_ask_nor_press(slack):
    from tests.harness.slack import REFUSAL, STRANGER

    assert slack.command(f"swap <@{MARCUS}|marcus> {KELLY_WEEK} {MARCUS_WEEK}", user=STRANGER).json()["text"] \
        .startswith(REFUSAL)
    slack.command(f"handover <@{MARCUS}|marcus> {KELLY_WEEK}", user=KELLY)
    press(slack, "swap_accept", last_dm(slack, MARCUS), STRANGER)
    assert answers(slack)[-1].startswith(REFUSAL)
    assert [r.state.value for r in swaps.list_requests(slack.store)] == ["requested"]
