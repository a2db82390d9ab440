"""Cost projections for a token profile: what one execution costs, and how many fit a month.

Two figures for everything: the real cost of the profile, and the worst case the ledger reserves
before the execution starts (input bounded by UTF-8 bytes at the dearest input rate, output at
``max_tokens``). The worst case decides how many executions can be in flight; the real cost
decides how many the month pays for. Each comes at the standard price and through the vendors'
batch APIs (batch mode, half price where the batch price is exact).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from budget.catalog import ResolvedModel, resolve
from budget.money import dollars_str
from budget.pricing import (
    InexactBatchPrice,
    Usage,
    check_input_bound,
    cost_nanos,
    lookup_model,
    worst_case_nanos,
)

# Typical English and code run about four UTF-8 bytes per token; the ledger bounds input by bytes.
TYPICAL_BYTES_PER_TOKEN = 4


@dataclass(frozen=True)
class StepProfile:
    step: str
    model: str
    input_tokens: int
    output_tokens: int
    max_tokens: int


SEED_PROFILE = (
    StepProfile("analysis", "claude-sonnet-4-5", 2_000, 1_500, 2_048),
    StepProfile("codegen", "gpt-4o-mini", 2_500, 4_000, 8_192),
)


@dataclass(frozen=True)
class StepCost:
    profile: StepProfile
    resolved: ResolvedModel  # the model an execution on that day really calls, and its price
    cost_nanos: int
    worst_case_nanos: int
    # Through the vendor's batch API (batch mode); a model whose batch price is not exact runs at
    # the standard price, and ``batch_refused`` says why.
    batch_cost_nanos: int = 0
    batch_worst_case_nanos: int = 0
    batch_refused: str = ""
    retired_on: dt.date | None = None  # when the model asked for retired, if it was replaced

    @property
    def model(self) -> str:
        return self.resolved.model.name

    @property
    def replaced_note(self) -> str:
        """'' or why the model priced is not the one asked for."""
        if not self.resolved.replaced:
            return ""
        return f"{self.profile.model} retired on {self.retired_on:%Y-%m-%d}: {self.model} runs instead"


@dataclass(frozen=True)
class CostTable:
    steps: list[StepCost]
    limit_nanos: int
    month: dt.date

    @property
    def execution_nanos(self) -> int:
        return sum(s.cost_nanos for s in self.steps)

    @property
    def worst_case_execution_nanos(self) -> int:
        return sum(s.worst_case_nanos for s in self.steps)

    @property
    def batch_execution_nanos(self) -> int:
        return sum(s.batch_cost_nanos for s in self.steps)

    @property
    def batch_worst_case_execution_nanos(self) -> int:
        return sum(s.batch_worst_case_nanos for s in self.steps)

    def fits(self, per_execution: int) -> dict:
        return fits(per_execution, limit_nanos=self.limit_nanos, month=self.month)

    def as_json(self) -> dict:
        """The stable JSON object of ``budget costs --json`` (money as decimal dollar strings)."""
        return {
            "month": f"{self.month:%Y-%m}",
            "limit": dollars_str(self.limit_nanos),
            "steps": [
                {
                    "step": s.profile.step,
                    "model": s.model,  # the model priced: what the next execution would call
                    "requested_model": s.profile.model,
                    "replaced": s.resolved.replaced,
                    "requested_model_retired_on": f"{s.retired_on:%Y-%m-%d}" if s.retired_on else None,
                    "input_tokens": s.profile.input_tokens,
                    "output_tokens": s.profile.output_tokens,
                    "max_tokens": s.profile.max_tokens,
                    "cost": dollars_str(s.cost_nanos),
                    "worst_case": dollars_str(s.worst_case_nanos),
                    "batch_cost": dollars_str(s.batch_cost_nanos),
                    "batch_worst_case": dollars_str(s.batch_worst_case_nanos),
                    "batch_refused": s.batch_refused or None,
                }
                for s in self.steps
            ],
            "real": self.fits(self.execution_nanos),
            "worst_case": self.fits(self.worst_case_execution_nanos),
            "batch_real": self.fits(self.batch_execution_nanos),
            "batch_worst_case": self.fits(self.batch_worst_case_execution_nanos),
        }


def fits(per_execution: int, *, limit_nanos: int, month: dt.date) -> dict:
    """Executions per month and per day at ``per_execution`` each, and the interval between evenly
    spaced runs, in ``month`` with ``limit_nanos`` to spend."""
    days = calendar.monthrange(month.year, month.month)[1]
    per_month = limit_nanos // per_execution if per_execution else 0
    minutes = Decimal(days * 24 * 60)
    tenth = Decimal("0.1")
    return {
        "per_execution": dollars_str(per_execution),
        "executions_per_month": per_month,
        "executions_per_day": str((Decimal(per_month) / days).quantize(tenth)),
        "minutes_between_runs": str((minutes / per_month).quantize(tenth)) if per_month else None,
    }


def cost_table(
    profile: tuple[StepProfile, ...], *, limit_nanos: int, month: dt.date, on: dt.date | None = None
) -> CostTable:
    """Price ``profile`` as an execution on ``on`` (today) would run it: each model resolved through
    the catalog (a retired one becomes its successor), at the price in force that day.

    Raises UnknownModel / UnpricedModel / ModelRetired, and InputTooLong for a profile the
    pipeline would refuse."""
    steps = []
    for step in profile:
        resolved = resolve(step.model, on=on)
        price = resolved.price
        usage = Usage(input_tokens=step.input_tokens, output_tokens=step.output_tokens)
        bounds = {
            "max_input_tokens": step.input_tokens * TYPICAL_BYTES_PER_TOKEN,
            "max_output_tokens": step.max_tokens,
        }
        check_input_bound(resolved.model, bounds["max_input_tokens"])
        real, worst = cost_nanos(price, usage), worst_case_nanos(price, **bounds)
        try:
            batch = {
                "batch_cost_nanos": cost_nanos(price, usage, batch=True),
                "batch_worst_case_nanos": worst_case_nanos(price, **bounds, batch=True),
            }
        except InexactBatchPrice as exc:
            batch = {"batch_cost_nanos": real, "batch_worst_case_nanos": worst, "batch_refused": str(exc)}
        retired_on = lookup_model(step.model).retires_on if resolved.replaced else None
        steps.append(
            StepCost(
                profile=step, resolved=resolved, cost_nanos=real, worst_case_nanos=worst, retired_on=retired_on,
                **batch,
            )
        )  # fmt: skip
    return CostTable(steps=steps, limit_nanos=limit_nanos, month=month)
