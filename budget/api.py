"""Usage endpoints (``/api/v1/usage/...``). Read-only; every figure comes from the running totals
the ledger keeps per period, per day and per model, so no request aggregates executions."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from budget.models import DailyUsage, ModelUsage, Period
from budget.money import dollars_str
from budget.outcomes import edit_outcomes
from budget.periods import current_period, parse_month
from budget.selectors import (
    PeriodSummary,
    UnknownRepository,
    all_periods,
    period_summary,
    pr_outcomes,
    repository_figures,
)
from budget.serializers import (
    DailyUsageSerializer,
    ErrorSerializer,
    ModelUsageSerializer,
    PeriodRowSerializer,
    UsageCurrentSerializer,
)

MONTH_PARAM = OpenApiParameter(
    "month",
    OpenApiTypes.STR,
    description="A month as YYYY-MM; the current period's month when omitted.",
    pattern=r"^\d{4}-\d{2}$",
)
REPOSITORY_PARAM = OpenApiParameter(
    "repository",
    OpenApiTypes.STR,
    description="Only this repository's figures in `repositories` (`owner/name`, or a local "
    "repository's path); the budget's own figures stay the month's.",
)
BAD_REQUEST = OpenApiResponse(ErrorSerializer, description="A query parameter was malformed.")
UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No valid token or session.")


def month_param(request: Request, *, now: dt.datetime) -> dt.date:
    text = request.query_params.get("month")
    if text is None:
        return current_period(now=now).month
    try:
        return parse_month(text)
    except ValueError as exc:
        raise ParseError(str(exc)) from None


def repository_param(request: Request) -> str | None:
    """``?repository=``, stripped; None when not asked."""
    text = request.query_params.get("repository")
    if text is None:
        return None
    if not text.strip():
        raise ParseError("repository must name a repository, like owner/name")
    return text.strip()


def period_row(period: Period, *, now: dt.datetime, current_id: int, repositories: list[dict]) -> dict:
    summary = PeriodSummary(period=period, now=now)
    return {
        "id": period.pk,
        "month": f"{period.month:%Y-%m}",
        "starts_at": period.starts_at,
        "ends_at": period.ends_at,
        "current": period.pk == current_id,
        "limit": dollars_str(period.limit_nanos),
        "spent": dollars_str(period.spent_nanos),
        "reserved": dollars_str(period.reserved_nanos),
        "remaining": dollars_str(period.remaining_nanos),
        "percent": str(summary.percent),
        "executions": period.executions_count,
        "succeeded": period.succeeded_count,
        "failed": period.failed_count,
        "prs": period.prs_count,
        "cost_per_pr": None if summary.cost_per_pr_nanos is None else dollars_str(summary.cost_per_pr_nanos),
        **pr_outcomes(period),
        **edit_outcomes(period),
        "exhausted": period.exhausted_at is not None,
        "repositories": repositories,
    }


def daily_rows(month: dt.date) -> list[dict]:
    """Per-day totals of a month (summed over its periods when ``reset_budget`` split it)."""
    rows = (
        DailyUsage.objects.filter(period__month=month)
        .values("day")
        .annotate(cost=Sum("cost_nanos"), n_calls=Sum("calls"), n_exec=Sum("executions"), n_prs=Sum("prs"))
        .order_by("day")
    )
    cumulative = 0
    days = []
    for row in rows:
        cumulative += row["cost"]
        days.append(
            {
                "day": row["day"],
                "spent": dollars_str(row["cost"]),
                "cumulative": dollars_str(cumulative),
                "calls": row["n_calls"],
                "executions": row["n_exec"],
                "prs": row["n_prs"],
            }
        )
    return days


def model_rows(month: dt.date) -> list[dict]:
    fields = (
        "calls", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_5m_tokens", "cache_write_1h_tokens", "cost_nanos",
    )  # fmt: skip
    rows = (
        ModelUsage.objects.filter(period__month=month)
        .values("model_name", "provider")
        .annotate(**{f"total_{f}": Sum(f) for f in fields})
        .order_by("-total_cost_nanos", "model_name")
    )
    return [
        {
            "model": row["model_name"],
            "provider": row["provider"],
            **{f: row[f"total_{f}"] for f in fields if f != "cost_nanos"},
            "cost": dollars_str(row["total_cost_nanos"]),
        }
        for row in rows
    ]


def month_spent(month: dt.date) -> str:
    total = Period.objects.filter(month=month).aggregate(total=Sum("spent_nanos"))["total"]
    return dollars_str(total or 0)


class UsageCurrentView(APIView):
    @extend_schema(
        operation_id="usage_current",
        summary="The open period's usage",
        description="Limit, spend, counts, per-model totals, milestones, pace and projection of the "
        "budget period open now, and each repository's share of it.",
        parameters=[REPOSITORY_PARAM],
        responses={200: UsageCurrentSerializer, 400: BAD_REQUEST, 401: UNAUTHENTICATED, 403: UNAUTHENTICATED},
        tags=["usage"],
    )
    def get(self, request: Request) -> Response:
        try:
            summary = period_summary(repository=repository_param(request))
        except UnknownRepository as exc:
            raise ParseError(str(exc)) from None
        return Response(UsageCurrentSerializer(summary.as_json()).data)


class UsageMonthsView(APIView):
    @extend_schema(
        operation_id="usage_months",
        summary="Every period, newest first",
        parameters=[REPOSITORY_PARAM],
        responses={
            200: PeriodRowSerializer(many=True),
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: UNAUTHENTICATED,
        },
        tags=["usage"],
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        current_id = current_period(now=now).pk
        periods = all_periods()
        try:
            shares = repository_figures([p.pk for p in periods], repository=repository_param(request))
        except UnknownRepository as exc:
            raise ParseError(str(exc)) from None
        rows = [period_row(p, now=now, current_id=current_id, repositories=shares[p.pk]) for p in periods]
        return Response(PeriodRowSerializer(rows, many=True).data)


class UsageDailyView(APIView):
    @extend_schema(
        operation_id="usage_daily",
        summary="Spend, executions and PRs per day of a month",
        parameters=[MONTH_PARAM],
        responses={200: DailyUsageSerializer, 400: BAD_REQUEST, 401: UNAUTHENTICATED, 403: UNAUTHENTICATED},
        tags=["usage"],
    )
    def get(self, request: Request) -> Response:
        month = month_param(request, now=timezone.now())
        data = {"month": f"{month:%Y-%m}", "spent": month_spent(month), "days": daily_rows(month)}
        return Response(DailyUsageSerializer(data).data)


class UsageModelsView(APIView):
    @extend_schema(
        operation_id="usage_models",
        summary="Tokens of each kind and dollars per model for a month",
        parameters=[MONTH_PARAM],
        responses={200: ModelUsageSerializer, 400: BAD_REQUEST, 401: UNAUTHENTICATED, 403: UNAUTHENTICATED},
        tags=["usage"],
    )
    def get(self, request: Request) -> Response:
        month = month_param(request, now=timezone.now())
        data = {"month": f"{month:%Y-%m}", "spent": month_spent(month), "models": model_rows(month)}
        return Response(ModelUsageSerializer(data).data)
