"""The weekly report's statistics as pure functions: plain page and timeline records in, numbers out."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from oncallbot.domain.reports import (
    ReportedEvent,
    ReportedPage,
    median_time,
    p90,
    page_records,
    person_summaries,
    report_week_start,
)
from oncallbot.domain.rotation import ShiftWindow
from oncallbot.domain.timelabels import WeeklyTime

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
M = timedelta(minutes=1)


def page(page_id: int, responsible: str = "aisha", source: str = "slack", state: str = "done") -> ReportedPage:
    return ReportedPage(page_id, source, state, responsible, T0, None, 0)


def taken(page_id: int, minutes: int, by: str | None, kind: str = "on_it") -> ReportedEvent:
    return ReportedEvent(page_id, kind, T0 + minutes * M, by)


@pytest.mark.parametrize(("minutes", "median", "ninetieth"), [
    ([], None, None),
    ([7], 7 * M, 7 * M),
    ([2, 4], 3 * M, 3.8 * M),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5.5 * M, 9.1 * M),
])
def test_median_and_p90_of_times_to_on_it(minutes, median, ninetieth):
    values = [n * M for n in minutes]
    assert (median_time(values), p90(values)) == (median, ninetieth)


def test_test_pages_and_not_a_ticket_are_left_out():
    records = page_records([page(1), page(2, source="test"), page(3, state="dismissed")], [], WINDOW)
    assert [r.page_id for r in records] == [1]


def test_the_first_taker_counts_even_after_an_escalation_and_a_late_answer_is_outside_the_window():
    events = [taken(1, 20, "tom", "done"), taken(1, 3, "aisha"), taken(2, 16, "aisha")]  # out of order on purpose
    (first, second) = page_records([page(1), page(2)], events, WINDOW)
    assert (first.on_it_by, first.to_on_it, first.within_window) == ("aisha", 3 * M, True)
    assert (second.to_on_it, second.within_window) == (16 * M, False)


def test_a_person_misses_what_nobody_took_or_someone_else_took_the_office_only_what_nobody_took():
    pages = [page(1), page(2), page(3), page(4, "office"), page(5, "office")]
    events = [taken(1, 5, "aisha"), taken(2, 5, "tom"), taken(4, 2, "tom")]
    aisha, office = person_summaries(page_records(pages, events, WINDOW))
    assert (aisha.responsible, aisha.pages, aisha.missed, round(aisha.share_within_window, 2)) == ("aisha", 3, 2, 0.67)
    assert (office.responsible, office.pages, office.missed, office.share_within_window) == ("office", 2, 1, 0.5)


def test_the_report_week_is_the_latest_week_that_has_ended():
    window = ShiftWindow(WeeklyTime(0, time(18, 1)), WeeklyTime(0, time(6, 59)), "America/Los_Angeles")
    assert report_week_start(window, T0) == date(2026, 11, 16)  # Mon 22:00 local: this week has not ended
    assert report_week_start(window, T0, date(2026, 11, 25)) == date(2026, 11, 23)
