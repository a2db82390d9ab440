"""The model catalog: which model a configured id resolves to today, and what is retiring soon."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from budget.models import LanguageModel, Price
from budget.pricing import PricingError, UnpricedModel, lookup_model, price_for


class ModelRetired(PricingError):
    def __init__(self, model: str, on: dt.date):
        super().__init__(
            f"Model {model!r} retired on {on:%Y-%m-%d} and has no priced successor: "
            "choose another model in the admin."
        )
        self.model = model


@dataclass(frozen=True)
class ResolvedModel:
    requested: str
    model: LanguageModel
    price: Price

    @property
    def replaced(self) -> bool:
        """True when a retired model was swapped for its successor."""
        return self.model.name != self.requested


def is_retired(model: LanguageModel, on: dt.date) -> bool:
    return model.retires_on is not None and on >= model.retires_on


def resolve(name: str, *, on: dt.date | None = None) -> ResolvedModel:
    """The model to call for the configured ``name`` on ``on``: itself, or its priced successor.

    Raises ``UnknownModel``, ``UnpricedModel`` or ``ModelRetired`` before any request is made.
    """
    on = on or timezone.localdate()
    model = lookup_model(name)
    seen = set()
    while is_retired(model, on):
        seen.add(model.pk)
        successor = model.successor
        if successor is None or successor.pk in seen:
            raise ModelRetired(model.name, model.retires_on)
        model = LanguageModel.objects.select_related("successor").get(pk=successor.pk)
    try:
        price = price_for(model, on=on)
    except UnpricedModel:
        if model.name != name:
            raise ModelRetired(name, lookup_model(name).retires_on) from None
        raise
    return ResolvedModel(requested=name, model=model, price=price)


def resolve_current(names: list[str], *, on: dt.date | None = None) -> dict[str, ResolvedModel]:
    """``resolve`` for the plain case, several names in one query: each of ``names`` that is a
    known, unretired model with a price in force on ``on``, resolved to itself.

    The others (unknown, unpriced, retired) are left out: ``resolve`` them for the successor or
    the error. Read fresh on every call, so an edit in the admin applies to the next execution.
    """
    on = on or timezone.localdate()
    prices = (
        Price.objects.select_related("model")
        .filter(model__name__in=names, effective_from__lte=on)
        .order_by("-effective_from")  # each model's price in force comes first
    )
    resolved = {}
    for price in prices:
        model = price.model
        if model.name not in resolved and not is_retired(model, on):
            resolved[model.name] = ResolvedModel(requested=model.name, model=model, price=price)
    return resolved


def retiring_models(*, on: dt.date | None = None, within_days: int = 30) -> list[LanguageModel]:
    """Models that retire within ``within_days`` of ``on`` (or already have), soonest first."""
    on = on or timezone.localdate()
    return list(
        LanguageModel.objects.filter(
            retires_on__isnull=False, retires_on__lte=on + dt.timedelta(days=within_days)
        )
        .select_related("successor")
        .order_by("retires_on")
    )
