"""Exposure: an execution held at a vendor's estimate (Anthropic's count plus a margin) but
admitted at its byte-bound worst case keeps the difference out of other work's reach until the
estimated call is behind it, so a bill past the estimate never takes ``spent`` over the limit,
however many executions are admitted at once (issue 34)."""

import threading

import pytest
from django.db import connections
from hypothesis import given
from hypothesis import strategies as st

from budget import ledger
from budget.models import Period, Reservation
from budget.money import to_nanos
from budget.periods import current_period, set_limit
from budget.pricing import Usage

DOLLAR = to_nanos("1")
CENT = to_nanos("0.01")


def charge(reservation, nanos):
    return ledger.charge(
        reservation, nanos, model_name="claude-sonnet-4-5", provider="anthropic", usage=Usage(input_tokens=1)
    )


def figures():
    period = current_period()
    return period.spent_nanos, period.reserved_nanos, period.exposed_nanos


@pytest.mark.django_db
def test_work_admitted_at_its_byte_bound_keeps_the_rest_out_of_other_work_s_reach():
    set_limit(current_period(), "1.00")
    first = ledger.reserve(30 * CENT, exposed_nanos=30 * CENT)  # held at the count; 60 at the byte bound
    assert figures() == (0, 30 * CENT, 30 * CENT)
    assert first.exposed_nanos == 30 * CENT

    # 40 more would fit beside what is held (70 ≤ 100) but not beside what the first could be billed.
    with pytest.raises(ledger.BudgetBusy, match=r"running work holds \$0\.60"):
        ledger.reserve(20 * CENT, exposed_nanos=21 * CENT)
    second = ledger.reserve(20 * CENT, exposed_nanos=20 * CENT)

    # Both billed at their byte bounds, past their counts: the month absorbs it exactly.
    assert charge(first, 60 * CENT).over_nanos == 30 * CENT
    assert charge(second, 40 * CENT).over_nanos == 20 * CENT
    assert figures() == (DOLLAR, 0, 0)
    assert Period.objects.get().spent_nanos <= Period.objects.get().limit_nanos


@pytest.mark.django_db
def test_the_exposure_ends_when_the_estimated_call_is_behind_it():
    set_limit(current_period(), "1.00")
    reservation = ledger.reserve(30 * CENT, exposed_nanos=30 * CENT)
    charge(reservation, 10 * CENT)  # the analysis, billed within its count

    # What is left is bounded truly (shrink): the exposure goes back to the month with the rest.
    assert ledger.shrink(reservation, 15 * CENT) == 5 * CENT
    assert figures() == (10 * CENT, 15 * CENT, 0)
    assert Reservation.objects.get().exposed_nanos == 0
    ledger.reserve(75 * CENT)  # the whole rest of the month

    # A shrink that releases nothing still ends the exposure.
    set_limit(current_period(), "2.00")
    third = ledger.reserve(20 * CENT, exposed_nanos=30 * CENT)
    assert ledger.shrink(third, 20 * CENT) == 0
    assert current_period().exposed_nanos == 0


@pytest.mark.django_db
def test_release_and_expiry_return_the_exposure():
    set_limit(current_period(), "1.00")
    released = ledger.reserve(10 * CENT, exposed_nanos=15 * CENT)
    expired = ledger.reserve(10 * CENT, exposed_nanos=20 * CENT)
    stale = Reservation.objects.get(pk=released.pk)  # an out-of-date instance, as another process has it
    charge(released, 12 * CENT)  # 2 past the hold, out of the exposure
    assert figures() == (12 * CENT, 10 * CENT, 33 * CENT)

    assert ledger.release(stale) == 0
    assert figures() == (12 * CENT, 10 * CENT, 20 * CENT)
    Reservation.objects.filter(pk=expired.pk).update(expires_at=current_period().starts_at)
    assert ledger.expire_reservations() == 1
    assert figures() == (12 * CENT, 0, 0)


@pytest.mark.django_db
def test_a_call_decided_on_the_way_is_held_only_while_the_month_has_room_for_it():
    set_limit(current_period(), "1.00")
    running = ledger.reserve(40 * CENT)
    other = ledger.reserve(30 * CENT)
    ledger.extend(running, 10 * CENT, exposed_nanos=5 * CENT)  # a look-up round, held at its count
    assert (running.held_nanos, running.amount_nanos, running.exposed_nanos) == (
        50 * CENT,
        50 * CENT,
        5 * CENT,
    )
    assert figures() == (0, 80 * CENT, 5 * CENT)

    with pytest.raises(ledger.BudgetBusy):  # the other execution's hold is in the way
        ledger.extend(running, 16 * CENT)
    charge(other, 30 * CENT)
    ledger.release(other)
    with pytest.raises(ledger.BudgetExhausted):  # what is unspent cannot hold it
        ledger.extend(running, 16 * CENT)
    assert figures() == (30 * CENT, 50 * CENT, 5 * CENT)  # nothing written by a refusal
    assert current_period().exhausted_at is None  # nor recorded: the execution does without

    ledger.release(running)
    with pytest.raises(ledger.ReservationClosed, match="not open"):
        ledger.extend(running, CENT)


@pytest.mark.django_db
@given(st.data())
def test_the_ledger_with_exposure_never_overspends(data):
    """Any interleaving of starts (held at an estimate, admitted at a bound), bills up to the
    bound, shrinks and releases keeps ``spent + reserved + exposed <= limit`` and the period's
    totals equal to its reservations'."""
    Reservation.objects.all().delete()
    Period.objects.all().update(spent_nanos=0, reserved_nanos=0, exposed_nanos=0)
    set_limit(current_period(), "1.00")
    held = st.integers(1, 40 * CENT)
    opened = []
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        step = data.draw(
            st.sampled_from(["start", "bill", "extend", "shrink", "release"]) if opened else st.just("start")
        )
        if step == "start":
            try:
                opened.append(ledger.reserve(data.draw(held), exposed_nanos=data.draw(held)))
            except (ledger.BudgetBusy, ledger.BudgetExhausted):
                pass
            continue
        reservation = data.draw(st.sampled_from(opened))
        if step == "bill":
            row = Reservation.objects.get(pk=reservation.pk)
            # A vendor's bill: anything up to the call's byte bound (what is held plus the exposure).
            charge(reservation, data.draw(st.integers(0, row.held_nanos + row.exposed_nanos)))
        elif step == "extend":
            try:
                ledger.extend(reservation, data.draw(held), exposed_nanos=data.draw(held))
            except (ledger.BudgetBusy, ledger.BudgetExhausted):
                pass
        elif step == "shrink":
            ledger.shrink(reservation, data.draw(held))
        else:
            ledger.release(reservation)
            opened.remove(reservation)

        period = current_period()
        assert period.spent_nanos + period.reserved_nanos + period.exposed_nanos <= period.limit_nanos
        rows = Reservation.objects.filter(status=Reservation.Status.OPEN)
        assert period.reserved_nanos == sum(r.held_nanos for r in rows)
        assert period.exposed_nanos == sum(r.exposed_nanos for r in rows)
        assert period.spent_nanos == sum(Reservation.objects.values_list("charged_nanos", flat=True))


@pytest.mark.postgres
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_eight_workers_each_billed_past_its_count_never_overspend():
    """Eight workers start at once, each held at its count and billed at its byte bound: on
    PostgreSQL's row locks, those admitted can all be billed their worst and the month holds."""
    set_limit(current_period(), "1.00")
    barrier, errors, admitted = threading.Barrier(8), [], []

    def worker():
        try:
            barrier.wait()
            for _ in range(4):
                try:
                    reservation = ledger.reserve(10 * CENT, exposed_nanos=15 * CENT)
                except (ledger.BudgetBusy, ledger.BudgetExhausted):
                    continue
                admitted.append(reservation.pk)
                charge(reservation, 25 * CENT)  # the vendor billed the byte bound
                ledger.release(reservation)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    period = current_period()
    assert period.spent_nanos == 25 * CENT * len(admitted) <= period.limit_nanos
    assert (period.reserved_nanos, period.exposed_nanos) == (0, 0)
