"""The web view as a manager uses it: the bot `serve` builds (Slack on, the loopback FakeSlack), a published
rotation with one week missing, sign-in links asked for with `/oncall web` and read from the DM the fake
received, and the HTTP app behind a test client, or behind a real uvicorn server for the browser."""

import asyncio
import re
import socket
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from oncallbot.bootstrap import build_procedure
from oncallbot.config import load_settings
from oncallbot.entrypoints.http import create_app
from tests.harness.config import example_data, example_settings, write_config
from tests.harness.slack import NOW, SlackHarness

ROTATION = ("kelly", "marcus", "priya", "diego", "aisha", "tom")
FIRST_WEEK = date(2026, 10, 5)
GAP_WEEK = date(2026, 12, 21)  # nobody is assigned: the web view shows it in red
WEEKS = 30
SLACK_IDS = {"kelly": "U01KELLY00", "marcus": "U01MARCUS0", "priya": "U01PRIYA00", "diego": "U01DIEGO00",
             "aisha": "U01AISHA00", "tom": "U01TOM0000", "dana": "U01DANA000", "omar": "U01OMAR000",
             "rachel": "U01RACHEL0"}
NAMES = {"kelly": "Kelly Nguyen", "marcus": "Marcus Brown", "priya": "Priya Patel", "diego": "Diego Ramirez",
         "aisha": "Aisha Khan", "tom": "Tom Becker"}
LINK = re.compile(r"https?://\S+/web/sign-in\?token=[\w-]+")
FEED = re.compile(r"webcal://\S+/feeds/[\w-]+\.ics")


def owners() -> dict[date, str]:
    weeks = (FIRST_WEEK + timedelta(weeks=n) for n in range(WEEKS))
    return {w: ROTATION[n % len(ROTATION)] for n, w in enumerate(weeks) if w != GAP_WEEK}


def rotation_ics(window, weeks: dict[date, str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//web//EN"]
    for week, person in weeks.items():
        start, end = window.bounds(week)
        lines += ["BEGIN:VEVENT", f"UID:{person}-{week}@tests", "DTSTAMP:20260101T000000Z",
                  f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}",
                  f"SUMMARY:On call: {NAMES[person]}", "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def next_week_of(person: str, after: date) -> date:
    return min(w for w, p in owners().items() if p == person and w > after)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class WebBot:
    """The bot with the test rotation; `config_path` is the same configuration for the CLI."""

    def __init__(self, tmp_path: Path, database_url: str, fake, public_url: str = "http://127.0.0.1:8080"):
        window = build_procedure(example_settings()).window
        data = {**example_data(), "server": {**example_data()["server"], "public_url": public_url}}
        self.config_path = write_config(tmp_path, data, rotation_ics(window, owners()))
        self.slack = SlackHarness(database_url, fake, settings=load_settings(str(self.config_path)))
        self.fake, self.clock, self.store = fake, self.slack.clock, self.slack.store
        self.container = self.slack.container
        self.http = self.slack.http

    def close(self) -> None:
        self.slack.close()

    def sign_in_link(self, person: str) -> str:
        """`/oncall web` in Slack as the person; the link from the DM the bot sent them."""
        user = SLACK_IDS[person]
        before = len(self.fake.dms_to(user))
        self.slack.command("web", user=user)
        texts = [m["text"] for m in self.fake.dms_to(user)[before:]]
        found = [LINK.search(t) for t in texts]
        links = [m.group(0) for m in found if m]
        assert len(links) == 1, f"expected one sign-in link in the DMs to {person}, got {texts}"
        return links[0]

    def answered_pages(self, week: date, person: str, minutes: list[int | None]) -> None:
        """Pages in the night of the week's first day, each taken by `person` after so many minutes (None:
        nobody took it); the clock is back where it was after."""
        from oncallbot.services import paging

        procedure, back_to = self.container.procedure, self.clock.now()
        self.clock.set(procedure.window.bounds(week)[0] + timedelta(hours=6))
        for after in minutes:
            page, _ = paging.open_api_page(self.store, procedure, paging.NewPage(summary="Voicemail", source="api"),
                                           self.clock.now())
            if after is not None:
                self.clock.advance(timedelta(minutes=after))
                paging.acknowledge_page(self.store, procedure, page.id, person, "on_it", "slack", self.clock.now())
            self.clock.advance(timedelta(minutes=30))
        self.clock.set(back_to)

    def feed_links(self, person: str) -> list[str]:
        user = SLACK_IDS[person]
        before = len(self.fake.dms_to(user))
        self.slack.command("calendar", user=user)
        return [m.group(0) for t in self.fake.dms_to(user)[before:] for m in FEED.finditer(t["text"])]

    def sign_in(self, person: str) -> str:
        """Signed in in the test client (its cookie jar keeps the session); returns the CSRF token."""
        link = urlsplit(self.sign_in_link(person))
        token = link.query.split("=", 1)[1]
        response = self.http.post("/web/sign-in", data={"token": token}, follow_redirects=False)
        assert response.status_code == 303, response.text
        page = self.http.get("/web/rotation")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)


class LiveServer:
    """The bot's HTTP app on a real socket (uvicorn in a thread), for a browser to talk to."""

    def __init__(self, bot: WebBot, sock: socket.socket):
        self.sock = sock
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        app = create_app(bot.container, slack_app=bot.slack.bolt)
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:  # polled with a deadline, not slept on
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the web server did not start")
            self.thread.join(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


__all__ = ["NOW", "LiveServer", "WebBot", "free_socket", "next_week_of", "owners"]
