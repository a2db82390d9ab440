"""Read-only views of the budget, for status, the API, the admin and notifications.

Every figure comes from the ledger's running totals, which are sums of what was charged.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, connections
from django.utils import timezone

from budget import pacing
from budget.models import Milestone, ModelUsage, Period, Threshold
from budget.money import dollars_str
from budget.periods import current_period


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


@dataclass(frozen=True)
class PeriodSummary:
    period: Period
    now: dt.datetime
    models: list[ModelTotals] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    next_milestone_nanos: int | None = None

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
    def pace(self) -> str:
        return pacing.pace(self.period, self.now)

    @property
    def projected_spend_nanos(self) -> int:
        return pacing.projected_spend_nanos(self.period, self.now)

    @property
    def even_spend_nanos(self) -> int:
        return pacing.even_spend_nanos(self.period, self.now)

    def as_json(self) -> dict:
        """The stable JSON object of ``budget status --json`` and ``/api/v1/usage/current/``."""
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
            "exhausted": p.exhausted_at is not None,
        }


# The summary is read on every execution's events, so it is plain SQL: the ORM's query building
# cost more than the reads themselves. Columns come from the models, so they cannot drift.
_TOTALS = [f.name for f in ModelTotals.__dataclass_fields__.values()]


def model_totals(period: Period) -> list[ModelTotals]:
    rows = _fetch(
        f"SELECT {', '.join(_TOTALS)} FROM {ModelUsage._meta.db_table} WHERE period_id = %s "
        "ORDER BY cost_nanos DESC, model_name",
        [period.pk],
    )
    return [ModelTotals(*row) for row in rows]


def period_summary(period: Period | None = None, *, now: dt.datetime | None = None) -> PeriodSummary:
    """Everything there is to say about a period (the open one by default) at ``now``.

    The period's figures are read afresh, so a summary of a ``period`` loaded earlier (say, before
    the charges of an execution) still says what is true now.
    """
    now = now or timezone.now()
    period = period or current_period(now=now)
    (*columns, next_threshold), *_ = _fetch(
        f"SELECT {_columns(Period)}, (SELECT MIN(amount_nanos) FROM {Threshold._meta.db_table} "
        f"WHERE enabled AND amount_nanos > {Period._meta.db_table}.spent_nanos) "
        f"FROM {Period._meta.db_table} WHERE id = %s",
        [period.pk],
    )
    milestones = _fetch(
        f"SELECT {_columns(Milestone)} FROM {Milestone._meta.db_table} WHERE period_id = %s "
        "ORDER BY threshold_nanos",
        [period.pk],
    )
    return PeriodSummary(
        period=_instance(Period, columns),
        now=now,
        models=model_totals(period),
        milestones=[_instance(Milestone, row) for row in milestones],
        next_milestone_nanos=next_threshold,
    )


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _columns(model) -> str:
    return ", ".join(f"{model._meta.db_table}.{f.column}" for f in model._meta.concrete_fields)


def _instance(model, row):
    """A model instance from a row of ``_columns(model)``, its values converted as the ORM
    converts them (SQLite, for one, returns naive datetimes)."""
    values = list(row)
    db = connections[connection.alias]  # the thread's own connection (``connection`` is a proxy)
    for position, expression, converters in _converters(model, db):
        for convert in converters:
            values[position] = convert(values[position], expression, db)
    return model.from_db(connection.alias, [f.attname for f in model._meta.concrete_fields], values)


@functools.lru_cache(maxsize=64)
def _converters(model, db) -> list[tuple[int, object, list]]:
    """Each column of ``model`` that ``db`` converts: its position, expression and converters."""
    found = []
    for position, column in enumerate(model._meta.concrete_fields):
        expression = column.cached_col
        converters = db.ops.get_db_converters(expression) + column.get_db_converters(db)
        if converters:
            found.append((position, expression, converters))
    return found


def all_periods() -> list[Period]:
    """Every period, newest first."""
    return list(Period.objects.order_by("-starts_at"))
