"""Checking a real response against the OpenAPI document the server publishes (oncallbot/entrypoints/http/openapi.py):
its status is one the operation lists, and its JSON body validates against that status's schema."""

import jsonschema
import referencing
import referencing.jsonschema

from oncallbot.entrypoints.http.openapi import OPENAPI

DOCUMENT_URI = "urn:oncallbot:openapi"
_REGISTRY = referencing.Registry().with_resource(
    DOCUMENT_URI, referencing.Resource.from_contents(OPENAPI, default_specification=referencing.jsonschema.DRAFT202012))


def response_schema(method: str, path: str, status: int) -> dict:
    operation = OPENAPI["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{method} {path} answered {status}, not in the document"
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]


def assert_conforms(method: str, path: str, response) -> dict:
    """`path` as the document names it (`/api/v1/pages/{page_id}`); returns the body."""
    schema = response_schema(method, path, response.status_code)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    if "$ref" in schema:  # "#/components/...": resolved against the document
        schema = {"$ref": DOCUMENT_URI + schema["$ref"]}
    validator = jsonschema.Draft202012Validator(schema, registry=_REGISTRY,
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, f"{method} {path} {response.status_code}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}" for e in errors)
    return body
