"""Pricing is exact, additive, never negative, and matches hand-computed vendor examples."""

import datetime as dt
import logging
import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from budget.models import LanguageModel, Price
from budget.money import NANOS_PER_DOLLAR, MoneyError, dollars_str, price_to_nanos_per_token, to_nanos
from budget.pricing import (
    RATE_FIELDS,
    InexactBatchPrice,
    PricingError,
    UnknownModel,
    UnpricedModel,
    Usage,
    check_batch_price,
    cost_nanos,
    max_input_rate,
    price_for,
    worst_case_nanos,
)

pytestmark = pytest.mark.django_db

counts = st.integers(min_value=0, max_value=5_000_000)
usages = st.builds(
    Usage,
    input_tokens=counts,
    output_tokens=counts,
    cache_read_tokens=counts,
    cache_write_5m_tokens=counts,
    cache_write_1h_tokens=counts,
)


def dollars(nanos: int) -> Decimal:
    return Decimal(nanos) / NANOS_PER_DOLLAR


def test_anthropic_usage_with_cache_matches_hand_computed_cost():
    # A Messages API usage object: input_tokens excludes the cache reads and writes.
    usage = Usage.from_anthropic(
        {
            "input_tokens": 1_200,
            "output_tokens": 1_500,
            "cache_read_input_tokens": 3_000,
            "cache_creation_input_tokens": 2_500,
            "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 500},
        }
    )
    assert usage == Usage(1_200, 1_500, 3_000, 2_000, 500)
    # $3 in, $15 out, $0.30 read, $3.75 write 5m, $6 write 1h per 1M tokens
    expected = (
        Decimal("1200") * 3
        + 1500 * 15
        + Decimal("3000") * Decimal("0.30")
        + Decimal("2000") * Decimal("3.75")
        + 500 * 6
    ) / 1_000_000
    assert dollars(cost_nanos(price_for("claude-sonnet-4-5"), usage)) == expected == Decimal("0.0375")


def test_anthropic_usage_without_split_prices_writes_at_5_minute_rate():
    usage = Usage.from_anthropic({"input_tokens": 10, "output_tokens": 0, "cache_creation_input_tokens": 100})
    assert usage.cache_write_5m_tokens == 100 and usage.cache_write_1h_tokens == 0


def test_openai_usage_prices_cached_prompt_tokens_at_the_cached_rate():
    # prompt_tokens includes the cached tokens.
    usage = Usage.from_openai(
        {
            "prompt_tokens": 2_500,
            "completion_tokens": 4_000,
            "prompt_tokens_details": {"cached_tokens": 1_024},
        }
    )
    assert usage == Usage(input_tokens=1_476, output_tokens=4_000, cache_read_tokens=1_024)
    expected = (
        Decimal(1476) * Decimal("0.15") + 4000 * Decimal("0.60") + 1024 * Decimal("0.075")
    ) / 1_000_000
    assert dollars(cost_nanos(price_for("gpt-4o-mini"), usage)) == expected


def test_the_seed_profile_costs_what_the_seed_system_computed():
    analysis = cost_nanos(price_for("claude-sonnet-4-5"), Usage(input_tokens=2_000, output_tokens=1_500))
    codegen = cost_nanos(price_for("gpt-4o-mini"), Usage(input_tokens=2_500, output_tokens=4_000))
    assert (dollars_str(analysis), dollars_str(codegen), dollars_str(analysis + codegen)) == (
        "0.0285",
        "0.002775",
        "0.031275",
    )


@hsettings(max_examples=200, deadline=None)
@given(a=usages, b=usages)
def test_cost_is_exact_additive_and_never_negative(a, b):
    price = price_for("claude-sonnet-4-5")
    ca, cb = cost_nanos(price, a), cost_nanos(price, b)
    assert isinstance(ca, int) and ca >= 0
    assert cost_nanos(price, a + b) == ca + cb
    exact = (
        Decimal(a.input_tokens) * 3
        + Decimal(a.output_tokens) * 15
        + Decimal(a.cache_read_tokens) * Decimal("0.3")
        + Decimal(a.cache_write_5m_tokens) * Decimal("3.75")
        + Decimal(a.cache_write_1h_tokens) * 6
    ) / 1_000_000
    assert dollars(ca) == exact


@hsettings(max_examples=100, deadline=None)
@given(prompt=st.integers(0, 10**7), cached_share=st.integers(0, 100), out=st.integers(0, 10**6))
def test_openai_parts_never_exceed_the_reported_prompt(prompt, cached_share, out):
    usage = Usage.from_openai(
        {
            "prompt_tokens": prompt,
            "completion_tokens": out,
            "prompt_tokens_details": {"cached_tokens": prompt * cached_share // 100},
        }
    )
    assert usage.input_tokens + usage.cache_read_tokens == prompt
    assert cost_nanos(price_for("gpt-4o-mini"), usage) <= prompt * 150 + out * 600


@hsettings(max_examples=100, deadline=None)
@given(usage=usages)
def test_worst_case_bounds_any_usage_of_the_same_size(usage):
    price = price_for("claude-sonnet-4-5")
    inputs = (
        usage.input_tokens
        + usage.cache_read_tokens
        + usage.cache_write_5m_tokens
        + usage.cache_write_1h_tokens
    )
    assert cost_nanos(price, usage) <= worst_case_nanos(
        price, max_input_tokens=inputs, max_output_tokens=usage.output_tokens
    )


def test_batch_discount_halves_every_token_class_exactly():
    price = price_for("claude-sonnet-4-5")  # 3000 / 15000, writes 3750 / 6000, reads 300
    usage = Usage(
        input_tokens=3,
        output_tokens=5,
        cache_read_tokens=7,
        cache_write_5m_tokens=11,
        cache_write_1h_tokens=13,
    )
    assert cost_nanos(price, usage, batch=True) == 3 * 1500 + 5 * 7500 + 7 * 150 + 11 * 1875 + 13 * 3000
    assert cost_nanos(price, usage) == 2 * cost_nanos(price, usage, batch=True)
    assert (
        worst_case_nanos(price, max_input_tokens=10, max_output_tokens=4, batch=True) == 10 * 3000 + 4 * 7500
    )


def test_gpt_4o_mini_batch_price_is_exact_because_cache_hits_come_in_steps_of_128():
    price = price_for("gpt-4o-mini")  # 150 / 600, cached input 75: 37.5 a token at half price
    assert price.cache_read_increment_tokens == 128  # set by the data migration
    check_batch_price(price)  # 128 x 37.5 = 4,800: whole
    usage = Usage(input_tokens=1348, output_tokens=4000, cache_read_tokens=9 * 128)
    assert cost_nanos(price, usage, batch=True) == 1348 * 75 + 4000 * 300 + 9 * 4800 == 1_344_300
    assert cost_nanos(price, usage) == 2 * 1_344_300
    # The bound rounds the 37.5 up; the dearest input rate (75) is whole anyway.
    assert (
        worst_case_nanos(price, max_input_tokens=10, max_output_tokens=10, batch=True) == 10 * 75 + 10 * 300
    )


def test_gpt_6_luna_batch_price_is_exact_since_openai_reports_no_cache_writes():
    price = price_for("gpt-6-luna", on=dt.date(2027, 1, 14))  # 100 / 500, cached 10, cache write 125
    assert price.cache_write_5m_nanos == 125  # 62.5 at half price, but no OpenAI call reports writes
    check_batch_price(price)
    usage = Usage(input_tokens=1001, output_tokens=3, cache_read_tokens=7)
    assert cost_nanos(price, usage, batch=True) == 1001 * 50 + 3 * 250 + 7 * 5
    price.model.provider = "anthropic"  # a vendor that does report cache writes: refused
    with pytest.raises(InexactBatchPrice, match="cache write 5m rate"):
        check_batch_price(price)


def test_a_batch_price_that_is_not_exact_at_its_billing_increment_is_refused_before_any_call():
    price = price_for("gpt-4o-mini")
    price.cache_read_increment_tokens = 1  # a vendor that bills cache hits token by token: 37.5 each
    with pytest.raises(
        InexactBatchPrice, match="gpt-4o-mini's cache read rate .75 nanodollars per token. less its 50"
    ):
        worst_case_nanos(price, max_input_tokens=10, max_output_tokens=10, batch=True)
    price.cache_read_increment_tokens = 3  # 3 x 37.5 = 112.5
    with pytest.raises(InexactBatchPrice, match="not a whole nanodollar for the 3 tokens it is billed in"):
        check_batch_price(price)
    price.cache_read_increment_tokens, price.output_nanos = 128, 601  # output is billed per token: 300.5
    with pytest.raises(InexactBatchPrice, match="output rate .601 nanodollars per token."):
        worst_case_nanos(price, max_input_tokens=10, max_output_tokens=10, batch=True)
    assert cost_nanos(price, Usage(input_tokens=2, output_tokens=1)) == 901  # standard price unaffected


def exact_rate(draw, percent: int, increment: int) -> int:
    """A rate whose batch cost is whole per ``increment`` tokens at ``percent`` off."""
    step = 100 // math.gcd(100, (100 - percent) * increment)
    return draw(st.integers(min_value=0, max_value=20_000 // step)) * step


@st.composite
def exact_prices(draw):
    percent = draw(st.sampled_from([0, 10, 20, 25, 50, 75, 90, 100]))
    increment = draw(st.sampled_from([1, 2, 64, 128, 1024]))
    model = LanguageModel(name="m", provider="openai")
    rates = {field: exact_rate(draw, percent, 1) for field in RATE_FIELDS if field != "cache_read_nanos"}
    return Price(
        model=model, batch_discount_percent=percent, cache_read_increment_tokens=increment,
        cache_read_nanos=exact_rate(draw, percent, increment), **rates,
    )  # fmt: skip


@hsettings(
    max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # caplog cleared per example
@given(price=exact_prices(), usage=usages, steps=counts)
def test_batch_costs_are_exact_for_counts_in_whole_billing_increments(price, usage, steps, caplog):
    usage = replace(usage, cache_read_tokens=steps * price.cache_read_increment_tokens)
    check_batch_price(price)
    caplog.clear()
    batch = cost_nanos(price, usage, batch=True)
    assert batch * 100 == cost_nanos(price, usage) * (100 - price.batch_discount_percent)  # to the nanodollar
    assert "rounded up" not in caplog.text


@hsettings(max_examples=300)
@given(price=exact_prices(), usage=usages)
def test_any_reported_count_is_charged_never_below_its_exact_cost_and_within_the_worst_case(price, usage):
    exact = Fraction(cost_nanos(price, usage) * (100 - price.batch_discount_percent), 100)
    batch = cost_nanos(price, usage, batch=True)
    assert exact <= batch < exact + len(RATE_FIELDS)  # rounded up, class by class, at most
    inputs = usage.total_tokens - usage.output_tokens
    assert batch <= worst_case_nanos(
        price, max_input_tokens=inputs, max_output_tokens=usage.output_tokens, batch=True
    )


def test_a_cache_count_off_the_increment_is_still_charged_rounded_up_with_a_warning(caplog):
    price = price_for("gpt-4o-mini")
    usage = Usage(input_tokens=1, output_tokens=1, cache_read_tokens=129)  # not a multiple of 128

    with caplog.at_level(logging.WARNING, logger="budget.pricing"):
        charged = cost_nanos(price, usage, batch=True)

    assert charged == 75 + 300 + 4838  # 129 x 37.5 = 4,837.5, rounded up: never a lost nanodollar
    assert "gpt-4o-mini: 129 cache read tokens at the batch price is not a whole nanodollar" in caplog.text
    assert "charged 4838 nanodollars, rounded up" in caplog.text
    assert charged <= worst_case_nanos(price, max_input_tokens=130, max_output_tokens=1, batch=True)


def test_the_batch_bound_rounds_a_fractional_rate_up():
    price = price_for("gpt-4o-mini")
    price.input_nanos = 10  # the cached rate (37.5 at half price) is now the dearest input rate
    assert max_input_rate(price, batch=True) == 38
    assert cost_nanos(price, Usage(cache_read_tokens=128), batch=True) == 4800 <= 128 * 38


@given(usage=usages, percent=st.sampled_from([0, 20, 50, 100]))
def test_batch_cost_is_the_standard_cost_scaled_exactly(usage, percent):
    price = price_for("claude-sonnet-4-5")
    price.batch_discount_percent = percent
    assert cost_nanos(price, usage, batch=True) * 100 == cost_nanos(price, usage) * (100 - percent)


def test_unknown_and_unpriced_models_are_refused_with_a_clear_message():
    with pytest.raises(UnknownModel, match="Unknown model 'gpt-9'"):
        price_for("gpt-9")
    LanguageModel.objects.create(name="claude-new", provider="anthropic")
    with pytest.raises(UnpricedModel, match="'claude-new' has no price"):
        price_for("claude-new")


def test_tokens_the_model_has_no_rate_for_are_an_error_not_free():
    with pytest.raises(PricingError, match="no cache write 5m price"):
        cost_nanos(price_for("gpt-4o-mini"), Usage(cache_write_5m_tokens=10))


@pytest.mark.parametrize(
    "text, nanos", [("15", 15 * NANOS_PER_DOLLAR), ("$0.031275", 31_275_000), ("0.000000001", 1)]
)
def test_dollars_parse_exactly(text, nanos):
    assert to_nanos(text) == nanos


@pytest.mark.parametrize(
    "bad, message",
    [
        ("-1", "cannot be negative"),
        ("abc", "must be a number"),
        ("0.0000000001", "more precision"),
        ("NaN", "finite"),
    ],
)
def test_bad_dollars_are_refused(bad, message):
    with pytest.raises(MoneyError, match=message):
        to_nanos(bad)


def test_prices_must_be_whole_nanodollars_per_token():
    assert price_to_nanos_per_token("0.075") == 75
    with pytest.raises(MoneyError, match="multiple of \\$0.001 per 1M"):
        price_to_nanos_per_token("0.0751")
