"""Concurrent ``run_execution`` without ``--task`` each take a different pending task (issue 20)."""

import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from executions.backlog.services import create_task, next_pending_task
from executions.models import Execution, Task
from executions.repositories.local_git import LocalGitGateway
from tests.executions.conftest import assert_ledger_consistent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to("2026-11-15 12:00Z", tick=True)


def run_concurrently(n: int) -> list[str]:
    start, outcomes = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        out = StringIO()
        start.wait()
        try:
            call_command("run_execution", stdout=out)
            outcomes[i] = out.getvalue()
        except CommandError as exc:
            outcomes[i] = f"exit {exc.returncode}: {exc}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


@pytest.mark.postgres
def test_two_runs_at_once_take_two_different_tasks(settings):
    settings.SIMULATED_LATENCY_SECONDS = 0.2
    first, second = create_task(title="First"), create_task(title="Second")
    LocalGitGateway.from_settings().ensure_repository()  # the sandbox exists before both start

    outcomes = run_concurrently(2)

    assert all("succeeded" in o for o in outcomes), outcomes
    assert sorted(Execution.objects.values_list("task_id", flat=True)) == [first.pk, second.pk]
    assert set(Task.objects.values_list("status", flat=True)) == {Task.Status.DONE}
    assert_ledger_consistent(Execution.objects.first().period)


def test_the_choice_skips_tasks_already_tried():
    first, second = create_task(title="First"), create_task(title="Second")

    assert next_pending_task() == first
    assert next_pending_task(exclude=[first.pk]) == second
    assert next_pending_task(exclude=[first.pk, second.pk]) is None
