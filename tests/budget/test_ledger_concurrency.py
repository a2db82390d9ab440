"""Many workers against one small budget: it is never overspent and every nanodollar is accounted.

Runs on whichever database the suite runs on: SQLite in bin/test's first pass, PostgreSQL in its
second. Each thread has its own database connection, as separate workers would.
"""

import random
import threading

import pytest
from django.db import connection, connections
from django.db.models import Sum

from budget import ledger
from budget.models import Milestone, Period, Reservation, Threshold
from budget.money import to_nanos
from budget.periods import current_period
from budget.pricing import Usage

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
    totals = period.model_usage.aggregate(calls=Sum("calls"), input=Sum("input_tokens"), output=Sum("output_tokens"))
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
