"""The rotation read from (and written back to) Google Calendar: the real googleapiclient, service-account
sign-in and all, against the loopback fake of Calendar API v3."""

from datetime import UTC, date, datetime, timedelta

import pytest

from oncallbot.adapters.gcal.calendar import GoogleCalendarSource, GoogleCalendarWriter, build_calendar_service
from oncallbot.bootstrap import Environment, build_procedure, build_rotation_source
from oncallbot.domain.rotation import calendar_rotation as build_rotation  # the calendar's part, no overrides
from oncallbot.errors import ConfigError, IntegrationError
from oncallbot.services.rotation import sync_rotation
from tests.harness.config import example_settings
from tests.harness.gcal import CALENDAR, FIRST_WEEK, LA, PROCEDURE, QUARTER, event_id, seed_quarter, week_item

pytestmark = pytest.mark.usefixtures("backoff_sleeps")  # googleapiclient's retries record their sleeps

START_AT = datetime(2026, 12, 1, tzinfo=UTC)
END_AT = datetime(2027, 12, 1, tzinfo=UTC)


def owners(events) -> dict[date, str]:
    rotation = build_rotation(events, PROCEDURE.team, PROCEDURE.window)
    assert rotation.problems == ()
    return {shift.week_start: shift.person_id for shift in rotation.shifts}


QUARTER_OWNERS = {week_start: person for week_start, person, _ in QUARTER}


@pytest.fixture
def gcal(gcal):
    """The quarter, in the fake calendar."""
    seed_quarter(gcal)
    return gcal


@pytest.fixture
def service(gcal, key_file):
    return build_calendar_service(key_file, api_url=gcal.url)


def source_for(service, **options) -> GoogleCalendarSource:
    return GoogleCalendarSource(service, CALENDAR, "America/Los_Angeles", **options)


def list_requests(gcal):
    return gcal.requests_to("/events", method="GET")


def test_full_sync_reads_the_quarter_over_several_pages(gcal, service):
    fetched = source_for(service, page_size=4).fetch(None, START_AT, END_AT)

    assert fetched.full and fetched.removed_ids == [] and fetched.next_sync_token
    assert owners(fetched.events) == QUARTER_OWNERS
    by_id = {e.event_id: e for e in fetched.events}
    timed, all_day = by_id[event_id(date(2027, 3, 15))], by_id[event_id(date(2027, 1, 25))]
    assert (timed.start_at, timed.all_day) == (datetime(2027, 3, 15, 18, 1, tzinfo=LA), False)  # after DST
    assert timed.attendee_emails == ("aisha.khan@example.com",)
    assert (all_day.start_at, all_day.end_at, all_day.all_day) == (
        datetime(2027, 1, 25, tzinfo=LA), datetime(2027, 2, 1, tzinfo=LA), True)
    pages = list_requests(gcal)
    assert len(pages) == 4  # 14 events, 4 a page
    assert pages[0].query["timeMin"] == ["2026-12-01T00:00:00Z"] and pages[0].query["singleEvents"] == ["true"]
    assert all("pageToken" in p.query for p in pages[1:])
    assert not any(name in p.query for p in pages for name in ("timeMax", "orderBy", "syncToken"))


def test_service_account_signs_in_once_and_its_token_is_used(gcal, service):
    source_for(service, page_size=4).fetch(None, START_AT, END_AT)

    (claims,) = gcal.assertions()
    assert claims["iss"] == "oncall-bot@p.iam.gserviceaccount.com" and "sub" not in claims
    assert claims["scope"] == "https://www.googleapis.com/auth/calendar.events"
    assert {r.headers["Authorization"] for r in list_requests(gcal)} == {"Bearer ya29.fake"}


def test_delegated_subject_is_asked_for_in_the_token_exchange(gcal, key_file):
    service = build_calendar_service(key_file, delegated_subject="oncall-admin@example.com", api_url=gcal.url)

    source_for(service).fetch(None, START_AT, END_AT)

    (claims,) = gcal.assertions()
    assert claims["sub"] == "oncall-admin@example.com"


def test_sync_token_brings_only_the_edited_and_the_cancelled_weeks(gcal, service):
    source = source_for(service, page_size=4)
    first = source.fetch(None, START_AT, END_AT)
    gcal.put_event(CALENDAR, week_item(date(2027, 2, 1), "tom"))  # was Aisha's
    gcal.cancel_event(CALENDAR, event_id(date(2027, 2, 8)))
    gcal.clear()

    changes = source.fetch(first.next_sync_token, START_AT, END_AT)
    nothing_new = source.fetch(changes.next_sync_token, START_AT, END_AT)

    assert not changes.full
    assert [(e.event_id, e.summary) for e in changes.events] == [(event_id(date(2027, 2, 1)), "On call: Tom Becker")]
    assert changes.removed_ids == [event_id(date(2027, 2, 8))]
    assert (nothing_new.full, nothing_new.events, nothing_new.removed_ids) == (False, [], [])
    incremental = list_requests(gcal)[0]
    assert incremental.query["syncToken"] == [first.next_sync_token]
    assert not any(name in incremental.query for name in ("timeMin", "timeMax", "orderBy"))


def test_full_sync_leaves_out_cancelled_occurrences(gcal, service):
    live = {**week_item(FIRST_WEEK, "kelly"), "status": "confirmed"}
    gcal.inject("/events", 200, body={"kind": "calendar#events", "nextSyncToken": "sync-0-99",
                                      "items": [{"id": "rotation_20270111", "status": "cancelled"}, live]})

    fetched = source_for(service).fetch(None, START_AT, END_AT)

    assert [e.event_id for e in fetched.events] == [event_id(FIRST_WEEK)] and fetched.removed_ids == []


def test_expired_sync_token_falls_back_to_a_full_sync(gcal, service):
    source = source_for(service)
    token = source.fetch(None, START_AT, END_AT).next_sync_token
    gcal.expire_sync_tokens()
    gcal.cancel_event(CALENDAR, event_id(date(2027, 2, 8)))
    gcal.clear()

    fetched = source.fetch(token, START_AT, END_AT)

    assert fetched.full and fetched.next_sync_token != token
    assert len(fetched.events) == len(QUARTER) - 1 and fetched.removed_ids == []
    assert [(r.status, "syncToken" in r.query, "timeMin" in r.query) for r in list_requests(gcal)] == [
        (410, True, False), (200, False, True)]


def test_rate_limits_are_retried_with_backoff(gcal, service, backoff_sleeps):
    gcal.inject("/events", 429, retry_after=30)
    gcal.inject("/events", 403)  # the fake's 403 is usageLimits/rateLimitExceeded

    fetched = source_for(service).fetch(None, START_AT, END_AT)

    assert owners(fetched.events) == QUARTER_OWNERS
    assert [r.status for r in list_requests(gcal)] == [429, 403, 200]
    assert len(backoff_sleeps) == 2  # googleapiclient's jittered backoff; it does not read Retry-After


FORBIDDEN = {"error": {"code": 403, "message": "Forbidden",
                       "errors": [{"domain": "global", "reason": "forbidden", "message": "Forbidden"}]}}


@pytest.mark.parametrize("status, body, attempts, retry_after", [
    (500, None, 3, None),  # retried until num_retries runs out
    (429, None, 3, 30.0),  # the caller learns how long Google asked it to wait
    (403, FORBIDDEN, 1, None),  # not a rate limit: not retried
])
def test_errors_that_persist_become_integration_errors(gcal, service, status, body, attempts, retry_after):
    gcal.inject("/events", status, body=body, times=10, retry_after=retry_after and int(retry_after))

    with pytest.raises(IntegrationError, match=rf"reading calendar {CALENDAR} failed: HTTP {status}") as raised:
        source_for(service, num_retries=2).fetch(None, START_AT, END_AT)

    assert (raised.value.status, raised.value.retry_after) == (status, retry_after)
    assert [r.status for r in list_requests(gcal)] == [status] * attempts


def test_an_unknown_calendar_says_to_share_it(gcal, service):
    with pytest.raises(IntegrationError, match="shared with the service account"):
        GoogleCalendarSource(service, "nope@group.calendar.google.com", "America/Los_Angeles").fetch(
            None, START_AT, END_AT)


def test_an_answer_slower_than_the_timeout_becomes_an_integration_error(gcal, key_file, backoff_sleeps):
    service = build_calendar_service(key_file, api_url=gcal.url, timeout=0.2)
    gcal.inject("/events", delay=30, times=2)  # the fake wakes its sleeping handlers when it stops

    with pytest.raises(IntegrationError, match=r"no answer \(TimeoutError"):
        source_for(service, num_retries=1).fetch(None, START_AT, END_AT)

    assert len(backoff_sleeps) == 1  # a timeout is retried too, then given up


def test_reassign_patches_the_occurrence_and_the_next_sync_names_the_new_person(gcal, service):
    source = source_for(service)
    token = source.fetch(None, START_AT, END_AT).next_sync_token
    week = date(2027, 1, 4)  # Kelly's, with Kelly as attendee
    etag = next(e["etag"] for e in gcal.events(CALENDAR) if e["id"] == event_id(week))

    patched = GoogleCalendarWriter(service, CALENDAR).reassign(
        event_id(week), "Marcus Brown", "marcus.brown@example.com", etag=etag)
    changes = source.fetch(token, START_AT, END_AT)

    assert patched["summary"] == "On call: Marcus Brown" and patched["etag"] != etag
    assert patched["extendedProperties"] == {"private": {"oncall_person_email": "marcus.brown@example.com"}}
    (patch,) = gcal.requests_to(f"/events/{event_id(week)}", method="PATCH")
    assert patch.headers["If-Match"] == etag and patch.query["sendUpdates"] == ["none"]
    (changed,) = changes.events
    assert changed.attendee_emails == ("marcus.brown@example.com", "kelly.nguyen@example.com")
    assert owners(changes.events) == {week: "marcus"}


def test_reassign_refuses_a_concurrently_edited_or_missing_event(gcal, service):
    writer = GoogleCalendarWriter(service, CALENDAR)
    week_id = event_id(date(2027, 1, 4))
    stale = next(e["etag"] for e in gcal.events(CALENDAR) if e["id"] == week_id)
    gcal.put_event(CALENDAR, {**week_item(date(2027, 1, 4), "priya")})  # someone edits it in the calendar

    with pytest.raises(IntegrationError, match="edited in the calendar meanwhile") as edited:
        writer.reassign(week_id, "Marcus Brown", "marcus.brown@example.com", etag=stale)
    with pytest.raises(IntegrationError, match="no event nope"):
        writer.reassign("nope", "Marcus Brown", "marcus.brown@example.com")

    assert edited.value.status == 412
    assert next(e for e in gcal.events(CALENDAR) if e["id"] == week_id)["summary"] == "On call: Priya Patel"


def test_unusable_credentials_are_a_config_error(tmp_path):
    broken = tmp_path / "key.json"
    broken.write_text("{}")

    with pytest.raises(ConfigError, match=r"GOOGLE_APPLICATION_CREDENTIALS: .*missing.json .*No such file"):
        build_calendar_service(str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match=r"GOOGLE_APPLICATION_CREDENTIALS: .*key.json is not a usable"):
        build_calendar_service(str(broken))


GOOGLE_ROTATION = {"source": "google", "google": {"calendar_id": CALENDAR}}


def test_bootstrap_needs_the_credentials_variable():
    settings = example_settings(rotation=GOOGLE_ROTATION)

    with pytest.raises(ConfigError) as raised:
        build_rotation_source(settings, Environment())

    assert raised.value.problems == [
        "rotation.google: GOOGLE_APPLICATION_CREDENTIALS is not set (the service-account JSON file)"]


def test_sync_from_google_calendar_stores_the_shifts(gcal, key_file, store):
    settings = example_settings(rotation=GOOGLE_ROTATION)
    source = build_rotation_source(settings, Environment(google_credentials=key_file, google_api_url=gcal.url))
    procedure = build_procedure(settings)
    now = datetime(2027, 1, 6, 12, tzinfo=UTC)

    first = sync_rotation(store, source, procedure, now)
    gcal.put_event(CALENDAR, week_item(date(2027, 2, 1), "tom"))
    second = sync_rotation(store, source, procedure, now + timedelta(minutes=10))

    assert first.full and first.problems == []
    assert {s.week_start: s.person_id for s in first.shifts} == QUARTER_OWNERS
    assert not second.full
    assert [(c.week_start, c.before, c.after) for c in second.changes] == [(date(2027, 2, 1), "aisha", "tom")]
    with store.transaction() as tx:
        shift = next(s for s in tx.all_shifts() if s.week_start == date(2027, 3, 15))
    assert (shift.person_id, shift.start_at, shift.event_id) == (
        "aisha", datetime(2027, 3, 15, 18, 1, tzinfo=LA), event_id(date(2027, 3, 15)))


def test_an_approved_change_is_written_back_through_the_outbox(gcal, key_file, store):
    from oncallbot.adapters.db.models import NotificationRow
    from oncallbot.bootstrap import build_deliverer
    from oncallbot.services.delivery import deliver_pending
    from oncallbot.services.overrides import queue_assignee_change

    settings = example_settings(rotation={"source": "google", "google": {"calendar_id": CALENDAR}})
    env = Environment(google_credentials=key_file, google_api_url=gcal.url)
    source = build_rotation_source(settings, env)
    deliverer = build_deliverer(settings, env, rotation_source=source)
    now = datetime(2026, 12, 20, tzinfo=UTC)
    week = date(2027, 2, 1)
    sync_rotation(store, source, PROCEDURE, now)  # the write-back names the version the sync saw (etag)

    queue_assignee_change(store, PROCEDURE, event_id(week), "tom", now)
    queue_assignee_change(store, PROCEDURE, event_id(week + timedelta(weeks=1)), "kelly", now)
    gcal.delete_event(CALENDAR, event_id(week + timedelta(weeks=1)))
    deliver_pending(store, PROCEDURE, deliverer, now)

    patched = next(e for e in gcal.events(CALENDAR) if e["id"] == event_id(week))
    assert patched["summary"] == "On call: Tom Becker"
    with store.transaction() as tx:
        reports = [n.text for n in tx.session.query(NotificationRow) if n.kind == "report"]
    # The failed one is not dropped: the approvers hear about it.
    assert any(event_id(week + timedelta(weeks=1)) in text and "by hand" in text for text in reports)
