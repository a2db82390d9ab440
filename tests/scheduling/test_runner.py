"""The scheduled runner: which task it starts, and when it quietly does nothing."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection

from budget.periods import current_period, set_limit
from executions.backlog.services import create_task
from executions.models import Execution, Task
from executions.providers.simulated import simulated_providers
from executions.scheduling.scheduler import run_next_execution
from executions.scheduling.slots import run_slot

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)


def run(gateway, **kwargs):
    return run_next_execution(now=kwargs.pop("now", NOW), providers=simulated_providers(), gateway=gateway)


def test_an_empty_backlog_is_skipped_quietly(memory_gateway):
    assert run(memory_gateway) == "skipped: no pending task"
    assert not Execution.objects.exists()


def test_the_highest_priority_then_the_oldest_task_runs_first(memory_gateway):
    create_task(title="Old, normal priority")
    urgent = create_task(title="Urgent", priority=5)
    create_task(title="Newer, normal priority")

    outcome = run(memory_gateway)

    execution = Execution.objects.get()
    assert execution.task == urgent
    assert outcome == f"execution {execution.pk} of task {urgent.pk} succeeded"


def test_ahead_of_the_even_spend_line_it_waits(memory_gateway, settings):
    create_task(title="First")
    create_task(title="Second")
    early = dt.datetime(2026, 11, 1, 1, 0, tzinfo=dt.UTC)  # one hour in: the line is $15 / 720
    run(memory_gateway, now=early)  # the month's first execution always fits under the line

    outcome = run(memory_gateway, now=early)

    assert outcome.startswith("skipped: ahead of pace: $0.0")
    assert outcome.endswith("even-spend line $0.0208")
    assert Execution.objects.count() == 1
    settings.PACING_ENABLED = False
    assert "succeeded" in run(memory_gateway, now=early)
    assert Execution.objects.count() == 2


def test_it_never_runs_more_than_the_configured_number_at_once(memory_gateway, settings):
    busy = create_task(title="Running elsewhere")
    create_task(title="Waiting")
    Task.objects.filter(pk=busy.pk).update(status=Task.Status.RUNNING)
    Execution.objects.create(
        task=busy, period=current_period(now=NOW), status=Execution.Status.GENERATING, heartbeat_at=NOW
    )

    assert run(memory_gateway) == "skipped: 1 execution(s) running; at most 1 at once"
    settings.MAX_CONCURRENT_EXECUTIONS = 2
    assert "succeeded" in run(memory_gateway)


@pytest.mark.django_db(transaction=True)
def test_a_slot_held_by_another_process_blocks_the_runner(memory_gateway):
    """The slot is what makes the cap hold across clusters: counting alone races."""
    create_task(title="Waiting for a slot")
    held, release = threading.Event(), threading.Event()

    def other_worker():
        with run_slot() as slot:
            assert slot == 0
            held.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        assert run(memory_gateway) == "skipped: all 1 run slot(s) are busy"
    finally:
        release.set()
        thread.join()
    assert "succeeded" in run(memory_gateway)


@pytest.mark.django_db(transaction=True)
def test_a_slot_outlives_the_workers_database_connection():
    """q2 and Django close the worker's connection between queries; the slot must stay held."""
    with run_slot() as mine:
        connection.close()
        connection.ensure_connection()
        with run_slot() as other:
            assert (mine, other) == (0, None)
    with run_slot() as again:
        assert again == 0


def test_an_exhausted_month_is_recorded_once_then_skipped_quietly(memory_gateway):
    create_task(title="Too expensive for what is left")
    period = current_period(now=NOW)
    set_limit(period, "0.01", now=NOW)

    first = run(memory_gateway)
    second = run(memory_gateway)

    assert first.startswith("not started: Budget exhausted for 2026-11")
    assert second == "skipped: the budget for 2026-11 is exhausted"
    period.refresh_from_db()
    assert period.exhausted_at is not None
    assert (period.spent_nanos, period.reserved_nanos) == (0, 0)
    assert Task.objects.get().status == Task.Status.PENDING


def test_a_configuration_problem_is_reported_not_raised(memory_gateway):
    from executions.models import StepConfig

    create_task(title="Needs a model")
    StepConfig.objects.filter(step="analysis").delete()

    assert run(memory_gateway).startswith("not started: The analysis step has no model configured")
    assert Task.objects.get().status == Task.Status.PENDING


@time_machine.travel("2026-11-15 12:00Z", tick=False)
def test_without_now_it_uses_the_clock(memory_gateway):
    create_task(title="Now")
    assert "succeeded" in run_next_execution(providers=simulated_providers(), gateway=memory_gateway)
    assert Execution.objects.get().started_at == dt.datetime(2026, 11, 15, 12, tzinfo=dt.UTC)
