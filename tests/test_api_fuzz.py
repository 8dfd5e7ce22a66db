"""Issue 14, item 2: schemathesis fuzzes every operation of the published OpenAPI document against a live
`oncallbot serve` (on the fakes), with valid and invalid requests: no server error, every answer as documented,
and an invalid request changes nothing in the database. Bounded for `make test`: few examples per operation and
a fixed seed (derandomized), so a run takes well under a minute and fails the same way twice."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from oncallbot.entrypoints.http.openapi import OPENAPI
from tests.fakes import FakeGoogleCalendar, FakeSlack, FakeTwilio
from tests.harness import database
from tests.harness.e2e import API_TOKEN, e2e_config, e2e_env, seed_quarter, utc_now, wait_until
from tests.harness.gcal import service_account_file
from tests.harness.serve import ServeProcess, free_port

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = 30
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite:///{tmp_path}/fuzz.sqlite3"
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeGoogleCalendar() as gcal:
        seed_quarter(gcal, utc_now())
        port = free_port()
        env = e2e_env(slack, twilio, gcal, service_account_file(tmp_path, f"{gcal.url}/token"), database_url)
        process = ServeProcess(e2e_config(tmp_path, port), tmp_path, env=env, port=port).start()
        try:
            yield process, database_url
        finally:
            process.kill()
        assert "Traceback" not in process.output(), process.output()


@pytest.fixture(scope="module")
def api_schema(served):
    server, _ = served
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    # The token is sent with every case; a missing or wrong one is the contract test's (401), so the mutations
    # go to what a request carries: bodies, queries and paths.
    schema.config.generation.update(with_security_parameters=False)
    # An invalid body may also be too large: 413 is a documented refusal too.
    rejection = schema.config.checks.get_by_name(name="negative_data_rejection")
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


# Every operation with valid requests; those that take input with invalid ones too.
OPERATIONS = [(path, method.upper(), mode) for path, operations in OPENAPI["paths"].items()
              for method, operation in operations.items()
              for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
              if mode == GenerationMode.POSITIVE or "parameters" in operation or "requestBody" in operation]
# `?at=` is documented as any string, of which the ISO-8601 times in range are accepted: a 400 for the rest is
# documented, not a rejection of valid data.
LOOSER_THAN_ACCEPTED = {("/api/v1/oncall", "GET")}


@pytest.mark.parametrize(("path", "method", "mode"), OPERATIONS, ids=[f"{m} {p} {g.value}" for p, m, g in OPERATIONS])
def test_no_server_error_and_an_invalid_request_changes_nothing(api_schema, served, path, method, mode):
    server, database_url = served
    operation = api_schema[path][method]
    excluded = [positive_data_acceptance] if (path, method) in LOOSER_THAN_ACCEPTED else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        wait_until(lambda: database.outbox_idle(database_url), 60, "serve's outbox to empty")
        before = database.contents(database_url)
        response = case.call_and_validate(base_url=server.url, headers=AUTH, excluded_checks=excluded, timeout=10)
        if mode == GenerationMode.NEGATIVE or response.status_code >= 400:
            assert database.contents(database_url) == before, (case.method, case.path, response.status_code)

    fuzz()
