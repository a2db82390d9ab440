"""Cost per merged PR and the PR outcome counts: exact, null before a merge, the same everywhere spend is shown."""

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from budget.models import Period, Threshold
from budget.money import dollars_str, to_nanos
from budget.outcomes import cost_per_merged_pr_nanos
from budget.periods import current_period
from budget.pricing import Usage
from executions.backlog.services import create_task
from executions.costs.recap import period_facts, send_recap
from executions.github.pull_requests import record_published
from executions.models import ModelCall, PullRequest
from executions.pipeline.runner import run_execution
from executions.repositories.base import PublishResult
from notifications import render
from notifications.models import Event
from notifications.recap import recap_facts
from tests.api.conftest import NOW, paid_execution
from tests.executions.outcomes import SECRET, OpensPullRequests, deliver, pull_request_event

pytestmark = pytest.mark.django_db

# Odd token counts, so the month's spend does not divide evenly by the merged PRs.
ODD = (("analysis", "claude-sonnet-4-5", Usage(input_tokens=2001, output_tokens=1499)),
       ("codegen", "gpt-4o-mini", Usage(input_tokens=2503, output_tokens=3997)))  # fmt: skip


def opened(title: str, number: int, *, now: dt.datetime = NOW) -> PullRequest:
    """An execution charged through the ledger that published PR ``number`` (as the pipeline records it)."""
    execution = paid_execution(title, now=now, steps=ODD).execution
    published = PublishResult(
        branch=f"ai/{execution.task_id}-x", commit_sha=f"{number:040x}", pr_number=number,
        pr_url=f"https://github.com/octo/widgets/pull/{number}", opened_pr=True,
    )  # fmt: skip
    record_published(execution, published, now=now)
    return PullRequest.objects.get(number=number)


@pytest.fixture
def webhook(settings):
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    return Client()


def merge(webhook, pr, *, merged: bool = True) -> None:
    response, _ = deliver(webhook, "pull_request", pull_request_event(pr, "closed", merged=merged))
    assert response.status_code == 200


def status_json() -> dict:
    out = StringIO()
    call_command("budget", "status", "--json", stdout=out)
    return json.loads(out.getvalue())


def charged(period: Period) -> int:
    return ModelCall.objects.filter(execution__period=period).aggregate(total=Sum("cost_nanos"))["total"]


def exact_per_merged(spent_nanos: int, merged: int) -> str:
    """Computed here independently: Decimal division, rounded half up to the nanodollar."""
    nanos = (Decimal(spent_nanos) / merged).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return dollars_str(int(nanos))


OUTCOME_FIELDS = ("prs", "merged_prs", "closed_prs", "open_prs", "spent", "cost_per_merged_pr")


@pytest.fixture
def month(frozen_now, webhook):
    """Seven PRs opened on charged executions: four merged, two closed unmerged, one still open."""
    prs = [opened(f"task {n}", n) for n in range(11, 18)]
    for pr in prs[:4]:
        merge(webhook, pr)
    for pr in prs[4:6]:
        merge(webhook, pr, merged=False)
    return current_period()


def test_cost_per_merged_pr_is_spent_over_merged_to_the_nanodollar(month, api):
    month.refresh_from_db()
    spent = charged(month)
    assert spent == month.spent_nanos and spent % 4 == 2  # a quarter of it ends in half a nanodollar

    body = api.get("/api/v1/usage/current/").json()

    assert (body["prs"], body["merged_prs"], body["closed_prs"], body["open_prs"]) == (7, 4, 2, 1)
    assert body["cost_per_merged_pr"] == exact_per_merged(spent, 4) == dollars_str((spent + 2) // 4)
    assert body["spent"] == dollars_str(spent)


def test_status_api_months_recap_and_dashboard_agree(month, api, admin_client):
    status = status_json()
    current = api.get("/api/v1/usage/current/").json()
    [row] = api.get("/api/v1/usage/months/").json()
    facts = recap_facts(month, executions=period_facts(month))

    for name in OUTCOME_FIELDS:
        assert status[name] == current[name] == row[name] == facts[name], name
    assert [m["number"] for m in facts["merged_pull_requests"]] == [11, 12, 13, 14]
    assert facts["merged_pull_requests"][0]["url"] == "https://github.com/octo/widgets/pull/11"
    page = admin_client.get("/admin/dashboard/").content.decode()
    assert f'data-dollars="{status["cost_per_merged_pr"]}"' in page
    assert "4 merged · 2 closed · 1 open" in page


def test_the_text_status_shows_the_outcomes(month):
    out = StringIO()
    call_command("budget", "status", stdout=out)
    per_merged = status_json()["cost_per_merged_pr"]

    assert (
        f"Outcomes    4 merged, 2 closed unmerged, 1 open  ·  ${per_merged} per merged PR" in out.getvalue()
    )


def test_null_with_no_merged_pr(frozen_now, api, webhook):
    opened("task", 21)
    merge(webhook, PullRequest.objects.get(), merged=False)

    status = status_json()
    current = api.get("/api/v1/usage/current/").json()
    [row] = api.get("/api/v1/usage/months/").json()

    for figures in (
        status,
        current,
        row,
        recap_facts(current_period(), executions=period_facts(current_period())),
    ):
        assert figures["cost_per_merged_pr"] is None
        assert (figures["merged_prs"], figures["closed_prs"], figures["open_prs"]) == (0, 1, 0)


def test_a_pr_counts_in_the_period_that_paid_for_it(webhook, api):
    october = dt.datetime(2026, 10, 20, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(october, tick=False):
        pr = opened("an October task", 31, now=october)
    with time_machine.travel(NOW, tick=False):
        paid_execution("a November task", now=NOW, steps=ODD)
        merge(webhook, pr)  # merged in November

        rows = {r["month"]: r for r in api.get("/api/v1/usage/months/").json()}
        current = api.get("/api/v1/usage/current/").json()

    assert (rows["2026-10"]["merged_prs"], rows["2026-10"]["open_prs"]) == (1, 0)
    assert rows["2026-10"]["cost_per_merged_pr"] == rows["2026-10"]["spent"]
    assert (current["month"], current["merged_prs"], current["cost_per_merged_pr"]) == ("2026-11", 0, None)


def test_the_schema_documents_the_new_fields(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["components"][
        "schemas"
    ]

    for component in ("UsageCurrent", "PeriodRow"):
        properties = schema[component]["properties"]
        for name in ("merged_prs", "closed_prs", "open_prs", "cost_per_merged_pr"):
            assert properties[name].get("description"), (component, name)
        assert properties["cost_per_merged_pr"]["type"] == "string"
        assert properties["cost_per_merged_pr"].get("nullable") is True


def test_milestone_message_and_recap_carry_the_figures(frozen_now, webhook):
    Threshold.objects.create(amount_nanos=to_nanos("0.05"))
    gateway = OpensPullRequests()  # simulated models: $0.031275 an execution
    run_execution(create_task(title="Add health check endpoint"), gateway=gateway)
    merge(webhook, PullRequest.objects.get(number=41))
    run_execution(create_task(title="Add a changelog"), gateway=gateway)  # crosses $0.05 after one merge

    milestone = Event.objects.get(kind=Event.Kind.MILESTONE_REACHED)
    per_merged = milestone.payload["budget"]["cost_per_merged_pr"]
    text = json.dumps(render.discord(milestone), ensure_ascii=False)
    assert f"1 merged · ${Decimal(per_merged).quantize(Decimal('0.01'), ROUND_HALF_UP)} per merged PR" in text

    with time_machine.travel(dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC), tick=False):
        assert send_recap(Period.objects.get(month=dt.date(2026, 11, 1)))
    recap = Event.objects.get(kind=Event.Kind.MONTHLY_RECAP)
    fields = {f["name"]: f["value"] for f in render.discord(recap)["embeds"][0]["fields"]}
    assert recap.payload["cost_per_merged_pr"] == recap.payload["spent"]  # one merged PR paid for all
    assert fields["Cost per merged PR"] == f"${recap.payload['spent']}"
    assert fields["PR outcomes"] == "1 merged · 0 closed · 1 open"
    assert fields["Merged PRs"] == "[#41](https://github.com/octo/widgets/pull/41) Add health check endpoint"


@given(spent=st.integers(min_value=0, max_value=10**14), merged=st.integers(min_value=1, max_value=10**6))
def test_the_division_rounds_half_up_to_the_nanodollar(spent, merged):
    period = Period(spent_nanos=spent, merged_prs_count=merged)
    expected = (Decimal(spent) / merged).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert cost_per_merged_pr_nanos(period) == int(expected)
    assert cost_per_merged_pr_nanos(Period(spent_nanos=spent, merged_prs_count=0)) is None
