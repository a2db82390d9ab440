"""Usage reports: every figure is what the ledger charged, money as decimal strings in dollars."""

import datetime as dt

import pytest

from budget.models import Threshold
from budget.money import to_nanos
from budget.periods import current_period, set_limit
from budget.pricing import Usage
from budget.reconciliation import Counted, VendorOutcome, compare, record
from tests.api.conftest import ANALYSIS, NOW, paid_execution

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
ANALYSIS_ONLY = [("analysis", "claude-sonnet-4-5", ANALYSIS)]


@pytest.fixture
def november(frozen_now):
    """Three executions on Nov 18, 19, 20 ($0.031275 each, the seed's arithmetic) and one that
    failed after its analysis ($0.0285), with a $0.05 threshold crossed on Nov 19."""
    Threshold.objects.create(amount_nanos=to_nanos("0.05"))
    runs = [paid_execution(f"task {i}", now=NOW - i * DAY) for i in (2, 1, 0)]
    runs.append(paid_execution("broken", now=NOW, succeeded=False, steps=ANALYSIS_ONLY))
    return runs


def test_current_usage_reports_what_the_ledger_charged(api, november):
    body = api.get("/api/v1/usage/current/").json()

    assert sum(run.cost_nanos for run in november) == to_nanos("0.122325")
    assert body["month"] == "2026-11"
    assert (body["limit"], body["spent"], body["reserved"], body["remaining"]) == (
        "15.00", "0.122325", "0.00", "14.877675",
    )  # fmt: skip
    assert body["percent"] == "0.8"
    assert (body["executions"], body["succeeded"], body["failed"], body["prs"]) == (4, 3, 1, 3)
    assert body["cost_per_pr"] == "0.040775"
    assert body["models"] == [
        {
            "model": "claude-sonnet-4-5", "provider": "anthropic", "calls": 4, "input_tokens": 8000,
            "output_tokens": 6000, "cache_read_tokens": 0, "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": 0, "cost": "0.114",
        },
        {
            "model": "gpt-4o-mini", "provider": "openai", "calls": 3, "input_tokens": 7500,
            "output_tokens": 12000, "cache_read_tokens": 0, "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": 0, "cost": "0.008325",
        },
    ]  # fmt: skip
    assert body["milestones"] == [{"threshold": "0.05", "reached_at": "2026-11-19T12:00:00+00:00", "prs": 1}]
    assert body["next_milestone"] == "5.00"
    # 19.5 of November's 30 days have passed: an even month would have spent 65 % of $15.
    assert (body["even_spend"], body["pace"]) == ("9.75", "behind")
    assert body["projected_spend"] == "0.188192307"
    assert body["exhausted"] is False
    assert body["in_batches"] == {"executions": 0, "held": "0.00"}
    # Measured: $0.122325 over 4 executions, to the nanodollar; 90 % of them cost at most $0.031275.
    assert body["cost_per_execution"] == {
        "executions": 4,
        "mean": "0.03058125",
        "p90": "0.031275",
        "this_month": True,
    }
    assert body["reconciliation"] is None  # no admin keys: never compared


def test_cost_per_execution_before_any_finished_this_month_is_last_months(api, frozen_now):
    assert api.get("/api/v1/usage/current/").json()["cost_per_execution"] is None
    paid_execution("in october", now=dt.datetime(2026, 10, 30, tzinfo=dt.UTC))

    measured = api.get("/api/v1/usage/current/").json()["cost_per_execution"]

    assert measured == {"executions": 1, "mean": "0.031275", "p90": "0.031275", "this_month": False}


def test_the_last_reconciliation_is_shown_with_what_differs(api, frozen_now):
    day = dt.date(2026, 11, 18)
    found = compare(
        "anthropic",
        [Counted(day, "claude-sonnet-4-5-20250929", False, Usage(input_tokens=4000, output_tokens=3000))],
        [Counted(day, "claude-sonnet-4-5", False, Usage(input_tokens=2000, output_tokens=1500), calls=1)],
        tolerance_percent=1,
        closed_before=NOW.date(),
    )
    record(
        month=dt.date(2026, 11, 1),
        vendors={
            "anthropic": VendorOutcome("differs"),
            "openai": VendorOutcome("failed", "OpenAI refused the admin key (401)"),
        },
        differences=found,
        now=NOW,
    )

    reconciled = api.get("/api/v1/usage/current/").json()["reconciliation"]

    assert (reconciled["month"], reconciled["matched"]) == ("2026-11", False)
    assert reconciled["vendors"]["openai"] == {
        "status": "failed",
        "detail": "OpenAI refused the admin key (401)",
    }
    [difference] = reconciled["differences"]
    assert difference["day"] == "2026-11-18" and difference["model"] == "claude-sonnet-4-5"
    assert difference["tokens"]["input"] == {"vendor": 4000, "ledger": 2000, "difference": 2000}
    assert (difference["value"], difference["over_tolerance"], difference["provisional"]) == (
        "0.0285",
        True,
        False,
    )


def test_money_is_never_a_float(api, november):
    body = api.get("/api/v1/usage/current/").json()
    for key in ("limit", "spent", "reserved", "remaining", "cost_per_pr", "even_spend", "projected_spend"):
        assert isinstance(body[key], str), key
    assert all(isinstance(v, str) for k, v in body["cost_per_execution"].items() if k in ("mean", "p90"))


def test_months_lists_every_period_newest_first(api, frozen_now):
    october = current_period(now=dt.datetime(2026, 10, 10, tzinfo=dt.UTC))
    set_limit(october, "20")
    paid_execution("in october", now=dt.datetime(2026, 10, 10, tzinfo=dt.UTC))
    paid_execution("in november", now=NOW, succeeded=False, steps=ANALYSIS_ONLY)

    rows = api.get("/api/v1/usage/months/").json()

    assert [(r["month"], r["current"]) for r in rows] == [("2026-11", True), ("2026-10", False)]
    assert (rows[1]["limit"], rows[1]["spent"], rows[1]["prs"], rows[1]["cost_per_pr"]) == (
        "20.00", "0.031275", 1, "0.031275",
    )  # fmt: skip
    assert (rows[0]["spent"], rows[0]["failed"], rows[0]["cost_per_pr"]) == ("0.0285", 1, None)


def test_daily_gives_each_day_and_a_running_total(api, november):
    body = api.get("/api/v1/usage/daily/", {"month": "2026-11"}).json()

    assert body["month"] == "2026-11"
    assert body["spent"] == "0.122325"
    assert [
        (d["day"], d["spent"], d["cumulative"], d["executions"], d["prs"], d["calls"]) for d in body["days"]
    ] == [
        ("2026-11-18", "0.031275", "0.031275", 1, 1, 2),
        ("2026-11-19", "0.031275", "0.06255", 1, 1, 2),
        ("2026-11-20", "0.059775", "0.122325", 2, 1, 3),
    ]


def test_daily_defaults_to_the_current_month_and_is_empty_for_a_quiet_one(api, november):
    assert api.get("/api/v1/usage/daily/").json()["month"] == "2026-11"
    assert api.get("/api/v1/usage/daily/", {"month": "2025-02"}).json() == {
        "month": "2025-02", "spent": "0.00", "days": [],
    }  # fmt: skip


def test_models_gives_tokens_and_dollars_per_model(api, november):
    body = api.get("/api/v1/usage/models/", {"month": "2026-11"}).json()

    assert body["spent"] == "0.122325"
    assert [
        (m["model"], m["calls"], m["input_tokens"], m["output_tokens"], m["cost"]) for m in body["models"]
    ] == [
        ("claude-sonnet-4-5", 4, 8000, 6000, "0.114"),
        ("gpt-4o-mini", 3, 7500, 12000, "0.008325"),
    ]


@pytest.mark.parametrize("endpoint", ["daily", "models"])
@pytest.mark.parametrize("month", ["2026-13", "november", "2026-1-1", ""])
def test_a_malformed_month_is_a_readable_400(api, endpoint, month):
    response = api.get(f"/api/v1/usage/{endpoint}/", {"month": month})

    assert response.status_code == 400
    assert response.json() == {"detail": f"month must look like 2026-11, not {month!r}"}


@pytest.mark.parametrize("endpoint", ["current", "months"])
def test_a_nul_in_a_query_parameter_is_a_readable_400(api, frozen_now, endpoint):
    # Found by issue 32: on PostgreSQL, which cannot hold NUL in text, this answered 500.
    response = api.get(f"/api/v1/usage/{endpoint}/", {"repository": "\x00"})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Bad request: the query parameter 'repository' holds a NUL character."
    }
    assert api.get(f"/api/v1/usage/{endpoint}/", {"repository": "acme/\x00web"}).status_code == 400
    assert api.get(f"/api/v1/usage/{endpoint}/").status_code == 200  # nothing else refused
