"""The managers' web view over HTTP (issue 13, items 1-6): sign-in through a link DM'd by Slack, sessions,
CSRF, who sees what, the rotation, pages, swap queue and response numbers (equal to `oncallbot report`)."""

import csv
import io
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from starlette.routing import Mount

from oncallbot.entrypoints.cli import main
from oncallbot.entrypoints.web import web_routes
from oncallbot.services import paging, swaps
from tests.harness.clock import FakeClock
from tests.harness.web import GAP_WEEK, NOW, WebBot, next_week_of


@pytest.fixture
def bot(tmp_path, sqlite_url, fake):
    bot = WebBot(tmp_path, sqlite_url, fake)
    yield bot
    bot.close()


@pytest.fixture
def bot_db(tmp_path, database_url, fake):
    bot = WebBot(tmp_path, database_url, fake)
    yield bot
    bot.close()


def swap_weeks():
    """Tom's and Aisha's first weeks far enough ahead for a swap (5 days' notice)."""
    after = NOW.date() + timedelta(days=6)
    return next_week_of("tom", after), next_week_of("aisha", after)


def accepted_swap(bot):
    procedure, now = bot.container.procedure, bot.clock.now()
    mine, theirs = swap_weeks()
    request = swaps.request_swap(bot.store, procedure, "tom", "aisha", mine.isoformat(), theirs.isoformat(), now)
    swaps.accept(bot.store, procedure, request.request.id, "aisha", now)
    return request.request, mine


def token_of(link: str) -> str:
    return urlsplit(link).query.split("=", 1)[1]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- signing in --------------------------------------------------------------------------------------


def test_every_page_of_the_web_view_refuses_a_visitor_without_a_session(bot):
    routes = [r for r in web_routes(bot.container) if not isinstance(r, Mount)]
    checked = 0
    for route in routes:
        if route.path.startswith("/web/sign-in") or route.path.startswith("/feeds/"):
            continue  # the link itself, and the feeds (their own token)
        path = route.path.replace("{request_id:int}", "1")
        for method in route.methods - {"HEAD"}:
            response = bot.http.request(method, path, follow_redirects=False)
            assert response.status_code == 401, (method, path, response.status_code)
            assert "/oncall web" in response.text
            checked += 1
    assert checked == 11  # every route of the view but the sign-in link and the static files


def test_a_sign_in_link_from_slack_signs_in_once_within_ten_minutes(bot_db):
    bot = bot_db
    link = bot.sign_in_link("dana")
    assert link.startswith("http://127.0.0.1:8080/web/sign-in?token=")
    shown = bot.http.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert shown.status_code == 200 and 'id="sign-in"' in shown.text  # a GET only shows the button
    signed = bot.http.post("/web/sign-in", data={"token": token_of(link)}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/web/rotation"
    cookie = signed.headers["set-cookie"]
    assert "oncallbot_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # server.public_url is http here
    assert "Max-Age=43200" in cookie  # web.session_expiry: 12 h by default
    assert "Dana Whitfield" in bot.http.get("/web/rotation").text

    bot.http.cookies.clear()
    again = bot.http.post("/web/sign-in", data={"token": token_of(link)})
    assert again.status_code == 403 and "already used" in again.text


def test_an_expired_or_made_up_link_is_refused_and_signs_nobody_in(bot):
    link = bot.sign_in_link("tom")
    bot.clock.advance(timedelta(minutes=10))
    expired = bot.http.post("/web/sign-in", data={"token": token_of(link)}, follow_redirects=False)
    assert expired.status_code == 403 and "expired" in expired.text
    assert "set-cookie" not in expired.headers
    made_up = bot.http.post("/web/sign-in", data={"token": "x" * 43})
    assert made_up.status_code == 403 and "not valid" in made_up.text
    assert bot.http.get("/web/rotation").status_code == 401


def test_a_session_ends_after_its_expiry_and_on_sign_out(bot_db):
    bot = bot_db
    csrf = bot.sign_in("tom")
    bot.clock.advance(timedelta(hours=11, minutes=59))
    assert bot.http.get("/web/rotation").status_code == 200
    bot.clock.advance(timedelta(minutes=1))
    assert bot.http.get("/web/rotation").status_code == 401
    bot.clock.set(NOW)
    csrf = bot.sign_in("tom")
    assert bot.http.post("/web/sign-out", data={"csrf": csrf}).status_code == 200
    assert bot.http.get("/web/rotation").status_code == 401


def test_a_secure_cookie_when_the_public_url_is_https(tmp_path, sqlite_url, fake):
    bot = WebBot(tmp_path, sqlite_url, fake, public_url="https://oncall.example.com")
    try:
        link = bot.sign_in_link("tom")
        assert link.startswith("https://oncall.example.com/web/sign-in?token=")
        signed = bot.http.post("/web/sign-in", data={"token": token_of(link)}, follow_redirects=False)
        assert "Secure" in signed.headers["set-cookie"]
    finally:
        bot.close()


def test_oncall_web_and_calendar_answer_in_slack_that_the_link_is_in_a_dm(bot):
    web = bot.slack.command("web", user="U01TOM0000")
    assert "sign-in link by DM" in web.json()["text"] and web.json()["response_type"] == "ephemeral"
    calendar = bot.slack.command("calendar", user="U01TOM0000")
    assert "calendar link by DM" in calendar.json()["text"]
    assert "/web/sign-in?token=" not in web.text  # the link itself only in the DM


def test_strangers_get_no_sign_in_link(bot):
    bot.slack.command("web", user="U0STRANGER")
    assert not [m for m in bot.fake.messages() if "/web/sign-in" in (m["text"] or "")]


def test_app_home_has_a_button_that_dms_a_sign_in_link(bot):
    bot.slack.event({"type": "app_home_opened", "user": "U01TOM0000", "tab": "home"})
    view = bot.slack.calls("views.publish")[-1]["view"]
    buttons = [b["accessory"]["action_id"] for b in view["blocks"] if "accessory" in b]
    assert "web.sign_in" in buttons
    bot.slack.interact({"type": "block_actions", "user": {"id": "U01TOM0000", "team_id": "T1"},
                        "trigger_id": "1.1.trigger", "container": {"type": "view", "view_id": "V1"},
                        "actions": [{"type": "button", "action_id": "web.sign_in", "block_id": "web",
                                     "value": "web", "action_ts": "1.1"}]})
    assert any("/web/sign-in?token=" in m["text"] for m in bot.fake.dms_to("U01TOM0000"))


# --- CSRF and roles ----------------------------------------------------------------------------------


def test_a_change_without_the_sessions_csrf_token_is_refused_and_changes_nothing(bot):
    bot.sign_in("tom")
    mine, theirs = swap_weeks()
    refused = bot.http.post("/web/swaps/request", data={"week": mine.isoformat(), "their_week": theirs.isoformat(),
                                                        "csrf": "forged"})
    assert refused.status_code == 403 and "reload the page" in refused.text
    assert swaps.list_requests(bot.store) == []


def test_a_form_posted_from_another_site_is_refused_even_with_the_token(bot):
    link = bot.sign_in_link("tom")
    forged = bot.http.post("/web/sign-in", data={"token": token_of(link)}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    csrf = bot.sign_in("tom")
    mine, theirs = swap_weeks()
    refused = bot.http.post("/web/swaps/request", headers={"Origin": "https://evil.example"},
                            data={"csrf": csrf, "week": mine.isoformat(), "their_week": theirs.isoformat()})
    assert refused.status_code == 403 and swaps.list_requests(bot.store) == []
    ours = bot.http.post("/web/sign-out", data={"csrf": csrf}, headers={"Origin": "http://127.0.0.1:8080"})
    assert ours.status_code == 200  # server.public_url's origin


def test_members_see_no_contacts_and_no_swap_queue_approvers_see_both_masked(bot):
    bot.sign_in("tom")
    page = bot.http.get("/web/rotation").text
    assert "Contacts" not in page and "+1415555" not in page and "@example.com" not in page
    assert bot.http.get("/web/swaps").status_code == 403
    assert bot.http.post("/web/swaps/1/approve", data={"csrf": "x"}).status_code == 403
    bot.http.cookies.clear()
    bot.sign_in("omar")
    page = bot.http.get("/web/rotation").text
    assert 'id="contacts"' in page
    assert "+14155550106" not in page and "tom.becker@example.com" not in page  # masked, as in `contacts`
    assert bot.http.get("/web/swaps").status_code == 200


# --- rotation, swaps ---------------------------------------------------------------------------------


def test_the_rotation_shows_the_quarter_and_the_next_with_the_gap_in_red_and_my_weeks(bot):
    bot.sign_in("tom")
    html = bot.http.get("/web/rotation").text
    weeks = re.findall(r'id="week-(\d{4}-\d\d-\d\d)"', html)
    assert weeks[0] == "2026-10-05" and weeks[-1] == "2027-03-29"  # Q4 2026 and Q1 2027
    gap = html.split(f'id="week-{GAP_WEEK}"')[0].rsplit("<li", 1)[1]
    assert "gap" in gap
    assert "Nobody assigned" in text_of(html.split(f'id="week-{GAP_WEEK}"')[1].split("</li>")[0])
    mine = next_week_of("tom", NOW.date())
    assert "mine" in html.split(f'id="week-{mine}"')[0].rsplit("<li", 1)[1]
    assert "Holiday Thu Dec 24" in text_of(html)  # holidays.extra_dates


def test_a_swap_requested_from_the_web_goes_through_the_same_service_and_messages(bot):
    csrf = bot.sign_in("tom")
    mine, theirs = swap_weeks()
    response = bot.http.post("/web/swaps/request", data={"csrf": csrf, "week": mine.isoformat(),
                                                         "their_week": theirs.isoformat(), "note": "wedding"})
    assert response.status_code == 200 and "Sent to Aisha Khan to accept" in response.text
    [request] = swaps.list_requests(bot.store)
    assert (request.requester_id, request.counterpart_id, request.requester_week) == ("tom", "aisha", mine)
    assert any("Tom Becker asks you to accept" in m["text"] for m in bot.fake.dms_to("U01AISHA00"))
    # The same rules as Slack: a week starting within 5 days is refused, with its reason.
    soon = next_week_of("tom", NOW.date() - timedelta(days=7))
    refused = bot.http.post("/web/swaps/request", data={"csrf": csrf, "week": soon.isoformat(),
                                                        "their_week": theirs.isoformat()})
    assert "notice" in refused.text.lower() or "started" in refused.text.lower()
    assert len(swaps.list_requests(bot.store)) == 1


def test_an_approver_approves_from_the_web_and_who_says_so(bot, capsys, monkeypatch, sqlite_url):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", sqlite_url)  # the CLI on the bot's database
    procedure, now = bot.container.procedure, bot.clock.now()
    request, mine = accepted_swap(bot)
    csrf = bot.sign_in("dana")
    queue = bot.http.get("/web/swaps").text
    assert f'id="approve-{request.id}"' in queue and "Tom Becker" in queue and "Aisha Khan" in queue
    done = bot.http.post(f"/web/swaps/{request.id}/approve", data={"csrf": csrf})
    assert "Approved and applied" in done.text
    assert swaps.get_request(bot.store, request.id).state.value == "applied"
    at = procedure.window.bounds(mine)[0] + timedelta(hours=2)
    code = main(["who", "--json", "--at", at.isoformat(), "--config", str(bot.config_path)],
                clock=FakeClock(now))
    assert code == 0 and json.loads(capsys.readouterr().out)["current"]["person"]["id"] == "aisha"
    rotation = bot.http.get("/web/rotation").text
    week = rotation.split(f'id="week-{mine}"')[1].split("</li>")[0]
    assert "Swap: was Tom Becker, approved by Dana Whitfield" in text_of(week)
    history = bot.http.get("/web/swaps").text
    assert "applied" in history.split('id="history"')[1]


def test_the_queue_says_why_a_request_cannot_be_approved_yet_and_offers_reject(bot):
    procedure, now = bot.container.procedure, bot.clock.now()
    mine, theirs = swap_weeks()
    request = swaps.request_swap(bot.store, procedure, "tom", "aisha", mine.isoformat(), theirs.isoformat(), now)
    bot.sign_in("dana")
    queue = bot.http.get("/web/swaps").text
    card = queue.split(f'id="request-{request.request.id}"')[1].split("</article>")[0]
    assert "Aisha Khan has not accepted yet" in card
    assert f'id="approve-{request.request.id}"' not in card and f'id="reject-{request.request.id}"' in card


def test_an_approver_rejects_with_a_reason(bot):
    request, _ = accepted_swap(bot)
    csrf = bot.sign_in("omar")
    response = bot.http.post(f"/web/swaps/{request.id}/reject", data={"csrf": csrf, "reason": "too many changes"})
    assert "Rejected" in response.text
    assert any("rejected" in m["text"] and "too many changes" in m["text"] for m in bot.fake.dms_to("U01TOM0000"))


# --- pages and response ------------------------------------------------------------------------------


def open_page(bot, summary="Voicemail from a customer"):
    procedure = bot.container.procedure
    page, _ = paging.open_api_page(bot.store, procedure, paging.NewPage(summary=summary, source="api"),
                                   bot.clock.now())
    return page


def test_open_pages_show_their_countdown_steps_and_timeline(bot):
    page = open_page(bot)
    bot.sign_in("tom")
    html = bot.http.get("/web/pages").text
    card = html.split(f'id="page-{page.id}"')[1].split("</article>")[0]
    assert 'data-remaining="900"' in card and ">15:00<" in card  # the 15-minute window, readable without JS
    assert "Step 1 (due at" in text_of(card) and "by SMS, call" in text_of(card)
    fragment = bot.http.get("/web/pages/open")
    assert fragment.status_code == 200 and f'id="page-{page.id}"' in fragment.text and "<html" not in fragment.text


def test_the_last_30_days_filter_by_source_and_outcome(bot):
    first = open_page(bot, "first")
    bot.sign_in("tom")
    assert "#" + str(first.id) in bot.http.get("/web/pages?source=api").text.split('id="recent"')[1]
    assert "No pages match" in bot.http.get("/web/pages?outcome=done").text
    assert "#" + str(first.id) in bot.http.get("/web/pages?person=marcus").text.split('id="recent"')[1]  # on call
    assert "No pages match" in bot.http.get("/web/pages?person=kelly").text
    assert bot.http.get("/web/pages?outcome=bogus").status_code == 400


def test_response_numbers_equal_the_weekly_report(bot_db, capsys, monkeypatch, database_url):
    bot = bot_db
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", database_url)  # the CLI on the bot's database
    procedure = bot.container.procedure
    week_start = procedure.window.bounds(next_week_of("tom", NOW.date() - timedelta(days=60)))[0]
    bot.clock.set(week_start + timedelta(hours=6))
    for minutes in (3, 9, 40):
        page = open_page(bot, f"after {minutes}")
        bot.clock.advance(timedelta(minutes=minutes))
        paging.acknowledge_page(bot.store, procedure, page.id, "tom", "on_it", "slack", bot.clock.now())
    bot.clock.set(NOW)
    bot.sign_in("omar")
    rows = list(csv.DictReader(io.StringIO(bot.http.get("/web/response.csv").text)))
    week = week_start.astimezone(procedure.window.tz).date().isoformat()
    [tom] = [r for r in rows if r["week_start"] == week and r["responsible"] == "tom"]
    code = main(["report", "--json", "--week", week, "--config", str(bot.config_path)], clock=FakeClock(NOW))
    env_report = json.loads(capsys.readouterr().out)
    [reported] = [p for p in env_report["people"] if p["responsible"] == "tom"]
    assert code == 0
    assert int(tom["pages"]) == reported["pages"] == 3
    assert float(tom["share_within_window"]) == reported["share_within_window"]
    assert float(tom["median_to_on_it_seconds"]) == reported["median_to_on_it_seconds"] == 540
    assert float(tom["p90_to_on_it_seconds"]) == reported["p90_to_on_it_seconds"]
    assert int(tom["missed"]) == reported["missed"]
    chart = bot.http.get("/web/response").text.split('id="response-tom"')[1].split("</section>")[0]
    assert "<svg" in chart and "67%" in chart and "9:00" in chart


def test_pages_say_no_store_and_forbid_other_origins_scripts(bot):
    bot.sign_in("tom")
    response = bot.http.get("/web/rotation")
    assert response.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "same-origin"
    assert bot.http.get("/web/static/app.js").status_code == 200


# --- accessibility: labelled controls, contrast ------------------------------------------------------


def test_every_form_control_has_a_label(bot):
    bot.sign_in("omar")
    accepted_swap(bot)
    open_page(bot)
    for path in ("/web/rotation", "/web/pages", "/web/swaps", "/web/response"):
        html = bot.http.get(path).text
        controls = re.findall(r"<(?:select|input)\b[^>]*>", html)
        visible = [c for c in controls if 'type="hidden"' not in c]
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        for control in visible:
            match = re.search(r'id="([^"]+)"', control)
            assert match and match.group(1) in labelled, (path, control)


def _luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_contrast_is_at_least_4_5_to_1_on_every_background_it_is_drawn_on():
    from oncallbot.entrypoints.web import STATIC

    css = (STATIC / "app.css").read_text()
    colours = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6})", css))
    white, bar = "#ffffff", "#f5f5f5"
    pairs = [("text", white), ("muted", white), ("muted", bar), ("text", bar), ("link", white), ("link", bar),
             ("text", "mine"), ("link", "mine"), ("muted", "mine"), ("text", "changed"), ("muted", "changed"),
             ("text", "gap"), ("gap-text", "gap"), ("muted", "gap"), ("holiday", white), ("holiday", "changed"),
             ("holiday", "gap"), ("holiday", "mine"), ("gap-text", white)]
    for foreground, background in pairs:
        fg, bg = colours[foreground], colours.get(background, background)
        assert contrast(fg, bg) >= 4.5, (foreground, background, round(contrast(fg, bg), 2))
    assert contrast("#ffffff", "#0b57d0") >= 4.5  # the primary button
