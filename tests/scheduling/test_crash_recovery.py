"""A worker killed mid-execution: the reaper abandons its execution, releases its hold, keeps its
charges, and the task runs again."""

import datetime as dt
import signal
import subprocess
import time

import pytest
from django.db.models import Sum
from django.utils import timezone

from budget.models import Reservation
from budget.periods import current_period
from executions.backlog.services import create_task
from executions.jobs import recover_stalled
from executions.models import Execution, ModelCall, Task
from executions.pipeline.reaper import abandon_stalled_executions
from executions.pipeline.runner import run_execution
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent
from tests.executions.test_two_processes import start_run

TIMEOUT = dt.timedelta(minutes=45)  # RESERVATION_TIMEOUT_SECONDS's default


def stalled_execution(task: Task, *, heartbeat: dt.datetime) -> Execution:
    """What a dead worker leaves: a claimed task and a live-looking execution that stopped."""
    Task.objects.filter(pk=task.pk).update(status=Task.Status.RUNNING, attempts=task.attempts + 1)
    return Execution.objects.create(
        task=task, period=current_period(), status=Execution.Status.ANALYSING, heartbeat_at=heartbeat
    )


@pytest.mark.django_db
def test_only_executions_without_progress_past_the_timeout_are_abandoned():
    now = timezone.now()
    dead = stalled_execution(
        create_task(title="Dead worker"), heartbeat=now - TIMEOUT - dt.timedelta(seconds=1)
    )
    alive = stalled_execution(
        create_task(title="Slow but alive"), heartbeat=now - TIMEOUT + dt.timedelta(seconds=5)
    )

    abandoned = abandon_stalled_executions(now=now)

    assert [e.pk for e in abandoned] == [dead.pk]
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == Execution.Status.ABANDONED
    assert dead.error.startswith("The worker stopped (no progress since ")
    assert dead.error.endswith("its reservation was released and the task will be retried")
    assert alive.status == Execution.Status.ANALYSING
    assert Task.objects.get(pk=dead.task_id).status == Task.Status.PENDING
    assert (
        Event.objects.filter(
            kind=Event.Kind.EXECUTION_FAILED, key=f"execution:{dead.pk}:execution_failed"
        ).count()
        == 1
    )
    assert abandon_stalled_executions(now=now) == []  # once


@pytest.mark.django_db
def test_a_task_out_of_attempts_fails_instead_of_looping():
    task = create_task(title="Crashes its worker every time")
    Task.objects.filter(pk=task.pk).update(attempts=2, max_attempts=3)
    task.refresh_from_db()
    now = timezone.now()
    stalled_execution(task, heartbeat=now - TIMEOUT - dt.timedelta(minutes=1))

    (execution,) = abandon_stalled_executions(now=now)

    assert execution.error.endswith("no attempts left (3 of 3), the task has failed")
    assert Task.objects.get(pk=task.pk).status == Task.Status.FAILED


def wait_for_status(task: Task, status: str, process: subprocess.Popen, timeout: float = 30) -> Execution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = Execution.objects.filter(task=task).first()
        if execution and execution.status == status:
            return execution
        if process.poll() is not None:
            raise AssertionError(f"the worker ended before {status}: {process.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError(f"the execution never reached {status}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_execution_is_recovered_and_the_task_runs_again(settings, pinned_clock):
    task = create_task(title="Add a health check endpoint")
    # Each model call takes 1.5 s: time to kill the worker mid-way.
    worker = start_run(task.pk, settings, latency="1.5", stdout=subprocess.DEVNULL)
    # Generating: the analysis call is charged, the code generation call is in flight.
    wait_for_status(task, Execution.Status.GENERATING, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    worker.stderr.close()

    period = current_period()
    killed = Execution.objects.get(task=task)
    analysis_cost = ModelCall.objects.get(execution=killed).cost_nanos
    period.refresh_from_db()
    assert period.reserved_nanos > 0  # the dead worker's hold is still there
    assert recover_stalled() == "abandoned executions: 0; expired reservations released: 0"  # not stalled yet

    outcome = recover_stalled(now=timezone.now() + TIMEOUT + dt.timedelta(seconds=1))

    assert outcome == "abandoned executions: 1; expired reservations released: 0"
    killed.refresh_from_db()
    assert killed.status == Execution.Status.ABANDONED
    assert killed.cost_nanos == analysis_cost  # the charged call is kept
    assert Reservation.objects.get(pk=killed.reservation_id).status == Reservation.Status.EXPIRED
    period.refresh_from_db()
    assert (period.spent_nanos, period.reserved_nanos) == (analysis_cost, 0)
    assert_ledger_consistent(period)
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 1)

    again = run_execution(task)

    assert again.status == Execution.Status.SUCCEEDED
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.DONE, 2)
    assert_ledger_consistent(period)
    assert period.spent_nanos == analysis_cost + again.cost_nanos
    assert ModelCall.objects.aggregate(total=Sum("cost_nanos"))["total"] == period.spent_nanos
    assert period.failed_count == 1 and period.succeeded_count == 1


@pytest.mark.django_db
def test_an_expired_reservation_without_an_execution_is_released_too():
    from budget import ledger

    now = timezone.now()
    ledger.reserve(1_000_000, label="left by a crash before its execution was recorded", now=now - TIMEOUT)

    assert (
        recover_stalled(now=now + dt.timedelta(seconds=1))
        == "abandoned executions: 0; expired reservations released: 1"
    )
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (0, 0)
