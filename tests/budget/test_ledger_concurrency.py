"""Many workers against one small budget: it is never overspent and every nanodollar is accounted.

Runs on whichever database the suite runs on: SQLite in bin/test's first pass, PostgreSQL in its
second. Each thread has its own database connection, as separate workers would.
"""

import random
import threading

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum

from budget import ledger
from budget.models import Milestone, Period, Reservation, Threshold
from budget.money import to_nanos
from budget.periods import current_period
from budget.pricing import Usage
from tests.locks import wait_for_a_lock_waiter

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

WORKERS = 16
CYCLES = 25
WORST_CASE = to_nanos("0.40")


def worker(seed, charged, announced, refused, exhausted_marks, errors):
    rng = random.Random(seed)
    try:
        for _ in range(CYCLES):
            try:
                reservation = ledger.reserve(WORST_CASE, label=f"worker {seed}")
            except ledger.BudgetBusy:  # others hold the money: this try waits, nothing recorded
                refused.append(1)
                continue
            except ledger.BudgetExhausted as exc:
                refused.append(1)
                exhausted_marks.append(ledger.mark_exhausted(exc.period))
                continue
            for model, share in (("claude-sonnet-4-5", 0.7), ("gpt-4o-mini", 0.3)):
                # A real cost: anything from nothing up to this call's share of the worst case.
                cost = rng.randint(0, int(WORST_CASE * share))
                usage = Usage(input_tokens=rng.randint(1, 3000), output_tokens=rng.randint(1, 2000))
                result = ledger.charge(reservation, cost, model_name=model, provider="anthropic", usage=usage)
                charged.append((cost, usage))
                announced.extend(m.threshold_nanos for m in result.milestones)
            ledger.release(reservation)
    except Exception as exc:  # surfaced by the test, not swallowed
        errors.append(exc)
    finally:
        connections.close_all()


def test_concurrent_reserve_charge_release_never_overspends():
    Threshold.objects.all().delete()
    for dollars in ("0.50", "1", "2", "3"):
        Threshold.objects.create(amount_nanos=to_nanos(dollars))
    period = current_period()
    Period.objects.filter(pk=period.pk).update(limit_nanos=to_nanos("3.25"))

    charged, announced, refused, marks, errors = [], [], [], [], []
    threads = [
        threading.Thread(target=worker, args=(i, charged, announced, refused, marks, errors))
        for i in range(WORKERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]

    period.refresh_from_db()
    assert period.spent_nanos <= period.limit_nanos
    assert period.reserved_nanos == 0
    assert period.spent_nanos == sum(cost for cost, _ in charged)
    assert period.spent_nanos == Reservation.objects.aggregate(s=Sum("charged_nanos"))["s"]
    assert period.spent_nanos == period.model_usage.aggregate(s=Sum("cost_nanos"))["s"]
    assert period.spent_nanos == period.daily_usage.aggregate(s=Sum("cost_nanos"))["s"]
    # The per-model and per-day rows, created by racing first calls and then updated in place,
    # count every call and every token.
    totals = period.model_usage.aggregate(
        calls=Sum("calls"), input=Sum("input_tokens"), output=Sum("output_tokens")
    )
    assert totals == {
        "calls": len(charged),
        "input": sum(usage.input_tokens for _, usage in charged),
        "output": sum(usage.output_tokens for _, usage in charged),
    }
    assert period.daily_usage.aggregate(calls=Sum("calls"))["calls"] == len(charged)
    # Every milestone at or below the spend exists exactly once (the unique constraint holds it).
    reached = sorted(Milestone.objects.filter(period=period).values_list("threshold_nanos", flat=True))
    assert reached == [
        t for t in sorted(Threshold.objects.values_list("amount_nanos", flat=True)) if t <= period.spent_nanos
    ]
    assert sorted(announced) == reached, "each milestone is returned to exactly one charging worker"
    # The budget ran out under load, and exactly one worker got to announce it.
    assert refused, "the limit is small enough that some reservations must be refused"
    assert marks.count(True) == 1
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.postgres
def test_a_charge_racing_an_execution_start_waits_instead_of_deadlocking():
    """Every ledger write takes the period row before the day's usage row.

    An execution starts in one transaction: its reservation locks the period row, and counting it
    then updates the day's row. A charge of another execution arriving in between must wait for
    that transaction, not hold the day's row while it waits for the period (a deadlock, which
    PostgreSQL breaks by failing one of them: a charge lost, or a start refused).
    """
    usage = Usage(input_tokens=10, output_tokens=5)
    running = ledger.reserve(to_nanos("1"), label="running")
    ledger.charge(running, 1, model_name="gpt-4o-mini", provider="openai", usage=usage)  # today's rows exist
    period = current_period()
    period_locked, go_on, errors = threading.Event(), threading.Event(), []

    def start_execution():
        try:
            with transaction.atomic():  # as executions.pipeline.runner.start
                ledger.reserve(to_nanos("0.50"), label="starting")
                period_locked.set()
                go_on.wait(timeout=10)
                ledger.record_execution_started(period)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def charge_running():
        try:
            ledger.charge(running, 2, model_name="gpt-4o-mini", provider="openai", usage=usage)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    starter = threading.Thread(target=start_execution)
    starter.start()
    assert period_locked.wait(timeout=10)
    charger = threading.Thread(target=charge_running)
    charger.start()
    wait_for_a_lock_waiter()  # the charge is blocked by the starting execution
    go_on.set()
    starter.join(timeout=30)
    charger.join(timeout=30)
    assert not errors, errors

    period.refresh_from_db()
    assert (period.spent_nanos, period.reserved_nanos) == (3, to_nanos("1.50") - 3)
    assert period.executions_count == 1
    assert period.daily_usage.get().calls == 2


@pytest.mark.postgres
def test_two_first_charges_of_a_model_add_up_in_one_usage_row():
    """A model's usage row is written before the period is locked, so the first two charges of a
    model in a period can both find no row and both insert one. The second insert waits for the
    first, fails on the unique constraint, and adds to the row the first one created."""
    usage = Usage(input_tokens=10, output_tokens=5)
    first, second = (
        ledger.reserve(to_nanos("1"), label="first"),
        ledger.reserve(to_nanos("1"), label="second"),
    )
    row_inserted, go_on, errors = threading.Event(), threading.Event(), []

    def charge_first():
        try:
            with transaction.atomic():  # as executions.pipeline.runner records a call with its charge
                ledger.charge(first, 3, model_name="claude-haiku-4-5", provider="anthropic", usage=usage)
                row_inserted.set()
                go_on.wait(timeout=10)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def charge_second():
        try:
            ledger.charge(second, 4, model_name="claude-haiku-4-5", provider="anthropic", usage=usage)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    one = threading.Thread(target=charge_first)
    one.start()
    assert row_inserted.wait(timeout=10)
    two = threading.Thread(target=charge_second)
    two.start()
    wait_for_a_lock_waiter()  # the second insert waits on the first's uncommitted row
    go_on.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert not errors, errors

    period = current_period()
    row = period.model_usage.get(model_name="claude-haiku-4-5")
    assert (row.calls, row.cost_nanos, row.input_tokens, row.output_tokens) == (2, 7, 20, 10)
    assert (period.spent_nanos, period.reserved_nanos) == (7, to_nanos("2") - 7)
