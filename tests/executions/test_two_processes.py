"""Two processes run `run_execution --task ID` on the same pending task: one runs, the other says why not."""

import os
import subprocess
import time

import pytest
from django.db import connection

from budget.periods import current_period
from executions.backlog.services import create_task
from executions.models import Execution, Task
from tests.clock import manage_py
from tests.executions.conftest import assert_ledger_consistent

# The subprocesses run the seeded models, in service on the pinned day (tests.clock passes it on).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("pinned_clock"),
]


def test_database_url() -> str:
    """The URL of the database this test uses, for the subprocesses."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def start_run(task_id: int, settings, *, latency: str = "2", stdout=subprocess.PIPE) -> subprocess.Popen:
    """``manage.py run_execution --task ID`` in a process of its own, simulated, each model call
    taking ``latency`` seconds. The default makes two runs overlap: the first holds the task longer
    than a second Django process takes to start on a busy machine (0.5 s was not always enough)."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "LOCAL_REPO_PATH": settings.LOCAL_REPO_PATH,
        "ORCHESTRATOR_MODE": "simulated",
        "SIMULATED_LATENCY_SECONDS": latency,
    }
    return subprocess.Popen(
        manage_py("run_execution", "--task", str(task_id)),
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_running(task: Task, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task.refresh_from_db()
        if task.status == Task.Status.RUNNING:
            return
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the first process ended before it claimed the task: {out}{err}")
        time.sleep(0.02)
    raise AssertionError("the first process never claimed the task")


def test_the_second_process_is_refused_while_the_first_runs(settings):
    task = create_task(title="Add a health check endpoint")

    first = start_run(task.pk, settings)
    wait_until_running(task, first)
    second = start_run(task.pk, settings)
    second_out, second_err = second.communicate(timeout=60)
    first_out, first_err = first.communicate(timeout=60)

    assert first.returncode == 0, first_err
    assert "succeeded" in first_out
    assert second.returncode == 1
    assert f"Not started: Task {task.pk} is already running in another process" in second_err
    assert Execution.objects.filter(task=task).count() == 1
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.DONE, 1)
    assert_ledger_consistent(current_period())
