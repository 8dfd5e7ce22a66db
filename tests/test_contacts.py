"""Issue 10, items 7 and 8: verified contact details (a code texted to a new or changed number, confirmed by an
SMS reply or in a Slack modal; the approvers' messages say "unverified number"; one reminder after 48 hours;
numbers normalized; a shared number is a config error) and each person's channel order (`/oncall channels`,
used by the escalation steps, shown in App Home and `oncallbot contacts`, audited)."""

import json
import re
from datetime import timedelta

import pytest
import yaml

from oncallbot import bootstrap
from oncallbot.config import ConfigError, parse_settings
from oncallbot.domain import wording
from oncallbot.domain.audit import AuditSubject
from oncallbot.domain.contacts import MAX_ATTEMPTS, code_in, ordered_channels, parse_channel_order
from oncallbot.entrypoints import scheduler
from oncallbot.entrypoints.cli import main
from oncallbot.services import contacts, paging
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG, example_data
from tests.harness.slack import AISHA as AISHA_SLACK_ID
from tests.harness.twilio import AISHA, AISHA_SLACK, DANA_SLACK, OMAR_SLACK, sms_reply

KELLY = "+14155550101"
CODE_SMS = re.compile(r"your code is (\d{6})\b")


def button_ids(blocks) -> list[str]:
    """Buttons in actions blocks and as section accessories (App Home)."""
    ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    return ids + [b["accessory"]["action_id"] for b in blocks if "accessory" in b]


def codes_to(bot, number: str = AISHA) -> list[str]:
    return [m[1] for sms in bot.twilio.sms_to(number) if (m := CODE_SMS.search(sms["body"]))]


def verified(store, procedure, person_id: str = "aisha") -> bool | None:
    return next(v.verified for v in contacts.contacts(store, procedure.team) if v.person_id == person_id)


# --- the rules ----------------------------------------------------------------------------------------------

def test_a_reply_is_a_code_only_when_it_is_six_digits_alone():
    assert code_in(" 042917. ") == "042917"
    assert [code_in(t) for t in ("1", "ok", "done 42", "on it 123456", "1234567", "12345")] == [None] * 6


def test_the_channel_order_reorders_a_step_without_adding_or_dropping_channels():
    assert ordered_channels(["sms", "voice"], ("voice", "sms", "slack")) == ["voice", "sms"]
    assert ordered_channels(["sms", "voice", "slack"], ("slack",)) == ["slack", "sms", "voice"]
    assert ordered_channels(["sms"], ("voice", "slack")) == ["sms"]
    assert parse_channel_order(["call", "sms"], ("sms", "voice", "slack")) == ("voice", "sms")
    for words, problem in ((["fax"], "not a channel"), (["sms", "text"], "named twice"), ([], "at least one")):
        with pytest.raises(ValueError, match=problem):
            parse_channel_order(words, ("sms", "voice", "slack"))
    with pytest.raises(ValueError, match="do not page on Slack"):
        parse_channel_order(["slack"], ("sms", "voice"))


# --- numbers in the config -------------------------------------------------------------------------------------

def test_numbers_are_stored_normalized_and_matched_in_any_written_form():
    data = example_data()
    data["people"][4]["phone"] = "+1 (415) 555-0105"
    team = parse_settings(data, EXAMPLE_CONFIG.parent).team_model()
    assert team.person("aisha").phone == AISHA
    assert team.by_phone(AISHA).id == "aisha"


def test_a_number_two_people_share_is_a_config_error_naming_the_key(tmp_path, capsys):
    data = example_data()
    data["people"][2]["phone"] = "+1 415-555-0102"  # Marcus's number, written differently
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, EXAMPLE_CONFIG.parent)
    assert caught.value.problems == [
        'people[2].phone: the same number as people[1] ("marcus"); a number belongs to one person '
        "(replies and keypresses are matched by it)"]
    data["rotation"]["ical"] = str(EXAMPLE_CONFIG.parent / data["rotation"]["ical"])
    path = tmp_path / "oncallbot.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["contacts", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "people[2].phone: the same number as people[1]" in err and "5550102" not in err


# --- verification by SMS ---------------------------------------------------------------------------------------

def test_a_new_number_is_texted_one_code_and_replying_with_it_verifies_without_acknowledging_a_page(
        make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()  # Aisha has been texted and called for a page
    scheduler.verify_contacts_job(bot.container)
    scheduler.verify_contacts_job(bot.container)  # the next tick: no second code
    [code] = codes_to(bot)
    assert len(codes_to(bot, KELLY)) == 1
    assert verified(bot.store, bot.procedure) is False

    assert sms_reply(bot.text_in(code)) == [wording.VERIFIED_REPLY]
    assert verified(bot.store, bot.procedure) is True
    assert verified(bot.store, bot.procedure, "kelly") is False
    assert bot.page(page_id)["state"] == "open"  # a code is not an On It!
    assert sms_reply(bot.text_in("1")) == [f"On It! recorded for page #{page_id}."]  # and acks still work
    with bot.store.reading() as tx:
        [entry] = tx.audit_entries(AuditSubject.CONTACT, "aisha")
    assert (entry.kind, entry.channel, entry.actor) == ("phone_verified", "sms", "aisha")
    scheduler.verify_contacts_job(bot.container)
    assert len(codes_to(bot)) == 1  # a verified number is not texted again


def test_a_wrong_code_is_refused_and_attempts_are_limited(make_bot, database_url):
    bot = make_bot(database_url)
    scheduler.verify_contacts_job(bot.container)
    [code] = codes_to(bot)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    assert sms_reply(bot.text_in(wrong)) == [wording.WRONG_CODE_REPLY]
    for _ in range(MAX_ATTEMPTS - 1):
        bot.text_in(wrong)
    assert sms_reply(bot.text_in(code)) == [wording.LOCKED_CODE_REPLY]  # even the right one, now
    assert verified(bot.store, bot.procedure) is False


def test_an_expired_code_is_refused_and_a_new_one_is_texted(make_bot, database_url):
    bot = make_bot(database_url)
    scheduler.verify_contacts_job(bot.container)
    [old] = codes_to(bot)
    bot.clock.advance(timedelta(minutes=31))
    assert sms_reply(bot.text_in(old)) == [wording.EXPIRED_CODE_REPLY]
    assert verified(bot.store, bot.procedure) is False
    first, new = codes_to(bot)
    assert first == old
    assert sms_reply(bot.text_in(new)) == [wording.VERIFIED_REPLY]
    assert verified(bot.store, bot.procedure) is True


def test_a_changed_number_is_unverified_again_and_gets_its_own_code(make_bot, database_url):
    bot = make_bot(database_url)
    scheduler.verify_contacts_job(bot.container)
    [code] = codes_to(bot)
    bot.text_in(code)
    data = example_data()
    data["people"][4]["phone"] = "+14155550177"  # Aisha's new phone
    procedure = bootstrap.build_procedure(parse_settings(data, EXAMPLE_CONFIG.parent))
    assert verified(bot.store, procedure) is False
    assert contacts.request_verifications(bot.store, procedure, bot.clock.now()) == ["aisha"]


def test_after_48_hours_unverified_the_person_and_the_approvers_are_reminded_once(make_bot, database_url):
    bot = make_bot(database_url)
    scheduler.verify_contacts_job(bot.container)
    [kelly_code] = codes_to(bot, KELLY)
    bot.text_in(kelly_code, sender=KELLY)
    bot.clock.advance(timedelta(hours=47, minutes=59))
    scheduler.verify_contacts_job(bot.container)
    assert [t for t in bot.dms(AISHA_SLACK) if "still unverified" in t] == []
    bot.clock.advance(timedelta(minutes=1))
    scheduler.verify_contacts_job(bot.container)
    scheduler.verify_contacts_job(bot.container)
    assert [t for t in bot.dms(AISHA_SLACK) if "still unverified" in t] == [
        wording.verification_reminder_text("Aisha Khan")]
    for approver in (DANA_SLACK, OMAR_SLACK):
        overdue = [t for t in bot.dms(approver) if "'s phone number is still unverified" in t]
        assert wording.verification_overdue_text("Aisha Khan") in overdue
        assert not any("Kelly" in t for t in overdue)  # verified: no reminder
        assert len(overdue) == 8  # everyone else on the team, once each


# --- the approvers' messages say "unverified number" ---------------------------------------------------------

def test_the_approvers_alert_and_the_escalation_say_unverified_number(make_bot, database_url):
    bot = make_bot(database_url)
    scheduler.verify_contacts_job(bot.container)
    page = paging.open_test_page(bot.store, bot.procedure, timedelta(minutes=15), bot.clock.now())
    bot.container.deliver_now()
    assert len(bot.twilio.calls_to(AISHA)) == 1  # an unverified number is still called
    bot.tick(16)
    [alert] = [t for t in bot.dms(DANA_SLACK) if "was not confirmed by" in t]
    assert f"Test page #{page.id} was not confirmed by Aisha Khan (unverified number)" in alert


def test_an_escalation_pages_an_unverified_number_and_tells_the_manager(make_bot, database_url):
    bot = make_bot(database_url)
    scheduler.verify_contacts_job(bot.container)
    page_id = bot.open_page()
    bot.tick(16)
    assert len(bot.twilio.calls_to(AISHA)) == 1
    assert any("Aisha Khan (on call) by SMS (unverified number), call (unverified number)" in line
               for line in bot.thread(page_id))
    bot.tick(15)  # her direct manager, Omar, is paged next and told
    [to_omar] = [t for t in bot.dms(OMAR_SLACK) if f"#{page_id}" in t and "unverified" in t]
    assert wording.unverified_note("Aisha Khan") in to_omar


# --- channel order ---------------------------------------------------------------------------------------------

def test_the_chosen_channel_order_is_used_by_the_escalation_step(make_bot, database_url):
    bot = make_bot(database_url)
    contacts.set_channel_order(bot.store, bot.procedure, "aisha", ("voice", "sms"), bot.clock.now())
    page_id = bot.escalated_page()
    assert any("Aisha Khan (on call) by call, SMS" in line for line in bot.thread(page_id))
    with bot.store.reading() as tx:
        sent = [n.channel for n in tx.notifications_of(page_id) if n.person_id == "aisha" and n.kind == "page"]
    assert sent == ["voice", "sms"]  # queued, and so sent, call first
    with bot.store.reading() as tx:
        [entry] = tx.audit_entries(AuditSubject.CONTACT, "aisha")
    assert (entry.kind, entry.detail, entry.actor) == ("channel_order", "voice,sms", "aisha")


def test_oncall_channels_in_slack_saves_the_order_and_app_home_and_contacts_show_it(
        slack_db, capsys, monkeypatch, database_url):
    slack = slack_db
    answer = slack.command("channels call sms slack", user=AISHA_SLACK_ID)
    assert answer.json()["text"] == wording.channel_order_saved(("voice", "sms", "slack"))
    refused = slack.command("channels fax", user=AISHA_SLACK_ID).json()["text"]
    assert refused.startswith('Not changed: "fax" is not a channel')

    slack.command("channels", user=AISHA_SLACK_ID)  # no words: the modal
    [opened] = slack.calls("views.open")
    view = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
    assert view["callback_id"] == "contacts.channel_order"
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "voice,sms,slack"
    assert len(view["blocks"][0]["element"]["options"]) == 6
    response = slack.interact({
        "type": "view_submission", "user": {"id": AISHA_SLACK_ID, "username": "aisha", "team_id": "T1"},
        "trigger_id": "1.1.trigger", "response_urls": [],
        "view": {"id": "VORDER", "type": "modal", "callback_id": "contacts.channel_order", "team_id": "T1",
                 "app_id": "A0ONCALL", "private_metadata": "", "state": {"values": {"order": {"order_input": {
                     "type": "static_select", "selected_option": {"value": "slack,voice,sms"}}}}}}})
    assert response.status_code == 200

    slack.event({"type": "app_home_opened", "user": AISHA_SLACK_ID, "channel": "D0HOME0000", "tab": "home",
                 "event_ts": "1.1"})
    [published] = slack.calls("views.publish")
    home = json.dumps(published["view"]) if not isinstance(published["view"], str) else published["view"]
    assert "Channel order: Slack \\u2192 call \\u2192 SMS" in home or "Channel order: Slack → call → SMS" in home
    assert "contacts.order_open" in home

    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)
    assert main(["contacts", "--json", "--config", str(EXAMPLE_CONFIG)], clock=FakeClock(slack.clock.now())) == 0
    aisha = next(p for p in json.loads(capsys.readouterr().out)["people"] if p["id"] == "aisha")
    assert aisha["channel_order"] == ["slack", "voice", "sms"]
    assert main(["contacts", "--config", str(EXAMPLE_CONFIG)], clock=FakeClock(slack.clock.now())) == 0
    assert "  channel order: slack > voice > sms\n" in capsys.readouterr().out


# --- verification in Slack -------------------------------------------------------------------------------------

def submit_code(slack, code: str):
    return slack.interact({
        "type": "view_submission", "user": {"id": AISHA_SLACK_ID, "username": "aisha", "team_id": "T1"},
        "trigger_id": "2.1.trigger", "response_urls": [],
        "view": {"id": "VCODE", "type": "modal", "callback_id": "contacts.verify", "team_id": "T1",
                 "app_id": "A0ONCALL", "private_metadata": "", "state": {"values": {"code": {"code_input": {
                     "type": "plain_text_input", "value": code}}}}}})


def test_app_home_verify_button_opens_a_modal_where_the_code_verifies_the_number(slack_db):
    slack = slack_db
    contacts.request_verifications(slack.store, slack.container.procedure, slack.clock.now(),
                                   make_code=lambda: "314159")
    slack.event({"type": "app_home_opened", "user": AISHA_SLACK_ID, "channel": "D0HOME0000", "tab": "home",
                 "event_ts": "1.1"})
    [published] = slack.calls("views.publish")
    view = json.loads(published["view"]) if isinstance(published["view"], str) else published["view"]
    assert "contacts.verify_open" in button_ids(view["blocks"])
    assert "Phone +1 ••• ••• 0105: *unverified*" in json.dumps(view, ensure_ascii=False)

    slack.interact({"type": "block_actions", "user": {"id": AISHA_SLACK_ID, "username": "aisha", "team_id": "T1"},
                    "trigger_id": "3.1.trigger", "container": {"type": "view", "view_id": "VHOME"},
                    "view": {"id": "VHOME", "type": "home"},
                    "actions": [{"type": "button", "action_id": "contacts.verify_open", "block_id": "b",
                                 "action_ts": "1.000001"}]})
    [opened] = slack.calls("views.open")
    modal = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
    assert modal["callback_id"] == "contacts.verify"

    wrong = submit_code(slack, "271828")
    assert wrong.json() == {"response_action": "errors", "errors": {"code": wording.WRONG_CODE_REPLY}}
    assert verified(slack.store, slack.container.procedure) is False
    assert submit_code(slack, "314159").status_code == 200
    assert verified(slack.store, slack.container.procedure) is True
    assert wording.VERIFIED_REPLY in [m["text"] for m in slack.fake.dms_to(AISHA_SLACK_ID)]

    slack.event({"type": "app_home_opened", "user": AISHA_SLACK_ID, "channel": "D0HOME0000", "tab": "home",
                 "event_ts": "1.2"})
    again = slack.calls("views.publish")[-1]
    view = json.loads(again["view"]) if isinstance(again["view"], str) else again["view"]
    assert "contacts.verify_open" not in button_ids(view["blocks"])
    assert "Phone +1 ••• ••• 0105: verified" in json.dumps(view, ensure_ascii=False)


def test_the_code_goes_with_a_slack_dm_whose_button_opens_the_code_form(slack_db):
    slack = slack_db
    contacts.request_verifications(slack.store, slack.container.procedure, slack.clock.now(),
                                   make_code=lambda: "314159")
    slack.container.deliver_now()
    [dm] = [m for m in slack.fake.dms_to(AISHA_SLACK_ID) if m["blocks"]]
    assert dm["text"] == wording.verification_dm_text("+1 ••• ••• 0105")
    assert "314159" not in json.dumps(dm)  # the code itself goes only to the phone
    assert button_ids(dm["blocks"]) == ["contacts.verify_open"]
    slack.interact({"type": "block_actions", "user": {"id": AISHA_SLACK_ID, "username": "aisha", "team_id": "T1"},
                    "trigger_id": "4.1.trigger", "response_url": f"{slack.fake.url}/response/x",
                    "container": {"type": "message", "message_ts": dm["ts"], "channel_id": dm["channel"],
                                  "is_ephemeral": False},
                    "channel": {"id": dm["channel"], "name": "directmessage"},
                    "message": {"ts": dm["ts"], "text": dm["text"]},
                    "actions": [{"type": "button", "action_id": "contacts.verify_open", "block_id": "contacts-verify",
                                 "action_ts": "1.000002"}]})
    [opened] = slack.calls("views.open")
    assert opened["trigger_id"] == "4.1.trigger" and opened["view"]["callback_id"] == "contacts.verify"
    assert submit_code(slack, " 314159 ").status_code == 200
    assert verified(slack.store, slack.container.procedure) is True


def test_an_expired_code_typed_in_slack_is_refused_and_a_new_one_is_texted(slack_db):
    slack = slack_db
    contacts.request_verifications(slack.store, slack.container.procedure, slack.clock.now(),
                                   make_code=lambda: "314159")
    slack.clock.advance(timedelta(minutes=30))
    response = submit_code(slack, "314159")
    assert response.json() == {"response_action": "errors", "errors": {"code": wording.EXPIRED_CODE_REPLY}}
    assert verified(slack.store, slack.container.procedure) is False
    with slack.store.reading() as tx:
        assert tx.verification("aisha").codes_sent == 2
