"""The web view in a real browser (issue 13, item 10): Debian's headless Chromium driven by Selenium through
Debian's chromedriver (nothing downloaded). A manager signs in from the link the fake Slack received, sees the
quarter with a swapped week and a gap, approves a pending swap and `oncallbot who` names the new person; an
open page's countdown reaches zero and the step it fired appears without a reload. Each view is saved as a
screenshot, at desktop width and at 375 px, under the test's temporary directory (`screenshots/`)."""

import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from oncallbot.entrypoints.cli import main
from oncallbot.services import paging, swaps
from tests.harness.clock import FakeClock
from tests.harness.web import GAP_WEEK, LiveServer, WebBot, free_socket, next_week_of

CHROMIUM = os.environ.get("ONCALLBOT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ONCALLBOT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
IN_CI = os.environ.get("CI", "").lower() == "true"
WAIT = 20  # seconds: how long a condition may take to hold before the test fails


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() or shutil.which(path)):
            return f"{path} not found: apt-get install {package} (.ci/run installs it)"
    return None


@pytest.fixture
def browser():
    if reason := _missing():
        if IN_CI:
            pytest.fail(f"browser tests must run under CI=true: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture
def live(tmp_path, sqlite_url, fake, monkeypatch):
    monkeypatch.setenv("ONCALLBOT_DATABASE_URL", sqlite_url)  # `oncallbot who` on the bot's database
    sock = free_socket()
    bot = WebBot(tmp_path, sqlite_url, fake, public_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = LiveServer(bot, sock)
    yield bot, server
    server.close()
    bot.close()


def wait_for(driver, condition, what: str):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The view redraws cards in place: an element found just before a redraw is gone when read, so look again.
    return WebDriverWait(driver, WAIT, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(lambda d: condition(d), message=what)


def screenshots(driver, tmp_path: Path, name: str) -> None:
    """The view at desktop width and on a phone (375 px), full height."""
    folder = tmp_path / "screenshots"
    folder.mkdir(exist_ok=True)
    for width in (1280, 375):
        driver.set_window_size(width, 1000)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height, 600), 6000))
        driver.execute_script("window.scrollTo(0, 0)")
        assert driver.save_screenshot(str(folder / f"{name}-{width}.png"))
        if width == 375:  # nothing wider than the phone: no sideways scrolling of the page itself
            assert driver.execute_script("return document.documentElement.scrollWidth") <= 375
    driver.set_window_size(1280, 1000)


def sign_in(driver, bot, server, person: str) -> None:
    from selenium.webdriver.common.by import By

    link = bot.sign_in_link(person)
    assert link.startswith(server.url)
    driver.get(link)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: d.current_url == f"{server.url}/web/rotation", "signed in on the rotation")


def test_a_manager_signs_in_from_slack_sees_the_quarter_and_approves_a_swap(browser, live, tmp_path, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    bot, server = live
    procedure, now = bot.container.procedure, bot.clock.now()
    after = now.date() + timedelta(days=6)
    # One swap already applied (Kelly and Marcus), one waiting for an approver (Tom and Aisha).
    done = swaps.request_swap(bot.store, procedure, "kelly", "marcus", next_week_of("kelly", after).isoformat(),
                              next_week_of("marcus", after).isoformat(), now).request
    swaps.accept(bot.store, procedure, done.id, "marcus", now)
    swaps.approve(bot.store, procedure, done.id, "omar", now)
    tom_week, aisha_week = next_week_of("tom", after), next_week_of("aisha", after)
    pending = swaps.request_swap(bot.store, procedure, "tom", "aisha", tom_week.isoformat(), aisha_week.isoformat(),
                                 now).request
    swaps.accept(bot.store, procedure, pending.id, "aisha", now)
    bot.answered_pages(date(2026, 11, 9), "tom", [2, 4, 30])  # weeks before: something to chart
    bot.answered_pages(date(2026, 11, 16), "kelly", [5, None])

    sign_in(browser, bot, server, "dana")
    gap = browser.find_element(By.ID, f"week-{GAP_WEEK}")
    assert "gap" in gap.get_attribute("class").split() and "Nobody assigned" in gap.text
    swapped = browser.find_element(By.ID, f"week-{next_week_of('kelly', after)}")
    assert "changed" in swapped.get_attribute("class").split()
    assert "Swap: was Kelly Nguyen, approved by Omar Haddad" in swapped.text
    assert browser.find_element(By.ID, "contacts").is_displayed()  # an approver sees the (masked) contacts
    screenshots(browser, tmp_path, "rotation")

    browser.find_element(By.LINK_TEXT, "Swaps").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, f"approve-{pending.id}"), "the pending swap's Approve")
    screenshots(browser, tmp_path, "swaps")
    approve = browser.find_element(By.ID, f"approve-{pending.id}")
    for _ in range(30):  # the keyboard alone reaches the button (skip link, nav, sign out, then the queue)
        if browser.switch_to.active_element == approve:
            break
        ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element == approve
    approve.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice")
             and "Approved and applied" in d.find_element(By.CSS_SELECTOR, ".notice").text, "the approval's notice")
    assert not browser.find_elements(By.ID, f"approve-{pending.id}")

    at = procedure.window.bounds(tom_week)[0] + timedelta(hours=2)
    code = main(["who", "--json", "--at", at.isoformat(), "--config", str(bot.config_path)], clock=FakeClock(now))
    assert code == 0 and json.loads(capsys.readouterr().out)["current"]["person"]["id"] == "aisha"

    browser.find_element(By.LINK_TEXT, "Response").click()
    wait_for(browser, lambda d: d.current_url.endswith("/web/response"), "the response view")
    chart = browser.find_element(By.ID, "response-tom")
    assert "67%" in chart.text and chart.find_elements(By.TAG_NAME, "svg")
    screenshots(browser, tmp_path, "response")


def test_an_open_pages_countdown_reaches_zero_and_the_step_appears_without_a_reload(browser, live, tmp_path):
    from selenium.webdriver.common.by import By

    bot, server = live
    procedure = bot.container.procedure
    page, _ = paging.open_api_page(bot.store, procedure, paging.NewPage(summary="Voicemail: printer on fire",
                                                                        source="api"), bot.clock.now())
    bot.clock.advance(procedure.ack_window - timedelta(seconds=3))  # three seconds left on the clock
    sign_in(browser, bot, server, "tom")
    assert not browser.find_elements(By.ID, "contacts")  # a member: no contact details
    browser.find_element(By.CSS_SELECTOR, ".week.mine details.swap summary").click()  # Request a swap, opened
    screenshots(browser, tmp_path, "rotation-member")
    browser.find_element(By.LINK_TEXT, "Pages").click()
    card = f"#page-{page.id}"
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"{card} .countdown"), "the page's countdown")
    browser.execute_script("window.__sameDocument = true")  # gone if the page reloads
    assert browser.find_element(By.CSS_SELECTOR, f"{card} .step-due").is_displayed()
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"{card} .countdown").text == "0:00",
             "the countdown at zero")
    screenshots(browser, tmp_path, "pages-due")

    bot.clock.advance(timedelta(seconds=3))
    paging.fire_due_escalations(bot.store, procedure, bot.clock.now())
    bot.container.deliver_now()  # Twilio is off here: the console notifier sends the SMS and the call
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"{card} .step-ran"), "step 1 shown as ran")
    step = browser.find_element(By.CSS_SELECTOR, f"{card} .step-ran").text
    assert step.startswith("Step 1 (ran)") and "Marcus Brown" in step and "by SMS, call" in step  # on call now
    wait_for(browser, lambda d: "Marcus Brown by SMS (sent" in d.find_element(By.CSS_SELECTOR, card).text
             and "Marcus Brown by call (sent" in d.find_element(By.CSS_SELECTOR, card).text,
             "by which channels the step reached them")
    assert browser.execute_script("return window.__sameDocument === true")  # updated in place
    screenshots(browser, tmp_path, "pages-stepped")
