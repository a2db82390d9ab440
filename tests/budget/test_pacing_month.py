"""A month driven by the test's clock: the scheduled runner spends the budget evenly.

Every two hours of December the runner is called, as the schedule would call it; it starts an
execution only while the month is at or below the even-spend line. The spend must stay within one
execution's worst case of that line at every step, end within one worst case of the limit (the
next execution no longer fits), and never pass the limit. ($5 for the month: about 230 simulated
executions, each reserving about 2 % of it: the coder's every try is reserved.)
"""

import datetime as dt

import pytest
import time_machine
from django.db.models import Max

from budget import pacing
from budget.periods import current_period, set_limit
from executions.backlog.services import create_task
from executions.models import Execution, StepConfig
from executions.providers.simulated import simulated_providers
from executions.scheduling.scheduler import run_next_execution
from tests.executions.conftest import assert_ledger_consistent

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(hours=2)


def test_a_paced_month_follows_the_even_spend_line_and_uses_the_budget(memory_gateway, settings):
    providers = simulated_providers()
    # Without the analyst's look-up round (issue 36), which would double the analysis's share of
    # the worst case to about $0.20, past the 1/40 of a $5 month this pacing check relies on.
    settings.ANALYSIS_LOOKUPS = 0
    # The current Sonnet: December is past claude-sonnet-4-5's retirement.
    StepConfig.objects.filter(step="analysis").update(model_name="claude-sonnet-5-5")
    for n in range(300):
        create_task(title=f"Backlog item {n}")
    steps = []
    with time_machine.travel(START, tick=False) as clock:
        period = set_limit(current_period(), "5.00")
        now = START
        while now < period.ends_at:
            clock.move_to(now)
            run_next_execution(now=now, providers=providers, gateway=memory_gateway)
            period.refresh_from_db()
            steps.append((now, pacing.even_spend_nanos(period, now), period.spent_nanos))
            now += STEP

    worst = Execution.objects.aggregate(worst=Max("reserved_nanos"))["worst"]
    assert len(steps) == 31 * 12
    for when, line, spent in steps:
        assert line - worst <= spent <= line + worst, f"{when:%b %d %H:%M}: spent {spent}, line {line}"
        assert spent <= period.limit_nanos
    assert period.spent_nanos >= period.limit_nanos - worst
    assert worst < period.limit_nanos // 40  # else 97.5 % could not be reached
    assert Execution.objects.filter(status=Execution.Status.SUCCEEDED).count() > 200
    assert_ledger_consistent(period)
