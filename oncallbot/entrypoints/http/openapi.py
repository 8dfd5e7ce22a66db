"""The OpenAPI 3.1 document of the public API (`GET /api/v1/openapi.json`): the contract that
tests/test_openapi_contract.py checks real responses against and tests/test_api_fuzz.py fuzzes with schemathesis.

Written by hand next to the handlers (api.py) and the JSON they answer with (entrypoints/formatters.py); a
route added there and not here fails the contract test."""

from typing import Any

from ...domain.paging import API_SOURCES
from ...services.paging import LIST_LIMIT, LIST_LIMIT_MAX, MAX_PAGE_ID, PAGE_FILTERS

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": [name for name in properties if name not in optional], "additionalProperties": False}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema or _ref("Error")}}}


INSTANT = {"type": "string", "format": "date-time"}
# A character that is not white space as the server reads it (Python's str.split); a regex's \S differs.
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
TEXT = {"type": "string"}
PERSON_REF = _object({"id": TEXT, "name": TEXT})
SHIFT = _object({"person": PERSON_REF, "start": INSTANT, "end": INSTANT})
PAGE_STATES = ["open", "on_it", "done", "dismissed"]

SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {"type": "string", "minLength": 1}}),
    # "degraded": the outbox or the sync is failing, or a part (the mailbox) is down, yet the replica pages.
    "Health": _object({"status": {"enum": ["ok", "degraded", "failing"]},
                       "failing": {"type": "array", "items": {"enum": ["database", "dispatcher", "outbox", "sync"]}},
                       "mailbox": {"type": "string"}}, optional=("failing", "mailbox")),
    "OnCall": _object({
        "at": INSTANT, "timezone": TEXT, "responsible": {"enum": ["oncall", "office", "nobody"]},
        "current": _nullable(SHIFT), "previous": _nullable(SHIFT), "next": _nullable(SHIFT),
        "cause": {"type": "string", "description": "why nobody is responsible"},
    }, optional=("cause",)),
    "PageRequest": _object({
        # Blank text is refused like an empty string: the summary is what the paged person reads first.
        "summary": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": NOT_BLANK},
        "source": {"enum": list(API_SOURCES)},
        "external_id": _nullable({"type": "string", "minLength": 1, "maxLength": 255}),
        "details": _nullable({"type": "string", "maxLength": 10_000}),
    }, optional=("external_id", "details")),
    "Page": _object({
        "id": {"type": "integer", "minimum": 1}, "summary": TEXT, "source": TEXT, "external_id": _nullable(TEXT),
        "state": {"enum": PAGE_STATES}, "responsible": {"type": "string", "description": 'a person id, "office" '
                                                                                         'or "nobody"'},
        "created_at": INSTANT, "deadline": INSTANT, "on_it_by": _nullable(TEXT), "on_it_at": _nullable(INSTANT),
        "done_at": _nullable(INSTANT),
        "escalation_steps": {"type": "array", "items": _object({
            "step": {"type": "integer", "minimum": 1}, "at": INSTANT, "notify": TEXT,
            "people": {"type": "array", "items": TEXT}, "channels": {"type": "array", "items": TEXT},
            "status": {"enum": ["ran", "due", "cancelled"]}})},
        "timeline": {"type": "array", "items": _object({
            "at": INSTANT, "event": TEXT, "who": _nullable(TEXT), "channel": _nullable(TEXT),
            "detail": _nullable(TEXT)})},
        "channels": {"type": "array", "items": _object({
            "who": _nullable(TEXT), "channel": TEXT, "sent_at": _nullable(INSTANT),
            "delivery_status": _nullable(TEXT), "delivered": {"type": "boolean"},
            "answered_by": _nullable({"enum": ["human", "machine", "unknown"]}), "answered_at": _nullable(INSTANT),
            "confirmed": {"type": "boolean"}, "confirmed_at": _nullable(INSTANT)})},
    }),
    "PageList": _object({
        "at": INSTANT, "state": _nullable({"enum": list(PAGE_FILTERS)}), "total": {"type": "integer", "minimum": 0},
        "next_before": _nullable({"type": "integer", "minimum": 1}),
        "pages": {"type": "array", "maxItems": LIST_LIMIT_MAX, "items": _object({
            "id": {"type": "integer", "minimum": 1}, "summary": TEXT, "source": TEXT, "state": {"enum": PAGE_STATES},
            "responsible": TEXT, "holder": _nullable(PERSON_REF), "created_at": INSTANT,
            "age_seconds": {"type": "integer"}, "deadline": INSTANT, "on_it_at": _nullable(INSTANT),
            "done_at": _nullable(INSTANT)})},
    }),
}

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
NOT_AUTHORIZED = {"401": _answer("no bearer token, or the wrong one"),
                  "503": _answer("the paging API is disabled: ONCALLBOT_API_TOKEN is not set")}

PATHS: dict[str, Any] = {
    "/healthz": {"get": {
        "operationId": "health", "summary": "The bot's own checks (the heartbeat waits for them)",
        "responses": {"200": _answer("the process works (all well, or degraded)", _ref("Health")),
                      "503": _answer("the process is broken: its database or its dispatcher")}}},
    "/api/v1/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document",
        "responses": {"200": _answer("the OpenAPI document", {"type": "object", "required": ["openapi"]})}}},
    "/api/v1/oncall": {"get": {
        "operationId": "oncall", "summary": "Who is on call at a time (the `oncallbot who --json` contract)",
        "parameters": [{"name": "at", "in": "query", "required": False, "schema": {"type": "string"},
                        "description": "ISO-8601; without an offset, the team's zone; now when absent"}],
        "responses": {"200": _answer("who is responsible, and the shifts around", _ref("OnCall")),
                      "400": _answer("`at` is not an ISO-8601 time in range")}}},
    "/api/v1/pages": {
        "post": {
            "operationId": "createPage", "summary": "Open a page (once per source and external id)",
            "security": BEARER,
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("PageRequest")}}},
            "responses": {"201": _answer("the page, opened", _ref("Page")),
                          "200": _answer("the page this source's external_id opened before", _ref("Page")),
                          "400": _answer("not JSON, or not a page request; nothing was opened"),
                          "413": _answer("the body is over 64 KiB; nothing was opened"), **NOT_AUTHORIZED}},
        "get": {
            "operationId": "listPages", "summary": "Pages, newest first, a batch at a time", "security": BEARER,
            "parameters": [
                {"name": "state", "in": "query", "required": False, "schema": {"enum": list(PAGE_FILTERS)},
                 "description": "open: not closed yet; closed: done or dismissed; all when absent"},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": LIST_LIMIT_MAX, "default": LIST_LIMIT}},
                {"name": "before", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_ID + 1},
                 "description": "a page id: the cursor `next_before` of the batch before"}],
            "responses": {"200": _answer("a batch of pages", _ref("PageList")),
                          "400": _answer("a bad or unknown parameter"), **NOT_AUTHORIZED}}},
    "/api/v1/pages/{page_id}": {"get": {
        "operationId": "showPage", "summary": "A page, its escalation steps, its timeline and its channels",
        "security": BEARER,
        "parameters": [{"name": "page_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_ID}}],
        "responses": {"200": _answer("the page", _ref("Page")), "404": _answer("no such page"),
                      **NOT_AUTHORIZED}}},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "oncallbot", "version": "1", "description":
             "Who is on call, and the paging API. Errors are `{\"error\": \"...\"}`; times are ISO-8601 in the "
             "team's zone."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                  "description": "ONCALLBOT_API_TOKEN"}}},
}
