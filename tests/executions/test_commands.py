"""The pipeline's commands: run_execution, import_tasks, simulate and demo, with their exit codes."""

import io
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from budget.models import Milestone
from budget.money import to_nanos
from budget.periods import current_period, set_limit
from executions.models import Execution, Task
from executions.repositories.local_git import LocalGitGateway
from tests.executions.conftest import assert_ledger_consistent

# The seeded models and their prices are the ones in service on the pinned day.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

BACKLOG = """\
- [ ] Add a health check endpoint
  Load balancers need a cheap probe.
- [x] Set up CI
- [ ] Document the settings
"""


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def exit_code(*args) -> tuple[int, str]:
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    return raised.value.returncode, str(raised.value)


def test_run_execution_creates_and_runs_a_task_from_its_title():
    out = run("run_execution", "Add a changelog")

    execution = Execution.objects.get()
    assert out.startswith(
        f"Execution {execution.pk} of task {execution.task_id} ('Add a changelog') (simulated)"
    )
    assert f"succeeded, cost $0.031275: branch ai/{execution.task_id}-add-a-changelog" in out


def test_run_execution_says_why_it_did_not_run():
    assert run("run_execution") == "Nothing to do: no task is pending.\n"
    run("run_execution", "Add a changelog")
    task = Task.objects.get()

    assert exit_code("run_execution", "--task", str(task.pk)) == (
        2,
        f"Task {task.pk} is done, not pending: requeue it to run it again.",
    )
    Task.objects.filter(pk=task.pk).update(status=Task.Status.SKIPPED)
    assert exit_code("run_execution", "--task", str(task.pk)) == (
        2,
        f"Task {task.pk} is skipped, not pending: requeue it to run it again.",
    )
    Task.objects.filter(pk=task.pk).update(status=Task.Status.RUNNING)  # busy elsewhere: not bad usage
    code, message = exit_code("run_execution", "--task", str(task.pk))
    assert code == 1 and message.startswith(
        f"Not started: Task {task.pk} is already running in another process"
    )
    assert Execution.objects.count() == 1  # nothing more ran
    assert exit_code("run_execution", "--task", "999") == (2, "There is no task 999.")
    assert exit_code("run_execution", "x", "--task", "1")[0] == 2


def test_import_tasks_is_idempotent(tmp_path):
    backlog = tmp_path / "BACKLOG.md"
    backlog.write_text(BACKLOG)

    first = run("import_tasks", str(backlog))
    again = run("import_tasks", str(backlog))

    assert first == f"Imported 2 tasks from {backlog} (1 skipped: checked, or imported before).\n"
    assert again == f"Imported 0 tasks from {backlog} (3 skipped: checked, or imported before).\n"
    assert Task.objects.count() == 2
    assert (
        Task.objects.get(title="Add a health check endpoint").description
        == "Load balancers need a cheap probe."
    )


def test_import_tasks_reads_the_target_repository(settings):
    gateway = LocalGitGateway.from_settings()
    gateway.ensure_repository()
    (gateway.path / "BACKLOG.md").write_text(BACKLOG)
    git = ["git", "-C", str(gateway.path), "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "add", "BACKLOG.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "Backlog"], check=True)

    out = run("import_tasks", "--from-repo", "BACKLOG.md")

    assert out.startswith("Imported 2 tasks from BACKLOG.md")
    assert set(Task.objects.values_list("source", flat=True)) == {Task.Source.REPOSITORY}
    assert exit_code("import_tasks", "--from-repo", "MISSING.md") == (
        2,
        "MISSING.md: not found in the target repository's default branch.",
    )


def test_import_tasks_refuses_bad_usage_and_bad_files(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("- [ ] ok\n- [ ]\n")

    assert exit_code("import_tasks")[0] == 2
    assert exit_code("import_tasks", str(tmp_path / "nope.md")) == (
        2,
        f"{tmp_path / 'nope.md'}: no such file.",
    )
    assert exit_code("import_tasks", str(bad)) == (
        2,
        f"{bad}: line 2: a checklist item needs a title after the box.",
    )
    assert exit_code("import_tasks", str(tmp_path)) == (
        2,
        f"{tmp_path}: is a directory; give the checklist file.",
    )
    assert not Task.objects.exists()


def test_simulate_runs_until_the_amount_with_a_progress_bar():
    out = run("simulate", "--until", "0.10")

    assert Execution.objects.filter(simulated=True, status="succeeded").count() == 4  # 4 × $0.031275
    assert "] $0.13 / $0.10  4 executions" in out
    assert out.rstrip().endswith("the month has spent $0.1251 of $15.00.")
    assert current_period().spent_nanos == 4 * 31_275_000
    assert_ledger_consistent(current_period())


def test_simulate_stops_with_exit_3_when_the_budget_runs_out():
    # Room to admit one execution's full form (about $0.267 on the pinned day: every call it may
    # make at its byte bound, the coder's three tries and the analyst's look-up round included),
    # not a second one beside what the first spent: the later ones run reduced until not even the
    # smallest form fits what is left unspent.
    set_limit(current_period(), "0.28")

    code, message = exit_code("simulate", "--until", "0.28")

    assert code == 3 and message.startswith("Budget exhausted for")
    executions = list(Execution.objects.order_by("pk"))
    assert executions[0].reduced == "" and len(executions) > 1
    assert all(e.reduced for e in executions[1:])
    period = current_period()
    assert period.spent_nanos <= period.limit_nanos and period.exhausted_at is not None
    assert exit_code("simulate", "--until", "abc")[0] == 2
    assert exit_code("simulate", "--until", "99") == (
        2,
        "--until $99.00 is above the month's limit of $0.28: the budget never spends past it.",
    )


@pytest.mark.slow
def test_demo_runs_past_the_first_milestone_into_local_git(settings):
    out = run("demo")

    assert "Backlog: 4 task(s) added, 1 skipped" in out
    assert "Milestone reached: $5.00" in out
    assert "Budget 20" in out and "Where to look next:" in out
    [milestone] = Milestone.objects.all()
    assert milestone.threshold_nanos == to_nanos("5")
    branches = subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, "branch", "--list", "ai/*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(branches) == Execution.objects.filter(status="succeeded", revision=None).count() >= 159
    # The first task's branch was revised once: one more commit on it.
    assert "Revision of 'Add a health check endpoint' (Say how a reviewer can check it)" in out
    assert Execution.objects.filter(status="succeeded", revision__isnull=False).count() == 1
    assert_ledger_consistent(current_period())
