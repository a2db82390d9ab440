"""The reaper and a live charge take the execution row, the reservation and the period in one order
(``budget.ledger``'s docstring), so a run whose call outlasts the timeout never deadlocks with it;
and a call that returns after the reaper closed its execution is charged and changes nothing else."""

import datetime as dt
import threading
import time

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from budget.models import Overrun
from budget.periods import current_period
from executions.backlog.services import create_task
from executions.models import Execution, ModelCall, Task
from executions.pipeline.reaper import abandon_stalled_executions
from executions.pipeline.runner import run_execution
from executions.providers import Providers
from executions.providers.simulated import SimulatedProvider, simulated_providers
from tests.executions.conftest import assert_ledger_consistent
from tests.locks import lock_waiters

TIMEOUT = dt.timedelta(minutes=45)  # RESERVATION_TIMEOUT_SECONDS's default


class SlowAnalyst(SimulatedProvider):
    """Takes a moment, so the charge's heartbeat is later than the one before the call."""

    def complete(self, request):
        time.sleep(0.3)
        return super().complete(request)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # two connections, each committing for real
@time_machine.travel("2026-11-15 12:00Z", tick=True)
def test_the_reaper_waits_for_a_live_charge_and_then_leaves_the_execution_alone():
    task = create_task(title="A call that outlasts the timeout")
    providers = Providers(
        analysis=SlowAnalyst("anthropic", "analysis"), codegen=simulated_providers().codegen
    )
    charging, resume = threading.Event(), threading.Event()
    outcome, errors = {}, []

    def pause_after_the_period_row(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "budget_period" SET "spent_nanos"') and not charging.is_set():
            charging.set()  # the first charge holds the execution, the reservation and the period
            resume.wait(timeout=30)
        return result

    def live_run():
        try:
            with connection.execute_wrapper(pause_after_the_period_row):
                outcome["execution"] = run_execution(task, providers=providers)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    def reaper(now):
        try:
            outcome["abandoned"] = abandon_stalled_executions(now=now)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    runner = threading.Thread(target=live_run)
    runner.start()
    assert charging.wait(timeout=30), errors
    # Stalled by the heartbeat committed before the call, not by the one this charge is writing.
    before_the_call = Execution.objects.get().heartbeat_at
    reaping = threading.Thread(target=reaper, args=(before_the_call + TIMEOUT + dt.timedelta(seconds=0.1),))
    reaping.start()
    deadline = time.monotonic() + 10
    while not lock_waiters() and time.monotonic() < deadline:  # the reaper queues behind the charge
        time.sleep(0.02)
    waited = lock_waiters()
    resume.set()
    runner.join(30)
    reaping.join(30)

    assert not errors  # no deadlock on either side
    assert waited == 1
    assert outcome["abandoned"] == []  # under the lock it saw the charge's progress
    assert outcome["execution"].status == Execution.Status.SUCCEEDED
    assert_ledger_consistent(current_period())


class ReapedDuringTheCall(SimulatedProvider):
    """A call that outlasts the reservation timeout: the reaper closes the execution meanwhile."""

    def complete(self, request):
        abandoned = abandon_stalled_executions(now=timezone.now() + TIMEOUT + dt.timedelta(minutes=1))
        assert len(abandoned) == 1
        return super().complete(request)


class CountingCoder(SimulatedProvider):
    calls = 0

    def complete(self, request):
        CountingCoder.calls += 1
        return super().complete(request)


@pytest.mark.django_db
@time_machine.travel("2026-11-15 12:00Z", tick=True)
def test_a_call_that_returns_after_the_reaper_is_charged_and_changes_nothing_else():
    task = create_task(title="A call that outlasts the timeout")
    providers = Providers(
        analysis=ReapedDuringTheCall("anthropic", "analysis"), codegen=CountingCoder("openai", "codegen")
    )

    execution = run_execution(task, providers=providers)

    assert execution.status == Execution.Status.ABANDONED  # not moved on to code generation
    assert "reaper" not in execution.error and "stopped" in execution.error  # the reaper's own words
    assert CountingCoder.calls == 0  # nothing more was spent
    (call,) = ModelCall.objects.filter(execution=execution)
    assert execution.cost_nanos == call.cost_nanos > 0  # the late call is charged all the same
    period = current_period()
    assert_ledger_consistent(period)
    # Counted once, as the reaper ended it; a late charge is not an overrun of the worst case.
    assert (period.executions_count, period.failed_count, period.succeeded_count) == (1, 1, 0)
    assert period.exhausted_at is None and not Overrun.objects.exists()
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING  # the reaper's retry stands
