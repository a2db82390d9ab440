"""Read-only views of the budget, for status, the API, the admin and notifications.

Every figure comes from the ledger's running totals, which are sums of what was charged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from budget import outcomes, pacing
from budget.models import Milestone, ModelUsage, Period, Reservation, Threshold
from budget.money import dollars_str
from budget.overruns import overrun_warnings
from budget.periods import current_period
from budget.reconciliation import last_reconciliation, reconciliation_json
from budget.stats import Spread, spread


@dataclass(frozen=True)
class ModelTotals:
    model_name: str
    provider: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cost_nanos: int

    def as_json(self) -> dict:
        return {
            "model": self.model_name,
            "provider": self.provider,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "cost": dollars_str(self.cost_nanos),
        }


# --- figures per repository -----------------------------------------------------------------------
# Repositories belong to the executions app, which depends on this one: it registers where to read
# their figures (in its ``AppConfig.ready``), so that the budget shows them without importing it.


class UnknownRepository(LookupError):
    """A repository was asked for by a name no repository has."""


RepositoryFigures = Callable[..., dict[int, list[dict]]]  # (period_ids, *, repository=None)
_repository_figures: RepositoryFigures | None = None


def register_repository_figures(source: RepositoryFigures) -> None:
    """``source(period_ids, repository=None)`` answers {period id: [one JSON object per repository]},
    the objects of one period adding up to its figures; with ``repository``, that one's only (or
    ``UnknownRepository``)."""
    global _repository_figures
    _repository_figures = source


def repository_figures(period_ids: list[int], *, repository: str | None = None) -> dict[int, list[dict]]:
    """Each period's spend, executions and pull requests per repository (``register_repository_figures``)."""
    if _repository_figures is None:
        if repository is not None:
            raise UnknownRepository(f"There is no repository {repository!r}.")
        return {pk: [] for pk in period_ids}
    return _repository_figures(period_ids, repository=repository)


@dataclass(frozen=True)
class ExecutionCosts:
    """What the last finished executions were charged, from the ledger itself: each execution
    holds one reservation, and its ``charged_nanos`` is the sum of that execution's calls."""

    reservation_ids: tuple[int, ...]
    cost: Spread
    this_month: bool  # the period's own executions; False: none finished yet, the last ones before it

    def as_json(self) -> dict:
        return {
            "executions": self.cost.count,
            **self.cost.as_json(dollars_str),
            "this_month": self.this_month,
        }


def execution_costs(period: Period, *, window: int | None = None) -> ExecutionCosts | None:
    """The cost of the period's last ``window`` (COSTS_WINDOW) finished executions; before the
    first of them, of the last ones of earlier periods; None before any execution finished."""
    window = window or settings.COSTS_WINDOW
    finished = Reservation.objects.exclude(status=Reservation.Status.OPEN).order_by("-closed_at", "-pk")
    this_month = True
    rows = list(finished.filter(period=period).values_list("pk", "charged_nanos")[:window])
    if not rows:
        this_month = False
        earlier = finished.filter(period__starts_at__lt=period.starts_at)
        rows = list(earlier.values_list("pk", "charged_nanos")[:window])
    if not rows:
        return None
    ids, charged = zip(*rows, strict=True)
    return ExecutionCosts(reservation_ids=ids, cost=spread(charged), this_month=this_month)


@dataclass(frozen=True)
class PeriodSummary:
    period: Period
    now: dt.datetime
    models: list[ModelTotals] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    next_milestone_nanos: int | None = None
    batch_holds: int = 0  # executions waiting in vendor batches (batch mode) ...
    batch_held_nanos: int = 0  # ... and what their reservations still hold
    running_holds: int = 0  # open reservations: the work running now ...
    running_held_nanos: int = 0  # ... and what it holds now (shrinking as its calls are charged)
    warnings: list[str] = field(default_factory=list)  # calls billed past what was allowed
    execution_costs: ExecutionCosts | None = None  # measured cost per execution (mean, p90)
    reconciliation: dict | None = None  # the last comparison with the vendors' usage reports
    repositories: list[dict] = field(default_factory=list)  # per repository (``repository_figures``)

    @property
    def percent(self) -> Decimal:
        """Spent as a percentage of the limit, one decimal place."""
        if not self.period.limit_nanos:
            return Decimal("100.0") if self.period.spent_nanos else Decimal("0.0")
        return (Decimal(self.period.spent_nanos) * 100 / self.period.limit_nanos).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )

    @property
    def cost_per_pr_nanos(self) -> int | None:
        return self.period.spent_nanos // self.period.prs_count if self.period.prs_count else None

    @property
    def cost_per_merged_pr_nanos(self) -> int | None:
        return outcomes.cost_per_merged_pr_nanos(self.period)

    @property
    def pace(self) -> str:
        return pacing.pace(self.period, self.now)

    @property
    def projected_spend_nanos(self) -> int:
        return pacing.projected_spend_nanos(self.period, self.now)

    @property
    def even_spend_nanos(self) -> int:
        return pacing.even_spend_nanos(self.period, self.now)

    def figures(self) -> dict:
        """The period's own figures: the first part of ``as_json``."""
        p = self.period
        return {
            "month": f"{p.month:%Y-%m}",
            "starts_at": p.starts_at.isoformat(),
            "ends_at": p.ends_at.isoformat(),
            "limit": dollars_str(p.limit_nanos),
            "spent": dollars_str(p.spent_nanos),
            "reserved": dollars_str(p.reserved_nanos),
            "remaining": dollars_str(p.remaining_nanos),
            "percent": str(self.percent),
            "executions": p.executions_count,
            "succeeded": p.succeeded_count,
            "failed": p.failed_count,
            "prs": p.prs_count,
            "cost_per_pr": None if self.cost_per_pr_nanos is None else dollars_str(self.cost_per_pr_nanos),
            **pr_outcomes(p),
            **outcomes.edit_outcomes(p),
        }

    def as_json(self) -> dict:
        """The stable JSON object of ``budget status --json`` and ``/api/v1/usage/current/``."""
        return {
            **self.figures(),
            "models": [m.as_json() for m in self.models],
            "milestones": [
                {
                    "threshold": dollars_str(m.threshold_nanos),
                    "reached_at": m.reached_at.isoformat(),
                    "prs": m.prs_count,
                }
                for m in self.milestones
            ],
            "next_milestone": None
            if self.next_milestone_nanos is None
            else dollars_str(self.next_milestone_nanos),
            "pace": self.pace,
            "even_spend": dollars_str(self.even_spend_nanos),
            "projected_spend": dollars_str(self.projected_spend_nanos),
            "exhausted": self.period.exhausted_at is not None,
            "in_batches": {"executions": self.batch_holds, "held": dollars_str(self.batch_held_nanos)},
            "held_now": {
                "executions": self.running_holds,
                "held": dollars_str(self.running_held_nanos),
                # Beyond what is held: analyses held at the vendor's count, up to their byte bound.
                "exposed": dollars_str(self.period.exposed_nanos),
            },
            "warnings": self.warnings,
            "cost_per_execution": self.execution_costs.as_json() if self.execution_costs else None,
            "reconciliation": self.reconciliation,
            "repositories": self.repositories,
        }


def pr_outcomes(period: Period) -> dict:
    """What became of the period's pull requests, and the headline figure: cost per merged PR
    (the period's whole spend, revisions included, over its merged PRs)."""
    per_merged = outcomes.cost_per_merged_pr_nanos(period)
    return {
        "merged_prs": period.merged_prs_count,
        "closed_prs": period.closed_prs_count,
        "open_prs": period.open_prs_count,
        "cost_per_merged_pr": None if per_merged is None else dollars_str(per_merged),
        "revisions": period.revisions_count,
        "merged_after_revision": period.merged_after_revision_count,
    }


_TOTALS = [f.name for f in ModelTotals.__dataclass_fields__.values()]


def model_totals(period: Period) -> list[ModelTotals]:
    rows = (
        ModelUsage.objects.filter(period=period).order_by("-cost_nanos", "model_name").values_list(*_TOTALS)
    )
    return [ModelTotals(*row) for row in rows]


def period_summary(
    period: Period | None = None, *, now: dt.datetime | None = None, repository: str | None = None
) -> PeriodSummary:
    """Everything there is to say about a period (the open one by default) at ``now``; its
    figures per repository, or ``repository``'s only (``UnknownRepository`` for a name no
    repository has).

    The period's figures are read afresh, so a summary of a ``period`` loaded earlier (say, before
    the charges of an execution) still says what is true now.
    """
    now = now or timezone.now()
    period_id = period.pk if period else current_period(now=now).pk
    next_threshold = Threshold.objects.filter(enabled=True, amount_nanos__gt=OuterRef("spent_nanos"))
    period = Period.objects.annotate(
        next_threshold_nanos=Subquery(next_threshold.order_by("amount_nanos").values("amount_nanos")[:1])
    ).get(pk=period_id)
    return PeriodSummary(
        period=period,
        now=now,
        models=model_totals(period),
        milestones=list(Milestone.objects.filter(period_id=period_id).order_by("threshold_nanos")),
        next_milestone_nanos=period.next_threshold_nanos,
        **held_now(period, now),
        warnings=overrun_warnings(period),
        execution_costs=execution_costs(period),
        reconciliation=reconciliation_json(last_reconciliation()),
        repositories=repository_figures([period_id], repository=repository)[period_id],
    )


def held_now(period: Period, now: dt.datetime) -> dict[str, int]:
    """What running work holds now (the period's open reservations), and of that what executions
    waiting in a vendor batch hold: reservations held past the synchronous timeout
    (``ledger.hold_until``), which may take up to the batch window to come back. One query."""
    horizon = now + dt.timedelta(seconds=settings.RESERVATION_TIMEOUT_SECONDS)
    in_batch = Q(expires_at__gt=horizon)
    totals = Reservation.objects.filter(period=period, status=Reservation.Status.OPEN).aggregate(
        count=Count("pk"),
        nanos=Sum("held_nanos"),
        batch_count=Count("pk", filter=in_batch),
        batch_nanos=Sum("held_nanos", filter=in_batch),
    )
    return {
        "running_holds": totals["count"],
        "running_held_nanos": totals["nanos"] or 0,
        "batch_holds": totals["batch_count"],
        "batch_held_nanos": totals["batch_nanos"] or 0,
    }


def period_figures(period: Period) -> dict:
    """``period``'s own figures, read afresh (``PeriodSummary.figures``): one read, without the
    per-model totals, milestones and pace of ``period_summary``."""
    return PeriodSummary(period=Period.objects.get(pk=period.pk), now=timezone.now()).figures()


def all_periods() -> list[Period]:
    """Every period, newest first."""
    return list(Period.objects.order_by("-starts_at"))
