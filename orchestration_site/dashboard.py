"""The admin dashboard: the month at a glance for the team running the product.

A thin view: it reads the budget's summary (``budget.selectors``), the last executions, the
scheduler's next run and what needs attention, and renders ``admin/dashboard.html``. It lives in
the site because it reads every app (budget, notifications, executions, django-q2's schedules).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django_q.models import Schedule

from budget.catalog import retiring_models
from budget.models import DailyUsage, Period, Threshold
from budget.money import format_usd
from budget.overruns import overrun_warnings
from budget.reconciliation import summary_lines
from budget.selectors import PeriodSummary, period_summary
from executions.backtest.report import latest_by_repository
from executions.models import Execution, IssueComment, Repository
from executions.providers.usage_reports import usage_reports
from executions.repositories.local_git import LocalGitGateway
from executions.scheduling.scheduler import SCHEDULE_NAME
from notifications.models import Delivery
from orchestration_site.charts import spend_chart

LAST_EXECUTIONS = 10


def share(part_nanos: int, whole_nanos: int) -> Decimal:
    """``part`` as a percentage of ``whole`` (one decimal place, 0–100) for a bar's width."""
    if whole_nanos <= 0:
        return Decimal(100 if part_nanos else 0)
    value = Decimal(part_nanos) * 100 / whole_nanos
    return min(value, Decimal(100)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def next_scheduled_run():
    """The ``run-next-execution`` schedule, or None when ``setup_schedules`` has not been run."""
    return Schedule.objects.filter(name=SCHEDULE_NAME).order_by("next_run").first()


def dead_deliveries() -> int:
    """Notification deliveries that gave up after their last attempt."""
    return Delivery.objects.filter(status=Delivery.Status.DEAD).count()


def repository_rows(figures: list[dict]) -> list[dict]:
    """Each repository with the month's figures (zeros where it did nothing): the enabled ones and
    those that worked this month, busiest first, with why its tasks wait, if they do."""
    by_name = {row["repository"]: row for row in figures}
    repositories = Repository.objects.filter(enabled=True) | Repository.objects.filter(name__in=by_name)
    rows, backtests = [], latest_by_repository()
    for repository in repositories.order_by("name"):
        row = by_name.get(repository.name) or {
            "spent": "0.00", "executions": 0, "prs": 0, "merged_prs": 0, "cost_per_merged_pr": None,
        }  # fmt: skip
        waits = "disabled" if not repository.enabled else "unavailable" if repository.problem else ""
        rows.append(
            {**row, "repository": repository, "waits": waits, "backtest": backtests.get(repository.pk)}
        )
    rows.sort(key=lambda row: -row["executions"])
    return rows


def warnings(period: Period, *, today: dt.date) -> list[str]:
    """What someone running the product should act on, one line each."""
    found = []
    if period.exhausted_at:
        found.append(
            f"The budget for {period.month:%B %Y} is exhausted (since "
            f"{timezone.localtime(period.exhausted_at):%b %-d, %H:%M}): executions pause until the next "
            "month or until the limit is raised."
        )
    found.extend(overrun_warnings(period))
    for model in retiring_models(on=today):
        successor = f"; {model.successor.name} replaces it" if model.successor else "; choose a successor"
        verb = "retired" if model.retires_on <= today else "retires"
        found.append(f"Model {model.name} {verb} on {model.retires_on:%Y-%m-%d}{successor}.")
    if dead := dead_deliveries():
        found.append(
            f"{dead} notification deliver{'y' if dead == 1 else 'ies'} failed for good: see Deliveries."
        )
    for repository in Repository.objects.filter(enabled=True).exclude(problem="").order_by("name"):
        found.append(f"Repository {repository.name} is unavailable, its tasks wait: {repository.problem}")
    if failed := IssueComment.objects.filter(status=IssueComment.Status.FAILED).count():
        found.append(
            f"{failed} issue comment{'s' if failed != 1 else ''} could not be posted: see Issue comments."
        )
    return found


def reconciliation_panel(reconciled: dict | None) -> dict | None:
    """The last comparison with the vendors' usage reports, as lines (``summary_lines``)."""
    return (
        None if reconciled is None else {"matched": reconciled["matched"], "lines": summary_lines(reconciled)}
    )


def local_branches(period: Period) -> int:
    """The month's changes published as branches of a local git repository (no pull request: the
    PR figures say nothing of them)."""
    return Execution.objects.filter(
        period=period, status=Execution.Status.SUCCEEDED, publisher=LocalGitGateway.name
    ).count()


def chart_for(summary: PeriodSummary) -> str:
    period = summary.period
    daily = list(DailyUsage.objects.filter(period=period).values_list("day", "cost_nanos"))
    thresholds = list(Threshold.objects.filter(enabled=True).values_list("amount_nanos", flat=True))
    return spend_chart(
        period,
        daily,
        summary.milestones,
        thresholds,
        now=summary.now,
        projected_nanos=summary.projected_spend_nanos,
    )


def dashboard(request: HttpRequest) -> HttpResponse:
    summary = period_summary(now=timezone.now())
    period = summary.period
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "summary": summary,
        "usage": summary.as_json(),
        "period": period,
        "last_day": timezone.localtime(period.ends_at - dt.timedelta(microseconds=1)).date(),
        "spent_share": share(period.spent_nanos, period.limit_nanos),
        "reserved_share": share(period.reserved_nanos, period.limit_nanos),
        "spent_usd": format_usd(period.spent_nanos, places=2),
        "limit_usd": format_usd(period.limit_nanos, places=2),
        "remaining_usd": format_usd(period.remaining_nanos, places=2),
        "reserved_usd": format_usd(period.reserved_nanos, places=2),
        "projected_usd": format_usd(summary.projected_spend_nanos, places=2),
        "even_usd": format_usd(summary.even_spend_nanos, places=2),
        "cost_per_pr_usd": None
        if summary.cost_per_pr_nanos is None
        else format_usd(summary.cost_per_pr_nanos, places=4),
        "next_milestone_usd": None
        if summary.next_milestone_nanos is None
        else format_usd(summary.next_milestone_nanos, places=2),
        "chart": chart_for(summary),
        "local_branches": local_branches(period),
        "executions": [
            {"execution": e, "cost_usd": format_usd(e.cost_nanos, places=4)}
            for e in Execution.objects.select_related("task").order_by("-created_at", "-pk")[:LAST_EXECUTIONS]
        ],
        "repositories": repository_rows(summary.repositories),
        "schedule": next_scheduled_run(),
        "warnings": warnings(period, today=timezone.localdate(summary.now)),
        "reconciliation": reconciliation_panel(summary.reconciliation),
        "reconciliation_on": any(usage_reports().values()),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
