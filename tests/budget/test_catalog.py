"""The catalog's one-query path answers exactly as ``resolve`` does, and leaves the hard cases to it."""

import datetime as dt

import pytest

from budget.catalog import resolve, resolve_current
from budget.models import LanguageModel, Price

pytestmark = pytest.mark.django_db

NOVEMBER = dt.date(2026, 11, 25)
DECEMBER = dt.date(2026, 12, 2)  # claude-sonnet-4-5 retired on 2026-11-30


def test_current_models_resolve_to_themselves_at_the_price_in_force():
    current = resolve_current(["claude-sonnet-4-5", "gpt-4o-mini"], on=NOVEMBER)

    for name in ("claude-sonnet-4-5", "gpt-4o-mini"):
        expected = resolve(name, on=NOVEMBER)
        got = current[name]
        assert (got.requested, got.model, got.price) == (expected.requested, expected.model, expected.price)
        assert got.model.retires_on == expected.model.retires_on
        assert got.model.accepts_sampling_params is expected.model.accepts_sampling_params
        assert got.price.model.name == name
        assert [getattr(got.price, f.attname) for f in Price._meta.concrete_fields] == [
            getattr(expected.price, f.attname) for f in Price._meta.concrete_fields
        ]


def test_the_latest_price_effective_on_the_day_is_used_and_a_future_one_is_not():
    model = LanguageModel.objects.get(name="gpt-4o-mini")
    cheaper = Price.objects.create(model=model, effective_from=NOVEMBER, input_nanos=100, output_nanos=400)
    tomorrow, yesterday = NOVEMBER + dt.timedelta(days=1), NOVEMBER - dt.timedelta(days=1)
    Price.objects.create(model=model, effective_from=tomorrow, input_nanos=1, output_nanos=1)

    assert resolve_current(["gpt-4o-mini"], on=NOVEMBER)["gpt-4o-mini"].price == cheaper
    assert resolve_current(["gpt-4o-mini"], on=yesterday)["gpt-4o-mini"].price.input_nanos == 150


def test_retired_unpriced_and_unknown_models_are_left_to_resolve():
    LanguageModel.objects.create(name="claude-unpriced-1", provider="anthropic")

    current = resolve_current(
        ["claude-sonnet-4-5", "claude-unpriced-1", "no-such-model", "gpt-4o-mini"], on=DECEMBER
    )

    assert set(current) == {"gpt-4o-mini"}
    assert resolve("claude-sonnet-4-5", on=DECEMBER).model.name == "claude-sonnet-5-5"


def test_no_names_make_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert resolve_current([], on=NOVEMBER) == {}
