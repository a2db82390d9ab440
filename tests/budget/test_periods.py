"""Periods open on demand: the first call in a new month opens it with the current limit."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from budget import ledger
from budget.models import Period
from budget.money import to_nanos
from budget.periods import current_period, set_limit

pytestmark = pytest.mark.django_db


def at(*args):
    return timezone.make_aware(dt.datetime(*args))


def test_the_first_period_takes_monthly_budget(settings):
    settings.MONTHLY_BUDGET = "20.50"
    period = current_period(now=at(2026, 11, 24, 12))
    assert period.limit_nanos == to_nanos("20.50")
    assert (period.starts_at, period.ends_at) == (at(2026, 11, 1), at(2026, 12, 1))


def test_a_new_month_opens_by_itself_with_the_current_limit_and_zero_spend():
    november = current_period(now=at(2026, 11, 20))
    set_limit(november, "25")
    reservation = ledger.reserve(to_nanos("1"), now=at(2026, 11, 20))
    ledger.release(reservation)

    december = current_period(now=at(2026, 12, 1, 0, 0, 1))
    assert december.pk != november.pk
    assert december.month == dt.date(2026, 12, 1)
    assert (december.limit_nanos, december.spent_nanos, december.reserved_nanos) == (to_nanos("25"), 0, 0)
    assert current_period(now=at(2026, 12, 31, 23, 59)).pk == december.pk


def test_months_follow_the_configured_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    with timezone.override("America/New_York"):
        # 03:00 UTC on Dec 1 is still November in New York.
        period = current_period(now=dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC))
        assert period.month == dt.date(2026, 11, 1)


def test_nothing_needs_to_run_at_midnight():
    with time_machine.travel(at(2027, 1, 15, 9), tick=False):
        period = current_period()
    assert period.month == dt.date(2027, 1, 1)
    assert Period.objects.count() == 1
