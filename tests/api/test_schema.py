"""The OpenAPI schema tells the truth: schemathesis generates requests from it against a real
server on 127.0.0.1 and checks every answer — no 5xx, documented status codes, bodies that match."""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from executions.backlog.services import create_task
from tests.api.conftest import NOW, client_for, paid_execution

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_endpoint_and_field_is_described(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert set(schema["paths"]) == {
        "/api/v1/usage/current/", "/api/v1/usage/months/", "/api/v1/usage/daily/", "/api/v1/usage/models/",
        "/api/v1/executions/", "/api/v1/executions/{id}/", "/api/v1/tasks/", "/api/v1/tasks/{id}/",
        "/api/v1/tasks/{id}/run/", "/api/v1/pull-requests/", "/api/v1/pull-requests/{id}/",
    }  # fmt: skip
    current = schema["components"]["schemas"]["UsageCurrent"]["properties"]
    for name in ("limit", "spent", "percent", "models", "milestones", "pace", "projected_spend"):
        assert current[name].get("description") or current[name].get("items"), name
    assert current["spent"]["type"] == "string"  # money is a decimal string, never a number


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(live_server, staff):
    token = client_for(staff).__dict__["_credentials"]["HTTP_AUTHORIZATION"]
    paid_execution("seen in the API", now=NOW)
    create_task(title="pending task")
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers={"Authorization": token}, checks=CHECKS)

        check()
