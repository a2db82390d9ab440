"""API fixtures: users with tokens, and executions paid for through the real ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from budget import ledger
from budget.periods import current_period
from budget.pricing import Usage, cost_nanos, price_for
from executions.models import Execution, ModelCall, Task

# Pinned so the month, the days and the pace are the same whenever the suite runs.
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
ANALYSIS = Usage(input_tokens=2000, output_tokens=1500)  # the seed's token profile
CODEGEN = Usage(input_tokens=2500, output_tokens=4000)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()  # the throttle counts requests per user id in the cache
    yield
    cache.clear()


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def member(db):
    return get_user_model().objects.create_user("member", password="member-pass-123")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("staff", password="staff-pass-123", is_staff=True)


@pytest.fixture
def api(member) -> APIClient:
    return client_for(member)


@pytest.fixture
def staff_api(staff) -> APIClient:
    return client_for(staff)


@dataclass
class Paid:
    execution: Execution
    cost_nanos: int


def paid_execution(
    title: str,
    *,
    now: dt.datetime,
    steps=(("analysis", "claude-sonnet-4-5", ANALYSIS), ("codegen", "gpt-4o-mini", CODEGEN)),
    succeeded: bool = True,
    simulated: bool = True,
) -> Paid:
    """An execution as the pipeline records it: reserve, one charge per call, release, outcome.

    Every figure the API reports must come back equal to what these ``ledger`` calls charged.
    """
    period = current_period(now=now)
    task = Task.objects.create(title=title, status=Task.Status.DONE if succeeded else Task.Status.FAILED)
    priced = [(step, model, usage, price_for(model, on=now.date())) for step, model, usage in steps]
    costs = [cost_nanos(price, usage) for _, _, usage, price in priced]
    # A worst case a little above the real cost, as the pipeline's bound would be.
    reservation = ledger.reserve(sum(costs) + 1000, label=title, period=period, now=now)
    ledger.record_execution_started(period, now=now)
    execution = Execution.objects.create(
        task=task, period=period, reservation=reservation, simulated=simulated,
        reserved_nanos=reservation.amount_nanos, started_at=now,
    )  # fmt: skip
    for (step, model, usage, price), cost in zip(priced, costs, strict=True):
        ledger.charge(
            reservation, cost, model_name=model, provider=price.model.provider, usage=usage, now=now
        )
        ModelCall.objects.create(
            execution=execution, step=step, provider=price.model.provider, requested_model=model, model=model,
            price=price, cost_nanos=cost, simulated=simulated, **usage.as_dict(),
        )  # fmt: skip
    total = sum(costs)
    ledger.release(reservation, now=now)
    ledger.record_execution_finished(period, succeeded=succeeded, pr_opened=succeeded, now=now)
    Execution.objects.filter(pk=execution.pk).update(
        status=Execution.Status.SUCCEEDED if succeeded else Execution.Status.FAILED,
        cost_nanos=total,
        branch=f"task-{task.pk}" if succeeded else "",
        publisher="local-git" if succeeded else "",
        error="" if succeeded else "analysis failed: the vendor answered 529 three times",
        finished_at=now,
    )
    execution.refresh_from_db()
    return Paid(execution, total)
