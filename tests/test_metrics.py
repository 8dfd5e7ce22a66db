"""Issue 13, item 8: `GET /metrics` in the Prometheus text format, off unless `server.metrics: true`, with no
personal data in any label. Scraped through the HTTP app `serve` builds, after a page went through the real
Twilio and Slack clients to the loopback fakes, and parsed back with prometheus_client's own parser."""

import math
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oncallbot.entrypoints import scheduler
from oncallbot.services import paging
from tests.harness.twilio import AISHA, Bot, build_bot

WINDOW = timedelta(minutes=15)


def build(database_url, twilio, slack, metrics: bool = True) -> Bot:
    return build_bot(database_url, twilio, slack, server={"metrics": metrics})


@pytest.fixture
def bot(database_url, fakes):
    twilio, slack = fakes
    bot = build(database_url, twilio, slack)
    yield bot
    bot.close()


def scrape(bot: Bot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = bot.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_count_a_page_its_late_step_its_sends_and_its_on_it(bot):
    page_id = bot.open_page()  # through the service every intake uses; the card goes to Slack
    bot.twilio.inject("/Messages.json", status=500)  # the first text fails once and is retried
    bot.clock.advance(WINDOW + timedelta(milliseconds=300))  # the dispatcher looks 300 ms after the step's due time
    scheduler.fire_job(bot.container)
    bot.container.deliver_now()
    bot.clock.advance(timedelta(seconds=20))
    bot.container.deliver_now()  # the retry
    assert len(bot.twilio.sms_to(AISHA)) == 1
    bot.clock.advance(timedelta(minutes=2))
    bot.text_in("1")  # Aisha's On It!, 17 min 20.3 s after the page opened
    assert paging.get_page(bot.store, page_id).state == "on_it"

    metrics = scrape(bot)
    assert metrics[("oncallbot_pages_opened_total", (("source", "api"),))] == 1
    assert metrics[("oncallbot_escalation_lateness_seconds_count", ())] == 1
    assert metrics[("oncallbot_escalation_lateness_seconds_sum", ())] == pytest.approx(0.3)
    assert metrics[("oncallbot_escalation_lateness_seconds_bucket", (("le", "0.25"),))] == 0
    assert metrics[("oncallbot_escalation_lateness_seconds_bucket", (("le", "0.5"),))] == 1
    api = (("source", "api"),)
    assert metrics[("oncallbot_time_to_on_it_seconds_count", api)] == 1
    assert metrics[("oncallbot_time_to_on_it_seconds_sum", api)] == pytest.approx(17 * 60 + 20.3)
    assert metrics[("oncallbot_time_to_on_it_seconds_bucket", (("le", "900.0"), *api))] == 0  # outside the window
    sends = {labels: value for (name, labels), value in metrics.items() if name == "oncallbot_sends_total"}
    assert sends[(("channel", "sms"), ("outcome", "retried"))] == 1
    assert sends[(("channel", "sms"), ("outcome", "sent"))] >= 1
    assert sends[(("channel", "voice"), ("outcome", "sent"))] == 1
    assert sends[(("channel", "slack"), ("outcome", "sent"))] >= 1
    assert all(value == 0 for (name, _), value in metrics.items() if name == "oncallbot_check_failing")


def test_the_outbox_backlog_and_the_ages_are_read_from_the_database_at_scrape_time(bot):
    paging.open_page(bot.store, bot.procedure, paging.NewPage(summary="Ticket 4411", source="email"),
                     bot.clock.now())  # queued, not yet sent
    bot.clock.advance(timedelta(seconds=42))
    metrics = scrape(bot)
    assert metrics[("oncallbot_outbox_backlog", ())] == 1
    assert metrics[("oncallbot_outbox_oldest_unsent_age_seconds", ())] == 42
    assert metrics[("oncallbot_calendar_sync_age_seconds", ())] == 42
    assert math.isnan(metrics[("oncallbot_mailbox_check_age_seconds", ())])  # no mailbox yet
    assert metrics[("oncallbot_database_up", ())] == 1

    bot.container.deliver_now()
    checked_at = bot.clock.now() - timedelta(seconds=30)
    bot.container.mailbox_checked_at = lambda: checked_at  # what the mailbox's wiring provides
    metrics = scrape(bot)
    assert metrics[("oncallbot_outbox_backlog", ())] == 0
    assert metrics[("oncallbot_outbox_oldest_unsent_age_seconds", ())] == 0
    assert metrics[("oncallbot_mailbox_check_age_seconds", ())] == 30


def test_no_label_carries_personal_data(bot):
    bot.escalated_page()
    bot.text_in("1")
    text = bot.client.get("/metrics").text
    team = bot.procedure.team.people
    for person in team:
        for value in (person.id, person.name, person.phone, person.email, person.slack_id):
            assert not value or value not in text, value
    labels = {name for family in text_string_to_metric_families(text) for sample in family.samples
              for name in sample.labels}
    assert labels <= {"source", "channel", "outcome", "check", "le"}


def test_metrics_are_off_unless_configured(database_url, fakes):
    twilio, slack = fakes
    bot = build(database_url, twilio, slack, metrics=False)
    try:
        assert bot.client.get("/metrics").status_code == 404
        assert bot.container.metrics is None
    finally:
        bot.close()
