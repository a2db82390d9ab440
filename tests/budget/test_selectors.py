"""The period summary reads the period's figures now, whatever copy of the period it is handed."""

import datetime as dt

import pytest
from django.utils import timezone

from budget import ledger
from budget.models import Milestone, Threshold
from budget.periods import current_period
from budget.pricing import Usage
from budget.selectors import period_summary

pytestmark = pytest.mark.django_db

USAGE = Usage(input_tokens=1000, output_tokens=100)


def charge(period_now, amount_nanos, model="gpt-4o-mini"):
    reservation = ledger.reserve(amount_nanos * 2, now=period_now)
    ledger.charge(reservation, amount_nanos, model_name=model, provider="openai", usage=USAGE, now=period_now)
    ledger.release(reservation, now=period_now)


def test_a_period_loaded_before_the_charges_is_summarised_as_it_is_now():
    now = timezone.now()
    stale = current_period(now=now)
    charge(now, 7_000_000_000)  # $7: past the $5 milestone
    ledger.record_execution_started(stale, now=now)
    held = ledger.reserve(1_000_000, now=now)

    summary = period_summary(stale, now=now).as_json()

    assert summary["spent"] == "7.00"
    assert summary["reserved"] == "0.001"
    assert summary["executions"] == 1
    assert summary["next_milestone"] == "10.00"
    assert [m["threshold"] for m in summary["milestones"]] == ["5.00"]
    ledger.release(held, now=now)


def test_milestones_and_model_totals_read_as_the_orm_reads_them():
    now = timezone.now()
    charge(now, 6_000_000_000, model="claude-haiku-4-5")
    charge(now, 1_000_000, model="gpt-4o-mini")
    charge(now, 2_000_000, model="gpt-4o-mini")

    summary = period_summary(now=now)

    (milestone,) = summary.milestones
    assert milestone == Milestone.objects.get()
    assert milestone.reached_at == Milestone.objects.get().reached_at
    assert timezone.is_aware(milestone.reached_at)
    assert summary.period.starts_at == current_period(now=now).starts_at
    assert [(m.model_name, m.calls, m.input_tokens, m.cost_nanos) for m in summary.models] == [
        ("claude-haiku-4-5", 1, 1000, 6_000_000_000),
        ("gpt-4o-mini", 2, 2000, 3_000_000),
    ]


def test_a_disabled_threshold_is_not_the_next_milestone():
    Threshold.objects.filter(amount_nanos=5_000_000_000).update(enabled=False)

    assert period_summary(now=timezone.now()).next_milestone_nanos == 10_000_000_000


def test_no_threshold_left_means_no_next_milestone():
    Threshold.objects.all().delete()

    assert period_summary(now=timezone.now() + dt.timedelta(seconds=1)).next_milestone_nanos is None
