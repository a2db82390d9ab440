"""The model calendar as the budget sees it: which model each pipeline step is configured with,
and what a configured model's retirement does to the cost of an execution.

The step configurations belong to the executions app, which depends on this one: it registers
where to read them (``register_configured_models``, in its ``AppConfig.ready``) so that the budget
never imports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from budget.catalog import ResolvedModel, resolve
from budget.costs import SEED_PROFILE
from budget.models import LanguageModel, Price, vendor_name
from budget.money import format_usd
from budget.pricing import PricingError, Usage, cost_nanos, lookup_model, price_for

_configured_models: Callable[[], dict[str, str]] | None = None


def register_configured_models(source: Callable[[], dict[str, str]]) -> None:
    """``source()`` answers {step: configured model id}, read afresh on every call."""
    global _configured_models
    _configured_models = source


def configured_models() -> dict[str, str]:
    """{step: configured model id}; the seed's when no app registered its configuration."""
    if _configured_models is None:
        return {profile.step: profile.model for profile in SEED_PROFILE}
    return _configured_models()


def execution_cost_nanos(prices: dict[str, Price]) -> int:
    """One execution of the seed's token profile with each step at ``prices[step]``."""
    return sum(
        cost_nanos(prices[p.step], Usage(input_tokens=p.input_tokens, output_tokens=p.output_tokens))
        for p in SEED_PROFILE
    )


@dataclass(frozen=True)
class Retirement:
    """A configured model that retires within the notice (or has retired), and what follows it."""

    step: str
    model: LanguageModel
    successor: ResolvedModel | None  # the model that runs from ``model.retires_on``, if any
    before_nanos: int | None  # one execution (seed profile) on the retiring model
    after_nanos: int | None  # the same on its successor

    def warning(self, *, today: dt.date) -> str:
        days = (self.model.retires_on - today).days
        when = (
            f"retired on {self.model.retires_on:%Y-%m-%d}"
            if days <= 0
            else f"retires on {self.model.retires_on:%Y-%m-%d} (in {days} day{'s' if days != 1 else ''})"
        )
        head = f"{self.model.name} ({self.step}) {when}"
        if self.successor is None:
            return f"{head} and has no priced successor: executions stop then; choose another model in the admin."
        cost = ""
        if self.before_nanos is not None and self.after_nanos is not None:
            cost = (
                f"; one execution costs {format_usd(self.before_nanos)} on {self.model.name}, "
                f"{format_usd(self.after_nanos)} on {self.successor.model.name}"
            )
        verb = "runs instead" if days <= 0 else "runs instead from then"
        return f"{head}: {self.successor.model.name} {verb}{cost}."


def configured_retirements(*, on: dt.date, within_days: int) -> list[Retirement]:
    """Each configured model that retires within ``within_days`` of ``on`` or already has, soonest first."""
    configured = configured_models()
    found = []
    for step, name in configured.items():
        try:
            model = lookup_model(name)
        except PricingError:
            continue  # an unknown model is the pipeline's error to report, not a retirement
        if model.retires_on is None or model.retires_on > on + dt.timedelta(days=within_days):
            continue
        try:
            successor = resolve(name, on=max(on, model.retires_on))
        except PricingError:
            successor = None
        found.append(_retirement(step, model, successor, configured, on=on))
    return sorted(found, key=lambda r: (r.model.retires_on, r.step))


def _retirement(
    step: str,
    model: LanguageModel,
    successor: ResolvedModel | None,
    configured: dict[str, str],
    *,
    on: dt.date,
) -> Retirement:
    """The cost of one execution on the last day ``model`` runs, and on its successor's first."""
    last_day = min(on, model.retires_on - dt.timedelta(days=1))
    switch_day = max(on, model.retires_on)
    try:
        before = {s: _price_of(n, on=last_day) for s, n in configured.items()}
        before[step] = price_for(model, on=last_day)
        after = {s: _price_of(n, on=switch_day) for s, n in configured.items()}
        if successor is not None:
            after[step] = successor.price
        before_nanos = execution_cost_nanos(before)
        after_nanos = execution_cost_nanos(after) if successor is not None else None
    except (PricingError, KeyError):
        before_nanos = after_nanos = None  # a step without a price: the warning still names the date
    return Retirement(step, model, successor, before_nanos, after_nanos)


def _price_of(name: str, *, on: dt.date) -> Price:
    return resolve(name, on=on).price


def vendor_shutdown_warnings(*, on: dt.date, within_days: int) -> list[str]:
    """A line for each configured model whose vendor publishes a shutdown date (``check_models``
    records it) that has not passed, unless the retirement warning already says the same."""
    out = []
    for step, name in sorted(configured_models().items()):
        model = LanguageModel.objects.select_related("successor").filter(name=name).first()
        day = model.vendor_shutdown_on if model else None
        if day is None or day < on:
            continue
        retires_on = model.retires_on
        if retires_on is not None and retires_on < day:
            continue  # the catalog switches to the successor before the vendor shuts it down
        head = f"{vendor_name(model.provider)}'s model list shuts {name} ({step}) down on {day:%Y-%m-%d}"
        if retires_on is None or retires_on > day:
            out.append(
                f"{head}, but the catalog does not retire it by then: set its retirement date and a "
                "successor in the admin."
            )
        elif retires_on > on + dt.timedelta(days=within_days):  # closer, the retirement warning says it
            successor = f"{model.successor.name} runs instead" if model.successor else "it has no successor"
            out.append(f"{head}; the catalog retires it that day: {successor}.")
    return out
