"""Issue 14, item 2: `GET /api/v1/openapi.json` publishes an OpenAPI 3.1 document of the public API, and it stays
true: it is a valid document, it names every route of the API and no other, and real answers of every kind (each
responsible state, a page escalated and texted, a list in batches, every error) validate against it."""

import httpx
from openapi_spec_validator import validate
from starlette.routing import Route

from oncallbot.entrypoints.http import create_app
from oncallbot.entrypoints.http.openapi import OPENAPI
from tests.harness.api import AUTH, MLK_MORNING, OFFICE_HOURS, VOICEMAIL
from tests.harness.config import LITERAL_HOLIDAYS
from tests.harness.openapi import assert_conforms

PAGE, PAGES = "/api/v1/pages/{page_id}", "/api/v1/pages"


def test_the_served_document_is_valid_openapi_3_1_and_names_every_api_route(make_api, sqlite_url):
    api = make_api(sqlite_url)
    response = api.client.get("/api/v1/openapi.json")
    document = assert_conforms("GET", "/api/v1/openapi.json", response)
    assert document == OPENAPI
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on an invalid document
    served = {(route.path, method.lower()) for route in create_app(api.container).routes
              if isinstance(route, Route) and (route.path.startswith("/api/") or route.path == "/healthz")
              for method in route.methods or () if method != "HEAD"}
    documented = {(path, method) for path, operations in OPENAPI["paths"].items() for method in operations}
    assert served == documented


def test_who_is_responsible_validates_in_each_state(make_api, sqlite_url):
    night = make_api(sqlite_url, **LITERAL_HOLIDAYS)
    assert assert_conforms("GET", "/healthz", night.client.get("/healthz")) == {"status": "ok"}
    assert assert_conforms("GET", "/api/v1/oncall", night.client.get("/api/v1/oncall"))["responsible"] == "oncall"
    office = night.client.get("/api/v1/oncall", params={"at": OFFICE_HOURS.isoformat()})
    assert assert_conforms("GET", "/api/v1/oncall", office)["responsible"] == "office"
    nobody = night.client.get("/api/v1/oncall", params={"at": MLK_MORNING.isoformat()})
    body = assert_conforms("GET", "/api/v1/oncall", nobody)
    assert body["responsible"] == "nobody" and body["cause"]
    for bad in ("yesterday", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        response = night.client.get("/api/v1/oncall", params={"at": bad})
        assert response.status_code == 400, (bad, response.text)
        assert_conforms("GET", "/api/v1/oncall", response)


def test_a_page_through_its_life_validates_at_every_stage(make_api, sqlite_url):
    api = make_api(sqlite_url)
    created = api.post({**VOICEMAIL, "external_id": "vm-7", "details": "Caller: ACME"})
    assert created.status_code == 201
    page = assert_conforms("POST", PAGES, created)
    assert assert_conforms("POST", PAGES, api.post({**VOICEMAIL, "external_id": "vm-7"}))["id"] == page["id"]

    api.tick(16)  # nobody took it: texted and called
    escalated = assert_conforms("GET", PAGE, api.get(page["id"]))
    assert escalated["escalation_steps"][0]["status"] == "ran"
    assert {c["channel"] for c in escalated["channels"]} == {"sms", "voice"}
    assert all(c["sent_at"] for c in escalated["channels"])

    for _ in range(3):
        assert api.post(VOICEMAIL).status_code == 201
    first = api.client.get(PAGES, params={"limit": 2, "state": "open"}, headers=AUTH)
    batch = assert_conforms("GET", PAGES, first)
    assert len(batch["pages"]) == 2 and batch["total"] == 4 and batch["next_before"]
    rest = assert_conforms("GET", PAGES, api.client.get(PAGES, params={"before": batch["next_before"]}, headers=AUTH))
    assert [p["id"] for p in rest["pages"]] == [page["id"] + 1, page["id"]]
    assert assert_conforms("GET", PAGES, api.client.get(PAGES, params={"state": "closed"}, headers=AUTH))["pages"] == []


def test_every_refusal_validates_and_says_why(make_api, sqlite_url):
    api = make_api(sqlite_url)
    refusals = [
        ("POST", PAGES, api.post(content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}), 400),
        ("POST", PAGES, api.post({"summary": "   ", "source": "api"}), 400),
        ("POST", PAGES, api.post({"summary": "x", "source": "pager"}), 400),
        ("POST", PAGES, api.post(VOICEMAIL, headers={}), 401),
        ("POST", PAGES, api.post(content=b"[" * 70_000, headers={**AUTH, "Content-Type": "application/json"}), 413),
        ("GET", PAGES, api.client.get(PAGES, params={"limit": "0"}, headers=AUTH), 400),
        ("GET", PAGES, api.client.get(PAGES, params={"page": "2"}, headers=AUTH), 400),
        ("GET", PAGES, api.client.get(PAGES, headers={"Authorization": "Bearer wrong"}), 401),
        ("GET", PAGE, api.get(12), 404),
        ("GET", PAGE, api.get("abc"), 404),
        ("GET", PAGE, api.get(2**40), 404),
    ]
    for method, path, response, status in refusals:
        assert response.status_code == status, (method, path, response.text)
        assert assert_conforms(method, path, response)["error"]
    assert api.page_count() == 0

    disabled = make_api(sqlite_url, api_token=None)
    response = disabled.post(VOICEMAIL)
    assert response.status_code == 503
    assert "ONCALLBOT_API_TOKEN" in assert_conforms("POST", PAGES, response)["error"]


def test_an_unknown_response_status_fails_the_check():
    """The checker itself: a status the document does not list is a failure, not a pass."""
    response = httpx.Response(418, json={"error": "teapot"}, headers={"content-type": "application/json"})
    try:
        assert_conforms("GET", PAGES, response)
    except AssertionError as exc:
        assert "418" in str(exc)
    else:
        raise AssertionError("a status missing from the document passed")
    wrong_shape = httpx.Response(404, json={"message": "no"}, headers={"content-type": "application/json"})
    try:
        assert_conforms("GET", PAGE, wrong_shape)
    except AssertionError as exc:
        assert "error" in str(exc)
    else:
        raise AssertionError("a body without `error` passed")


def test_a_method_or_path_the_document_does_not_name_is_refused_with_the_same_error_body(make_api, sqlite_url):
    api = make_api(sqlite_url)
    wrong_method = api.client.delete(PAGES, headers=AUTH)
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["allow"].split(", ")) >= {"GET", "POST"}  # both methods of the one path
    assert wrong_method.json() == {"error": "Method Not Allowed"}
    unknown = api.client.get("/api/v1/nothing", headers=AUTH)
    assert unknown.status_code == 404 and unknown.json() == {"error": "Not Found"}
    assert api.page_count() == 0
