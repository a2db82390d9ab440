"""Executions: newest first, filtered, paginated, each with the calls it paid for."""

import datetime as dt

import pytest

from budget.models import Period
from budget.money import dollars_str
from executions.api import Pages
from executions.backlog.services import create_task
from executions.models import Execution, Task
from executions.pipeline.runner import run_execution
from tests.api.conftest import ANALYSIS, NOW, paid_execution

pytestmark = pytest.mark.django_db


def test_a_simulated_run_is_listed_with_what_the_ledger_charged(api, pinned_clock):
    execution = run_execution(create_task(title="Add a CONTRIBUTING file"))
    period = Period.objects.get(pk=execution.period_id)

    page = api.get("/api/v1/executions/").json()

    assert page["count"] == 1
    row = page["results"][0]
    assert (row["id"], row["status"], row["simulated"], row["task_title"]) == (
        execution.pk, "succeeded", True, "Add a CONTRIBUTING file",
    )  # fmt: skip
    assert row["cost"] == dollars_str(period.spent_nanos) == "0.031275"  # the seed's arithmetic
    assert row["branch"] == execution.branch and row["commit_sha"] == execution.commit_sha


def test_the_detail_carries_every_model_call(api, pinned_clock):
    execution = run_execution(create_task(title="Document the release steps"))

    body = api.get(f"/api/v1/executions/{execution.pk}/").json()

    assert [
        (c["step"], c["model"], c["input_tokens"], c["output_tokens"], c["cost"]) for c in body["calls"]
    ] == [
        ("analysis", "claude-sonnet-4-5", 2000, 1500, "0.0285"),
        ("codegen", "gpt-4o-mini", 2500, 4000, "0.002775"),
    ]
    assert body["cost"] == "0.031275"
    assert body["files"] and body["plan"]


def test_newest_first_and_paginated(api, monkeypatch):
    monkeypatch.setattr(Pages, "page_size", 2)
    runs = [paid_execution(f"task {i}", now=NOW) for i in range(3)]

    first = api.get("/api/v1/executions/").json()
    second = api.get(first["next"]).json()

    assert [r["id"] for r in first["results"] + second["results"]] == [r.execution.pk for r in reversed(runs)]
    assert first["count"] == 3 and second["next"] is None


def test_filters_by_status_task_month_and_simulated(api, frozen_now):
    october = paid_execution("in october", now=dt.datetime(2026, 10, 3, tzinfo=dt.UTC)).execution
    failed = paid_execution(
        "broken", now=NOW, succeeded=False, steps=[("analysis", "claude-sonnet-4-5", ANALYSIS)]
    )
    live = paid_execution("live one", now=NOW, simulated=False).execution

    def ids(**params):
        return [r["id"] for r in api.get("/api/v1/executions/", params).json()["results"]]

    assert ids(status="failed") == [failed.execution.pk]
    assert ids(task=october.task_id) == [october.pk]
    assert ids(month="2026-10") == [october.pk]
    assert ids(simulated="false") == [live.pk]
    assert ids(simulated="true", month="2026-11") == [failed.execution.pk]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"status": "done"}, "status must be one of reserved, analysing, generating, publishing, succeeded, "
         "failed, abandoned (got 'done')"),
        ({"task": "seven"}, "task must be a positive whole number (got 'seven')"),
        ({"month": "2026/11"}, "month must look like 2026-11, not '2026/11'"),
        ({"simulated": "maybe"}, "simulated must be true or false (got 'maybe')"),
        ({"page": "0"}, "page must be a whole number from 1 to the last page (got '0')"),
        ({"page": "9"}, "page must be a whole number from 1 to the last page (got '9')"),
    ],
)  # fmt: skip
def test_bad_parameters_are_a_readable_400(api, params, message):
    response = api.get("/api/v1/executions/", params)

    assert response.status_code == 400
    assert response.json() == {"detail": message}


def test_an_unknown_execution_is_404(api):
    assert api.get("/api/v1/executions/999999/").status_code == 404


def test_executions_are_read_only_even_for_staff(staff_api):
    execution = paid_execution("t", now=NOW).execution

    assert staff_api.delete(f"/api/v1/executions/{execution.pk}/").status_code == 405
    assert staff_api.post("/api/v1/executions/", {}, format="json").status_code == 405
    assert Execution.objects.filter(pk=execution.pk).exists() and Task.objects.count() == 1
