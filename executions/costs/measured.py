"""What an execution really costs (``budget costs``): the profile of the executions that ran, and
the worst case the next one will reserve.

The seed's token profile is priced in ``budget.costs``. Here, the measured profile comes from what
was charged: the sample is the month's last COSTS_WINDOW finished executions as the ledger counts
them (``budget.selectors.execution_costs``, the figure status and the API show), and each step's
tokens and cost come from those executions' model calls. The next execution's worst case is
``runner.prepare``'s own, for the task the scheduler would take next.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from budget.models import Period
from budget.money import dollars_str
from budget.pricing import InexactBatchPrice, PricingError, Usage, check_batch_price, cost_nanos
from budget.selectors import ExecutionCosts, execution_costs
from budget.stats import Spread, spread
from executions.backlog.services import next_pending_task
from executions.errors import ExecutionError
from executions.models import Execution, ModelCall, Task
from executions.pipeline import runner, steps
from executions.providers import Providers, providers_for_mode
from executions.repositories.base import PublishError
from executions.repositories.gateways import RepositoryGateway, get_gateway

# The token figures measured per step, each read off a model call.
TOKEN_FIGURES = {
    "input_tokens": lambda c: c.input_tokens,  # billed at the input rate (cache reads and writes apart)
    "cached_tokens": lambda c: c.cache_read_tokens,
    "cache_write_tokens": lambda c: c.cache_write_5m_tokens + c.cache_write_1h_tokens,
    "reasoning_tokens": lambda c: c.reasoning_tokens,  # of the output tokens
    "output_tokens": lambda c: c.output_tokens,
}


@dataclass(frozen=True)
class StepMeasure:
    """One step over the executions of the sample that made its call: per execution, the sum of
    that step's calls."""

    step: str
    models: list[str]
    calls: int
    tokens: dict[str, Spread]
    cost: Spread

    def as_json(self) -> dict:
        return {
            "step": self.step,
            "models": self.models,
            "executions": self.cost.count,
            "calls": self.calls,
            **{name: s.as_json() for name, s in self.tokens.items()},
            "cost": self.cost.as_json(dollars_str),
        }


@dataclass(frozen=True)
class MeasuredProfile:
    costs: ExecutionCosts  # the sample, and what each of its executions was charged
    steps: list[StepMeasure]
    standard: Spread  # per execution, every call at the standard price
    batch: Spread  # per execution, every call at the batch price (where that price is exact)
    batch_refused: list[str] = field(default_factory=list)  # models priced at standard, and why

    def as_json(self) -> dict:
        return {
            "executions": self.costs.cost.count,
            "this_month": self.costs.this_month,
            "per_execution": self.costs.cost.as_json(dollars_str),
            "steps": [s.as_json() for s in self.steps],
            "standard_per_execution": self.standard.as_json(dollars_str),
            "batch_per_execution": self.batch.as_json(dollars_str),
            "batch_refused": self.batch_refused,
        }


def measured_profile(period: Period) -> MeasuredProfile | None:
    """The profile of ``period``'s last finished executions (or, before the first, of the last ones
    before it); None when no execution has finished yet."""
    costs = execution_costs(period)
    if costs is None:
        return None
    executions = list(
        Execution.objects.filter(reservation_id__in=costs.reservation_ids).values_list("pk", flat=True)
    )
    calls = ModelCall.objects.filter(execution_id__in=executions).select_related("price__model")
    per_step: dict[str, dict[int, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    models: dict[str, dict[str, None]] = defaultdict(dict)
    counts: dict[str, int] = defaultdict(int)
    standard, batch = dict.fromkeys(executions, 0), dict.fromkeys(executions, 0)
    refused: dict[str, str] = {}
    for call in calls.order_by("pk"):
        sums = per_step[call.step][call.execution_id]
        for name, read in TOKEN_FIGURES.items():
            sums[name] += read(call)
        sums["cost"] += call.cost_nanos
        models[call.step][call.model] = None
        counts[call.step] += 1
        standard[call.execution_id] += call.standard_cost_nanos if call.batch_id else call.cost_nanos
        batch[call.execution_id] += _batch_cost(call, refused)
    measures = [
        StepMeasure(
            step=step,
            models=list(models[step]),
            calls=counts[step],
            tokens={name: spread(s[name] for s in by_execution.values()) for name in TOKEN_FIGURES},
            cost=spread(s["cost"] for s in by_execution.values()),
        )
        for step in steps.VENDOR_OF_STEP
        if (by_execution := per_step.get(step))
    ]
    return MeasuredProfile(
        costs=costs,
        steps=measures,
        standard=spread(standard.values()),
        batch=spread(batch.values()),
        batch_refused=[f"{model}: {reason}" for model, reason in refused.items()],
    )


def _batch_cost(call: ModelCall, refused: dict[str, str]) -> int:
    """What ``call`` cost, or would have cost, through the vendor's batch API (its own price)."""
    if call.batch_id:
        return call.cost_nanos
    try:
        check_batch_price(call.price)
    except InexactBatchPrice as exc:
        refused.setdefault(call.model, str(exc))
        return call.cost_nanos
    usage = Usage(**{name: getattr(call, name) for name in Usage().as_dict()})
    return cost_nanos(call.price, usage, batch=True)


@dataclass(frozen=True)
class HeldPerCharged:
    """What each finished execution held when it started over what it was charged, in hundredths."""

    ratio: Spread

    def as_json(self) -> dict:
        return {
            "executions": self.ratio.count,
            "mean": f"{self.ratio.mean / 100:.2f}",
            "p90": f"{self.ratio.p90 / 100:.2f}",
        }


def held_per_charged(period: Period) -> HeldPerCharged | None:
    """``HeldPerCharged`` over ``period``'s finished executions that were charged; None before one."""
    finished = Execution.objects.filter(
        period=period, status__in=(Execution.Status.SUCCEEDED, Execution.Status.FAILED), cost_nanos__gt=0
    ).values_list("reserved_nanos", "cost_nanos")
    ratio = spread(reserved * 100 // cost for reserved, cost in finished)
    return HeldPerCharged(ratio) if ratio else None


@dataclass(frozen=True)
class NextExecution:
    """What the next execution will reserve, or why that cannot be said now."""

    task: Task | None = None
    worst_case: runner.WorstCase | None = None
    batch: bool = False  # batch mode takes the next task (``run_batches``)
    unavailable: str = ""

    def as_json(self) -> dict:
        if self.worst_case is None:
            return {"task": None, "reserves": None, "steps": [], "unavailable": self.unavailable}
        return {
            "task": {"id": self.task.pk, "title": self.task.title},
            "batch": self.batch,
            "reserves": dollars_str(self.worst_case.nanos),
            "steps": [self.worst_case.analysis.as_json(), self.worst_case.codegen.as_json()],
            "unavailable": None,
        }


def next_execution(
    *,
    providers: Providers | None = None,
    gateway: RepositoryGateway | None = None,
    now: dt.datetime | None = None,
) -> NextExecution:
    """The worst case of the next pending task, computed as the pipeline computes it before its
    reservation (``runner.prepare``: the repository's context at its head, the plan cap, every
    coder try). Reads the repository; reserves nothing and changes no task."""
    task = next_pending_task()
    if task is None:
        return NextExecution(
            unavailable="no task is pending: the worst case depends on the task and the repository"
        )
    batch = steps.batch_mode()
    try:
        prepared = runner.prepare(
            task,
            providers=providers or providers_for_mode(),
            gateway=gateway or get_gateway(task.repository),
            now=now,
            batch=batch,
        )
    except (ExecutionError, PricingError, PublishError) as exc:
        return NextExecution(task=task, unavailable=str(exc))
    return NextExecution(task=task, worst_case=prepared.worst_case, batch=batch)
