"""The ledger: reserve, charge, release, expire; milestones and exhaustion exactly once."""

import datetime as dt

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from budget import ledger
from budget.models import Milestone, ModelUsage, Period, Reservation
from budget.money import to_nanos
from budget.periods import LimitError, current_period, month_bounds, set_limit
from budget.pricing import Usage

pytestmark = pytest.mark.django_db

DOLLAR = to_nanos("1")


def charge(reservation, dollars, model="gpt-4o-mini", provider="openai", now=None):
    return ledger.charge(
        reservation,
        to_nanos(dollars),
        model_name=model,
        provider=provider,
        usage=Usage(input_tokens=10, output_tokens=5),
        now=now,
    )


def test_reserve_charge_release_moves_money_exactly():
    reservation = ledger.reserve(to_nanos("0.05"), label="exec 1")
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (0, to_nanos("0.05"))

    charge(reservation, "0.03")
    charge(reservation, "0.005")
    period.refresh_from_db()
    assert period.spent_nanos == to_nanos("0.035")
    assert period.reserved_nanos == to_nanos("0.015")

    assert ledger.release(reservation) == to_nanos("0.015")
    assert ledger.release(reservation) is None  # idempotent
    period.refresh_from_db()
    assert (period.spent_nanos, period.reserved_nanos) == (to_nanos("0.035"), 0)
    usage = ModelUsage.objects.get(period=period, model_name="gpt-4o-mini")
    assert (usage.calls, usage.cost_nanos, usage.input_tokens) == (2, to_nanos("0.035"), 20)


def test_release_of_an_out_of_date_instance_returns_what_the_row_holds():
    reservation = ledger.reserve(to_nanos("0.05"), label="exec 1")
    elsewhere = Reservation.objects.get(pk=reservation.pk)  # as another process loads it
    charge(elsewhere, "0.03")
    assert reservation.held_nanos == to_nanos("0.05")  # this instance did not see the charge

    assert ledger.release(reservation) == to_nanos("0.02")
    assert ledger.release(elsewhere) is None
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (to_nanos("0.03"), 0)
    assert Reservation.objects.get(pk=reservation.pk).held_nanos == 0


def test_reserve_refuses_what_does_not_fit_and_writes_nothing():
    held = ledger.reserve(14 * DOLLAR)
    # Only other work's hold is in the way: busy, not exhausted.
    with pytest.raises(ledger.BudgetBusy, match="Busy: the next execution needs up to"):
        ledger.reserve(to_nanos("1.000000001"))
    charge(held, "14.00")
    # Now what is spent leaves no room for it: exhausted.
    with pytest.raises(ledger.BudgetExhausted, match="Budget exhausted"):
        ledger.reserve(to_nanos("1.000000001"))
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (14 * DOLLAR, 0)
    assert Reservation.objects.count() == 1
    ledger.reserve(DOLLAR)  # exactly the limit fits


def test_reserve_admits_only_what_the_month_could_absorb_at_its_byte_bound():
    with pytest.raises(ledger.BudgetExhausted):
        ledger.reserve(DOLLAR, admit_nanos=15 * DOLLAR + 1)
    ledger.reserve(DOLLAR, admit_nanos=15 * DOLLAR)  # held: one dollar; admitted: the whole month
    assert current_period().reserved_nanos == DOLLAR


def test_nothing_is_reserved_in_a_month_recorded_exhausted_until_its_limit_is_raised():
    period = current_period()
    assert ledger.mark_exhausted(period)
    with pytest.raises(ledger.BudgetExhausted):
        ledger.reserve(DOLLAR)
    set_limit(period, "16")
    ledger.reserve(DOLLAR)


def test_shrink_gives_back_at_once_what_is_no_longer_needed():
    reservation = ledger.reserve(5 * DOLLAR)
    charge(reservation, "1.00")
    assert ledger.shrink(reservation, DOLLAR) == 3 * DOLLAR
    assert ledger.shrink(reservation, 2 * DOLLAR) == 0  # it never holds more again
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (DOLLAR, DOLLAR)
    assert Reservation.objects.get(pk=reservation.pk).held_nanos == DOLLAR


def test_milestones_are_created_once_and_returned_only_to_their_creator():
    reservation = ledger.reserve(15 * DOLLAR)
    first = charge(reservation, "4.99")
    assert first.milestones == []
    second = charge(reservation, "5.02")
    assert [m.threshold_nanos for m in second.milestones] == [5 * DOLLAR, 10 * DOLLAR]
    third = charge(reservation, "0.01")
    assert third.milestones == []
    assert Milestone.objects.count() == 2


def test_exhaustion_is_recorded_once():
    period = current_period()
    assert ledger.mark_exhausted(period) is True
    assert ledger.mark_exhausted(period) is False


def test_expired_reservations_are_released_and_charges_stay():
    now = timezone.now()
    reservation = ledger.reserve(DOLLAR, now=now)
    charge(reservation, "0.25", now=now)
    assert ledger.expire_reservations(now=now + dt.timedelta(hours=1)) == 1
    reservation.refresh_from_db()
    period = Period.objects.get()
    assert reservation.status == Reservation.Status.EXPIRED
    assert (period.spent_nanos, period.reserved_nanos) == (to_nanos("0.25"), 0)


def test_money_lands_in_the_period_it_was_reserved_in():
    before_midnight = timezone.make_aware(dt.datetime(2026, 11, 30, 23, 59))
    reservation = ledger.reserve(DOLLAR, now=before_midnight)
    charge(reservation, "0.40", now=before_midnight + dt.timedelta(minutes=5))
    (november,) = Period.objects.all()
    assert november.month == dt.date(2026, 11, 1) and november.spent_nanos == to_nanos("0.40")
    assert november.daily_usage.get().day == dt.date(2026, 11, 30)


def test_limit_cannot_drop_below_committed_money():
    reservation = ledger.reserve(3 * DOLLAR)
    charge(reservation, "2")
    period = current_period()
    with pytest.raises(LimitError) as refused:
        set_limit(period, "2.50")
    assert (
        str(refused.value) == "limit $2.50 is below what this period has already spent and reserved ($3.00)"
    )
    with pytest.raises(LimitError, match="cannot be negative"):
        set_limit(period, "-1")
    assert set_limit(period, "3.00").limit_nanos == 3 * DOLLAR


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Pacific/Kiritimati"])
@given(
    month=st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 1)).map(
        lambda d: d.replace(day=1)
    ),
    offset=st.timedeltas(min_value=dt.timedelta(days=-40), max_value=dt.timedelta(days=70)),
)
def test_a_charge_counts_on_the_local_day_clamped_to_its_period(time_zone, month, offset):
    with timezone.override(time_zone):
        starts_at, ends_at = month_bounds(month)
        period = Period(starts_at=starts_at, ends_at=ends_at)
        now = starts_at + offset
        first = timezone.localtime(starts_at).date()
        last = timezone.localtime(ends_at - dt.timedelta(microseconds=1)).date()
        assert ledger._day_in_period(period, now) == min(max(timezone.localtime(now).date(), first), last)


def test_a_ledger_call_in_a_broken_transaction_is_refused_as_djangos_would_be():
    with transaction.atomic():
        reservation = ledger.reserve(DOLLAR)
        transaction.set_rollback(True)  # as after an error caught inside the block
        with pytest.raises(TransactionManagementError):
            charge(reservation, "0.25")
    assert not Reservation.objects.exists()
    assert current_period().spent_nanos == 0


def test_a_charge_larger_than_what_is_held_is_recorded_and_said_loudly(caplog):
    reservation = ledger.reserve(DOLLAR)
    charge(reservation, "0.75")
    charge(reservation, "0.50")  # the vendor billed past the worst case: a bound was wrong

    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (to_nanos("1.25"), 0)
    stored = Reservation.objects.get(pk=reservation.pk)
    assert (stored.held_nanos, stored.charged_nanos) == (0, to_nanos("1.25"))
    assert (reservation.held_nanos, reservation.charged_nanos) == (0, to_nanos("1.25"))
    assert "charge of $0.50 exceeds what reservation" in caplog.text
    assert ledger.release(reservation) == 0


def test_misuse_raises_the_same_errors_on_every_database():
    with pytest.raises(ValueError):
        ledger.reserve(0)
    reservation = ledger.reserve(DOLLAR)
    with pytest.raises(ValueError):
        charge(reservation, "-0.01")
    gone = Reservation(pk=reservation.pk + 1000, period=reservation.period)
    with pytest.raises(Reservation.DoesNotExist), transaction.atomic():
        charge(gone, "0.01")
    assert ledger.release(gone) is None  # nothing to release
    assert ledger.release(reservation) == DOLLAR
    assert ledger.release(reservation) is None  # idempotent
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (0, 0)  # nothing written by the misuse
