"""A private calendar feed per person (issue 13, item 7): `/oncall calendar` DMs a webcal:// URL listing the
person's on-call weeks, swaps included at once; valid iCalendar (parsed back with the icalendar library); a
team feed for approvers; `oncallbot feeds revoke PERSON` stops it."""

from datetime import timedelta
from urllib.parse import urlsplit

import icalendar
import pytest

from oncallbot.entrypoints.cli import main
from oncallbot.services import swaps
from tests.harness.clock import FakeClock
from tests.harness.web import NOW, WebBot, next_week_of, owners


@pytest.fixture
def bot(tmp_path, database_url, fake, monkeypatch):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)  # the CLI on the bot's database
    bot = WebBot(tmp_path, database_url, fake)
    yield bot
    bot.close()


def fetch(bot, url: str):
    assert url.startswith("webcal://127.0.0.1:8080/feeds/")
    return bot.http.get(urlsplit(url).path)


def events(bot, url: str) -> dict:
    response = fetch(bot, url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    listed = {e.decoded("DTSTART").date(): e for e in calendar.walk("VEVENT")}
    zones = [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")]
    assert zones == (["America/Los_Angeles"] if listed else [])  # every TZID used is defined
    return listed


def test_a_persons_feed_lists_their_weeks_with_the_exact_start_and_end_in_the_team_zone(bot):
    [mine] = bot.feed_links("tom")  # a member: no team feed
    listed = events(bot, mine)
    tom_weeks = {w for w, p in owners().items() if p == "tom" and w >= (NOW - timedelta(weeks=13)).date()}
    assert set(listed) == tom_weeks
    week = min(w for w in tom_weeks if w > NOW.date())
    event = listed[week]
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert str(start.tzinfo) == "America/Los_Angeles" and event["DTSTART"].params["TZID"] == "America/Los_Angeles"
    assert (start.hour, start.minute, start.weekday()) == (18, 1, 0)
    assert (end.hour, end.minute, (end.date() - start.date()).days) == (7, 0, 7)
    assert str(event["SUMMARY"]) == "On call: Tom Becker" and event["SEQUENCE"] == 0


def test_a_swap_shows_in_both_feeds_at_once_same_uid_and_a_higher_sequence(bot):
    [tom_feed] = bot.feed_links("tom")
    before = events(bot, tom_feed)
    after = NOW.date() + timedelta(days=6)
    mine, theirs = next_week_of("tom", after), next_week_of("aisha", after)
    procedure, now = bot.container.procedure, bot.clock.now()
    request = swaps.request_swap(bot.store, procedure, "tom", "aisha", mine.isoformat(), theirs.isoformat(), now)
    swaps.accept(bot.store, procedure, request.request.id, "aisha", now)
    swaps.approve(bot.store, procedure, request.request.id, "dana", now)
    listed = events(bot, tom_feed)
    assert mine not in listed and theirs in listed  # updated at once: no sync, no cache
    assert str(listed[theirs]["SUMMARY"]) == "On call: Tom Becker (swapped)" and listed[theirs]["SEQUENCE"] == 1
    [aisha_feed] = bot.feed_links("aisha")
    aisha = events(bot, aisha_feed)
    assert mine in aisha and aisha[mine]["SEQUENCE"] == 1
    # The UID belongs to the week: a week that stayed keeps its UID and its sequence.
    stayed = min(w for w in before if w > NOW.date() and w != mine)
    assert listed[stayed]["UID"] == before[stayed]["UID"] and listed[stayed]["SEQUENCE"] == 0


def test_approvers_also_get_the_teams_feed_with_every_week(bot):
    mine, team = bot.feed_links("dana")
    assert events(bot, mine) == {}  # Dana takes no weeks
    listed = events(bot, team)
    weeks = {w for w in owners() if w >= (NOW - timedelta(weeks=13)).date()}
    assert set(listed) == weeks
    assert {str(e["SUMMARY"]) for e in listed.values()} >= {"On call: Aisha Khan", "On call: Kelly Nguyen"}


def test_feeds_revoke_stops_every_url_of_the_person(bot, capsys):
    [first] = bot.feed_links("tom")
    [second] = bot.feed_links("tom")
    [other] = bot.feed_links("aisha")
    code = main(["feeds", "revoke", "tom", "--config", str(bot.config_path)], clock=FakeClock(NOW))
    assert code == 0 and "revoked 2 calendar feed URL(s) of Tom Becker" in capsys.readouterr().out
    assert fetch(bot, first).status_code == 404 and fetch(bot, second).status_code == 404
    assert fetch(bot, other).status_code == 200


def test_feeds_revoke_of_nobody_is_bad_input(bot, capsys):
    code = main(["feeds", "revoke", "nobody-here", "--config", str(bot.config_path)], clock=FakeClock(NOW))
    assert code == 2 and "not a person of the team" in capsys.readouterr().err


def test_a_made_up_feed_token_is_not_found(bot):
    assert bot.http.get("/feeds/" + "x" * 43 + ".ics").status_code == 404
