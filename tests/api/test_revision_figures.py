"""Revisions in the figures: each PR's revisions and total cost (admin, API), the month's
``revisions`` and ``merged_after_revision`` (status, both usage endpoints, dashboard, recap)."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum

from budget.models import Period
from budget.money import dollars_str
from executions.backlog.services import create_task
from executions.costs.recap import period_facts, send_recap
from executions.models import Execution, PullRequest
from executions.pipeline.runner import run_execution
from executions.revisions import lifecycle
from notifications import render
from notifications.models import Event
from notifications.recap import recap_facts
from tests.executions.outcomes import SECRET, RevisesPullRequests, deliver, pull_request_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def month(frozen_now, settings, client):
    """Two PRs (simulated models, in-memory GitHub): #41 revised once then merged, #42 merged as opened."""
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    gateway = RevisesPullRequests()
    for title in ("Add health check endpoint", "Add a changelog"):
        run_execution(create_task(title=title), gateway=gateway)
    revised, plain = PullRequest.objects.order_by("number")
    lifecycle.ask(revised, kind="command", key="command:1", source={"text": "Report the version"})
    execution = run_execution(revised.revisions.get(), gateway=gateway)
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    for pr in (revised, plain):
        pr.refresh_from_db()
        assert (
            deliver(client, "pull_request", pull_request_event(pr, "closed", merged=True))[0].status_code
            == 200
        )
    return Period.objects.get(), revised, plain, gateway


def test_the_months_revisions_are_the_same_everywhere(month, api, admin_client):
    period, *_ = month
    out = StringIO()
    call_command("budget", "status", "--json", stdout=out)
    status = json.loads(out.getvalue())
    current = api.get("/api/v1/usage/current/").json()
    [row] = api.get("/api/v1/usage/months/").json()
    facts = recap_facts(period, executions=period_facts(period))

    for figures in (status, current, row, facts):
        assert (figures["revisions"], figures["merged_after_revision"], figures["merged_prs"]) == (1, 1, 2)
        # Cost per merged PR counts every charge, the revision's too.
        assert figures["cost_per_merged_pr"] == dollars_str((period.spent_nanos + 1) // 2)
    page = admin_client.get("/admin/dashboard/").content.decode()
    assert 'data-testid="revisions">1<' in page and "1 PR merged after one" in page
    text = StringIO()
    call_command("budget", "status", stdout=text)
    assert "Revisions   1 follow-up commit(s), 1 PR(s) merged after one" in text.getvalue()


def test_each_pull_requests_revisions_and_total_cost(month, api, admin_client):
    _period, revised, plain, gateway = month
    spent = {
        pr.number: Execution.objects.filter(task=pr.task).aggregate(total=Sum("cost_nanos"))["total"]
        for pr in (revised, plain)
    }
    body = api.get("/api/v1/pull-requests/").json()
    rows = {row["number"]: row for row in body["results"]}

    assert (rows[41]["revisions"], rows[41]["cost"]) == (1, dollars_str(spent[41]))
    assert (rows[42]["revisions"], rows[42]["cost"]) == (0, dollars_str(spent[42]))
    assert spent[41] == 2 * spent[42]  # the opening run and the revision, at the same simulated cost
    assert api.get("/api/v1/pull-requests/?state=open").json()["results"] == []
    assert api.get("/api/v1/pull-requests/?state=nope").status_code == 400
    [revision_run] = api.get(f"/api/v1/executions/?task={revised.task_id}").json()["results"][:1]
    assert revision_run["revision"] == revised.revisions.get().pk
    page = admin_client.get("/admin/executions/pullrequest/").content.decode()
    assert f"${dollars_str(spent[41])}" in page
    detail = admin_client.get(f"/admin/executions/pullrequest/{revised.pk}/change/").content.decode()
    assert f"revision {revised.revisions.get().pk}" in detail and "command line" in detail
    assert admin_client.get("/admin/executions/revision/").status_code == 200
    # The PR body's cost lines show the PR's total.
    assert f"**${dollars_str(spent[41])}**" in gateway.bodies[41] and "## Revisions (1)" in gateway.bodies[41]


def test_the_recap_says_how_many_revisions_there_were(month):
    period, *_ = month
    with time_machine.travel(dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC), tick=False):
        assert send_recap(period)
    recap = Event.objects.get(kind=Event.Kind.MONTHLY_RECAP)
    fields = {f["name"]: f["value"] for f in render.discord(recap)["embeds"][0]["fields"]}
    assert fields["Revisions"] == "1 follow-up commit · 1 merged after one"


def test_the_schema_documents_the_revision_figures(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["components"][
        "schemas"
    ]
    for component in ("UsageCurrent", "PeriodRow"):
        for name in ("revisions", "merged_after_revision"):
            assert schema[component]["properties"][name].get("description"), (component, name)
    for name in ("revisions", "cost"):
        assert schema["PullRequest"]["properties"][name].get("description"), name


def test_a_revision_is_announced_like_any_execution(month):
    completed = Event.objects.filter(kind=Event.Kind.EXECUTION_COMPLETED).order_by("pk")
    started = Event.objects.filter(kind=Event.Kind.EXECUTION_STARTED)
    assert completed.count() == started.count() == 3  # two tasks, one revision
    revised = [e for e in completed if e.payload["execution"]["revision"]]
    assert len(revised) == 1
    assert "A revision: a follow-up commit" in json.dumps(render.discord(revised[0]), ensure_ascii=False)
