"""The comparison of a vendor's count with the ledger's, and the exact mean and percentile."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from budget.pricing import Usage
from budget.reconciliation import Counted, canonical_model, compare
from budget.stats import nearest, spread

DAY = dt.date(2026, 11, 14)
TODAY = dt.date(2026, 11, 15)


def compared(reported, recorded, *, tolerance="1", vendor="anthropic"):
    return compare(vendor, reported, recorded, tolerance_percent=Decimal(tolerance), closed_before=TODAY)


def ours(usage: Usage, *, day=DAY, model="claude-sonnet-4-5", batch=False, calls=1) -> Counted:
    return Counted(day, model, batch, usage, calls=calls)


def theirs(usage: Usage, *, day=DAY, model="claude-sonnet-4-5-20250929", batch=False) -> Counted:
    return Counted(day, model, batch, usage)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-6-luna", "gpt-6-luna"),
        ("claude-sonnet-5-5", "claude-sonnet-5-5"),
    ],
)
def test_a_vendors_snapshot_is_the_model_the_ledger_asked_for(name, expected):
    assert canonical_model(name) == expected


@pytest.mark.django_db
def test_identical_counts_are_no_difference_whatever_the_snapshot_name():
    usage = Usage(input_tokens=2000, output_tokens=1500, cache_read_tokens=300)
    assert compared([theirs(usage)], [ours(usage), ours(Usage(), calls=1)]) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("vendor_input", "over"), [(10_101, False), (10_102, True), (9_901, False), (9_900, True)]
)
def test_the_tolerance_is_a_share_of_the_vendors_count_in_each_class(vendor_input, over):
    [difference] = compared(
        [theirs(Usage(input_tokens=vendor_input, output_tokens=500))],
        [ours(Usage(input_tokens=10_000, output_tokens=500))],
    )
    assert difference.over is over and not difference.unrecorded


@pytest.mark.django_db
def test_vendor_tokens_without_a_recorded_call_are_past_any_tolerance():
    [difference] = compared([theirs(Usage(input_tokens=1, output_tokens=0))], [], tolerance="100")
    assert difference.unrecorded and difference.over and difference.announce
    assert difference.value_nanos == 3000  # one input token of Sonnet 4.5, exactly


@pytest.mark.django_db
def test_the_value_is_at_the_days_price_and_mode_and_the_current_day_is_provisional():
    recorded = Usage(input_tokens=1000, output_tokens=100)
    reported = Usage(input_tokens=1000, output_tokens=300)
    batch, today = compared(
        [theirs(reported, batch=True), theirs(reported, day=TODAY)],
        [ours(recorded, batch=True), ours(recorded, day=TODAY)],
    )
    assert batch.batch and batch.value_nanos == 200 * 15_000 // 2  # half price in a batch
    assert batch.announce
    assert today.provisional and today.over and not today.announce
    assert [d.day for d in (batch, today)] == [DAY, TODAY]


@pytest.mark.django_db
def test_a_model_without_a_price_still_shows_its_tokens():
    [difference] = compared([theirs(Usage(input_tokens=10), model="claude-opus-9")], [])
    assert difference.value_nanos is None and difference.tokens()["input"]["difference"] == 10
    assert difference.as_json()["value"] is None


@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=60))
def test_the_mean_is_exact_to_the_unit_and_the_p90_covers_nine_tenths(values):
    s = spread(values)
    assert s.count == len(values) and s.total == sum(values)
    assert abs(s.mean * s.count - s.total) * 2 <= s.count  # the nearest whole unit
    assert s.p90 in values
    assert sum(v <= s.p90 for v in values) * 10 >= 9 * len(values)
    assert sum(v < s.p90 for v in values) * 10 < 9 * len(values)


def test_halves_round_up_and_no_values_is_no_spread():
    assert nearest(5, 2) == 3 and nearest(4, 3) == 1 and nearest(5, 3) == 2
    assert spread([]) is None
    assert spread([7]).p90 == 7 and spread(range(1, 11)).p90 == 9
