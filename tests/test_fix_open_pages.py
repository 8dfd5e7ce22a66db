"""Issue 7, item 16: what is open, for everyone: `oncallbot pages`, `GET /api/v1/pages` and `/oncall pages`.

One service (`paging.list_pages`) feeds the three: pages newest first, with their state, holder (who said
On It!) and age; "open" is every page not closed yet (waiting for On It!, or On It!).
"""

import json
from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.adapters.db import Store, default_database_url
from oncallbot.bootstrap import build_procedure
from oncallbot.entrypoints.cli import main
from oncallbot.errors import BadInput
from oncallbot.services import paging
from tests.harness.clock import FakeClock
from tests.harness.config import EXAMPLE_CONFIG, example_settings
from tests.harness.pager import Pager
from tests.harness.slack import API_TOKEN, REFUSAL

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
STRANGER = "U0STRANGER"
TOM = "U01TOM0000"


# --- the service, on SQLite and PostgreSQL ------------------------------------------------------

def test_open_pages_are_the_ones_not_closed_newest_first_with_state_holder_and_age(store):
    pager = Pager(store)  # Tuesday 22:00: Aisha is on call
    waiting = pager.open("Voicemail from ACME: server down")
    pager.clock.advance(timedelta(minutes=5))
    taken = pager.open("Ticket #4521: refund not received")
    pager.ack(taken.id, "aisha")
    done = pager.open("Ticket #4522: password reset")
    pager.ack(done.id, "aisha", "done")
    chatter = pager.open("lunch?")
    assert paging.dismiss_page(store, pager.procedure, chatter.id, "aisha", "slack", pager.clock.now()).accepted
    pager.clock.advance(timedelta(minutes=7))
    now = pager.clock.now()

    listing = paging.list_pages(store, now, state="open")
    assert [(p.id, p.state, p.holder_id, p.age, p.summary) for p in listing.pages] == [
        (taken.id, "on_it", "aisha", timedelta(minutes=7), "Ticket #4521: refund not received"),
        (waiting.id, "open", None, timedelta(minutes=12), "Voicemail from ACME: server down")]
    assert (listing.at, listing.total, listing.next_before) == (now, 2, None)
    assert [p.id for p in paging.list_pages(store, now, state="closed").pages] == [chatter.id, done.id]
    assert [p.id for p in paging.list_pages(store, now).pages] == [chatter.id, done.id, taken.id, waiting.id]


def test_the_list_comes_in_batches_of_limit_with_a_cursor(store):
    pager = Pager(store)
    ids = [paging.open_page(store, pager.procedure, paging.NewPage(summary=f"Voicemail {n}", source="api"),
                            pager.clock.now())[0].id for n in range(53)]
    now = pager.clock.now()
    default = paging.list_pages(store, now, state="open")
    assert [p.id for p in default.pages] == ids[::-1][:50]  # 50 by default
    assert (default.total, default.next_before) == (53, ids[3])
    rest = paging.list_pages(store, now, state="open", before=default.next_before)
    assert ([p.id for p in rest.pages], rest.next_before) == ([ids[2], ids[1], ids[0]], None)

    first = paging.list_pages(store, now, state="open", limit=2)
    second = paging.list_pages(store, now, state="open", limit=2, before=first.next_before)
    assert [p.id for p in first.pages + second.pages] == ids[::-1][:4]
    assert len(paging.list_pages(store, now, limit=200).pages) == 53


@pytest.mark.parametrize("arguments,message", [
    ({"state": "waiting"}, 'state "waiting" is not one of: open, closed'),
    ({"limit": 0}, "limit must be between 1 and 200, not 0"),
    ({"limit": 201}, "limit must be between 1 and 200, not 201"),
    ({"before": 0}, "before must be a page id, not 0"),
    ({"before": 2**63}, f"before must be a page id, not {2**63}"),
])
def test_a_bad_filter_or_cursor_is_refused(tmp_path, arguments, message):
    store = Store(f"sqlite:///{tmp_path}/list.sqlite3")
    store.upgrade()
    with pytest.raises(BadInput) as refused:
        paging.list_pages(store, datetime(2026, 11, 24, 6, 0, tzinfo=UTC), **arguments)
    assert str(refused.value) == message
    store.dispose()


# --- oncallbot pages ----------------------------------------------------------------------------

def run(capsys, clock, *argv):
    code = main([*argv, "--config", str(EXAMPLE_CONFIG)], clock=clock)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_oncallbot_pages_lists_the_open_pages_with_state_holder_and_age(capsys):
    clock = FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))  # Monday 22:00 PST: Aisha is on call
    assert run(capsys, clock, "page", "Voicemail from ACME: server down")[0] == 0
    clock.advance(timedelta(minutes=5))
    assert run(capsys, clock, "page", "Ticket #4521: refund not received")[0] == 0
    assert run(capsys, clock, "page", "Ticket #4522: password reset")[0] == 0
    store = Store(default_database_url(example_settings().storage.sqlite_path))
    procedure = build_procedure(example_settings())
    paging.acknowledge_page(store, procedure, 2, "aisha", "on_it", "slack", clock.now())
    paging.acknowledge_page(store, procedure, 3, "tom", "done", "slack", clock.now())
    store.dispose()
    clock.advance(timedelta(minutes=70))

    code, out, _ = run(capsys, clock, "pages", "--open")
    assert code == 0
    assert out.splitlines() == [
        "2 open pages at Mon 2026-11-23 23:15 PST, newest first:",
        "  page    state      holder           responsible           age  summary",
        "  #2      on_it      Aisha Khan       Aisha Khan         1h 10m  Ticket #4521: refund not received",
        "  #1      open       -                Aisha Khan         1h 15m  Voicemail from ACME: server down",
    ]

    code, out, _ = run(capsys, clock, "pages", "--open", "--limit", "1")
    assert out.splitlines()[-1] == "  more, older pages: oncallbot pages --open --before 2"

    code, out, _ = run(capsys, clock, "pages", "--json")
    body = json.loads(out)
    assert (body["at"], body["state"], body["total"], body["next_before"]) == (
        "2026-11-23T23:15:00-08:00", None, 3, None)
    assert [(p["id"], p["state"]) for p in body["pages"]] == [(3, "done"), (2, "on_it"), (1, "open")]
    assert body["pages"][1] == {
        "id": 2, "summary": "Ticket #4521: refund not received", "source": "cli", "state": "on_it",
        "responsible": "aisha", "holder": {"id": "aisha", "name": "Aisha Khan"},
        "created_at": "2026-11-23T22:05:00-08:00", "age_seconds": 4200, "deadline": "2026-11-23T22:20:00-08:00",
        "on_it_at": "2026-11-23T22:05:00-08:00", "done_at": None}

    code, out, err = run(capsys, clock, "pages", "--limit", "0")
    assert (code, out, err) == (2, "", "error: limit must be between 1 and 200, not 0\n")


def test_oncallbot_pages_says_when_nothing_is_open(capsys):
    code, out, _ = run(capsys, FakeClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC)), "pages", "--open")
    assert (code, out) == (0, "No open pages at Mon 2026-11-23 22:00 PST.\n")


# --- GET /api/v1/pages and /oncall pages --------------------------------------------------------

def open_three(harness) -> list[int]:
    """A voicemail left waiting, a ticket Aisha took, and one Tom closed; 5 minutes apart."""
    ids = []
    for summary in ("Voicemail from ACME: server down", "Ticket #4521: refund not received", "Ticket #4522"):
        created = harness.http.post("/api/v1/pages", json={"summary": summary, "source": "api"}, headers=AUTH)
        assert created.status_code == 201
        ids.append(created.json()["id"])
        harness.clock.advance(timedelta(minutes=5))
    procedure = harness.container.procedure
    paging.acknowledge_page(harness.store, procedure, ids[1], "aisha", "on_it", "slack", harness.clock.now())
    paging.acknowledge_page(harness.store, procedure, ids[2], "tom", "done", "slack", harness.clock.now())
    return ids


def test_get_pages_lists_the_open_pages_in_batches_behind_the_token(slack):
    waiting, taken, _ = open_three(slack)
    first = slack.http.get("/api/v1/pages?state=open&limit=1", headers=AUTH)
    assert first.status_code == 200
    assert first.json() == {
        "at": "2026-11-23T22:15:00-08:00", "state": "open", "total": 2, "next_before": taken,
        "pages": [{"id": taken, "summary": "Ticket #4521: refund not received", "source": "api", "state": "on_it",
                   "responsible": "aisha", "holder": {"id": "aisha", "name": "Aisha Khan"},
                   "created_at": "2026-11-23T22:05:00-08:00", "age_seconds": 600,
                   "deadline": "2026-11-23T22:20:00-08:00", "on_it_at": "2026-11-23T22:15:00-08:00",
                   "done_at": None}]}
    second = slack.http.get(f"/api/v1/pages?state=open&limit=1&before={taken}", headers=AUTH).json()
    assert [(p["id"], p["state"], p["holder"], p["age_seconds"]) for p in second["pages"]] == [
        (waiting, "open", None, 900)]
    assert second["next_before"] is None
    assert len(slack.http.get("/api/v1/pages", headers=AUTH).json()["pages"]) == 3

    assert slack.http.get("/api/v1/pages?state=open").status_code == 401
    assert slack.http.get("/api/v1/pages", headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("query,error", [
    ("state=waiting", 'state "waiting" is not one of: open, closed'),
    ("state=", 'state "" is not one of: open, closed'),
    ("limit=0", "limit must be between 1 and 200, not 0"),
    ("limit=500", "limit must be between 1 and 200, not 500"),
    ("limit=ten", 'limit "ten" is not a whole number'),
    ("before=abc", 'before "abc" is not a whole number'),
    ("before=-3", "before must be a page id, not -3"),
    ("before=99999999999999999999999", "before must be a page id, not 99999999999999999999999"),
    ("sort=age", "unknown parameter sort (use state, limit, before)"),
])
def test_get_pages_refuses_bad_parameters_with_400(slack, query, error):
    response = slack.http.get(f"/api/v1/pages?{query}", headers=AUTH)
    assert (response.status_code, response.json()) == (400, {"error": error})


def test_oncall_pages_in_slack_lists_the_open_pages_to_the_caller_alone(slack):
    waiting, taken, _ = open_three(slack)
    answer = slack.command("pages", user=TOM).json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].splitlines() == [
        "Open pages: 2, newest first",
        f"• #{taken} *On It!* Aisha Khan · 10m old · Ticket #4521: refund not received",
        f"• #{waiting} Waiting for On It! (due 22:15 PST) · 15m old · Voicemail from ACME: server down",
    ]
    assert slack.command("pages", user=STRANGER).json()["text"].startswith(REFUSAL)


def test_oncall_pages_says_when_nothing_is_open(slack):
    assert slack.command("pages", user=TOM).json()["text"] == "No open pages."
