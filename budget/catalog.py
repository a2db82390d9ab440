"""The model catalog: which model a configured id resolves to today, and what is retiring soon."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
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
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_current_sql(len(names)), [on, *names])
        rows = cursor.fetchall()
    resolved = {}
    width = len(LanguageModel._meta.concrete_fields)
    for row in rows:
        model = LanguageModel.from_db(connection.alias, _MODEL_COLUMNS, row[:width])
        if row[width] is None or is_retired(model, on):
            continue
        price = Price.from_db(connection.alias, _PRICE_COLUMNS, row[width:])
        price.model = model  # the row it belongs to, already in hand
        resolved[model.name] = ResolvedModel(requested=model.name, model=model, price=price)
    return resolved


_MODEL_COLUMNS = [f.attname for f in LanguageModel._meta.concrete_fields]
_PRICE_COLUMNS = [f.attname for f in Price._meta.concrete_fields]


def _current_sql(count: int) -> str:
    """Each named model joined to its price in force on a date (the latest ``effective_from``)."""
    model, price = LanguageModel._meta.db_table, Price._meta.db_table
    model_columns = ", ".join(f"m.{f.column}" for f in LanguageModel._meta.concrete_fields)
    price_columns = ", ".join(f"p.{f.column}" for f in Price._meta.concrete_fields)
    return (
        f"SELECT {model_columns}, {price_columns} FROM {model} m LEFT JOIN {price} p ON p.id = "
        f"(SELECT latest.id FROM {price} latest WHERE latest.model_id = m.id AND latest.effective_from <= %s "
        "ORDER BY latest.effective_from DESC LIMIT 1) "
        f"WHERE m.name IN ({', '.join(['%s'] * count)})"
    )


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
