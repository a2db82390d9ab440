"""The simulated pipeline: offline models, a real local git repository, the real ledger."""

import datetime as dt
import subprocess

import pytest
from django.utils import timezone

from budget import ledger
from budget.costs import SEED_PROFILE
from budget.models import Milestone
from budget.money import to_nanos
from budget.periods import current_period
from budget.pricing import Usage
from executions.backlog.services import create_task
from executions.errors import TaskBusy
from executions.jobs import run_task
from executions.models import Execution, Task
from executions.pipeline.runner import prepare, run_execution
from executions.providers.simulated import simulated_providers
from executions.repositories.base import PublishError
from executions.repositories.local_git import LocalGitGateway
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent

# The seeded models and their prices are the ones in service on the pinned day.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

SEED_EXECUTION_NANOS = 31_275_000  # $0.0285 + $0.002775, as `budget costs` says


class RefusingGateway(LocalGitGateway):
    """The local repository, whose publishing is refused (as GitHub might refuse it)."""

    def publish(self, execution, change, *, pr_body):
        raise PublishError("GitHub refused creating the commit (403): the token cannot push.")


def test_a_simulated_execution_costs_the_seed_profile_and_lands_in_git(settings):
    task = create_task(title="Document the settings", description="List every environment variable.")

    execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED
    assert execution.simulated and all(c.simulated for c in execution.calls.all())
    assert execution.cost_nanos == SEED_EXECUTION_NANOS
    assert [(c.input_tokens, c.output_tokens) for c in execution.calls.order_by("pk")] == [
        (p.input_tokens, p.output_tokens) for p in SEED_PROFILE
    ]
    assert execution.branch == f"ai/{task.pk}-document-the-settings"
    note = subprocess.run(
        [
            "git",
            "-C",
            settings.LOCAL_REPO_PATH,
            "show",
            f"{execution.branch}:docs/changes/document-the-settings.md",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert note.startswith("# Document the settings\n\nList every environment variable.")
    assert execution.reserved_nanos >= execution.cost_nanos
    assert execution.started_at <= execution.heartbeat_at <= execution.finished_at
    kinds = list(Event.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["execution_started", "execution_completed"]
    period = current_period()
    assert (period.executions_count, period.succeeded_count) == (1, 1)
    assert_ledger_consistent(period)


def test_the_worst_case_reserved_is_what_the_scheduler_is_told():
    task = create_task(title="Add a changelog")
    # What the scheduler asks before it starts one (executions.scheduling.scheduler).
    expected = prepare(
        task, providers=simulated_providers(), gateway=LocalGitGateway.from_settings()
    ).worst_case_nanos

    execution = run_execution(task)

    assert execution.reserved_nanos == expected
    assert execution.reservation.amount_nanos == expected


def test_a_task_that_is_not_pending_is_refused():
    task = create_task(title="Add a changelog")
    run_execution(task)

    with pytest.raises(TaskBusy, match=f"Task {task.pk} is done, not pending"):
        run_execution(task)
    Task.objects.filter(pk=task.pk).update(status=Task.Status.RUNNING)
    with pytest.raises(TaskBusy, match="already running in another process"):
        run_execution(task)
    assert Execution.objects.count() == 1


def test_a_refused_publish_fails_the_execution_keeps_the_charges_and_retries_the_task(settings):
    task = create_task(title="Add a changelog")

    execution = run_execution(task, gateway=RefusingGateway(settings.LOCAL_REPO_PATH))

    assert execution.status == Execution.Status.FAILED
    assert (
        execution.error
        == "GitHub refused creating the commit (403): the token cannot push; the task will be retried"
    )
    assert execution.cost_nanos == SEED_EXECUTION_NANOS
    assert execution.change["files"][0]["path"] == "docs/changes/add-a-changelog.md"
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 1)
    assert_ledger_consistent(execution.period)

    retried = run_execution(task)
    assert retried.status == Execution.Status.SUCCEEDED
    assert current_period().spent_nanos == 2 * SEED_EXECUTION_NANOS


def test_crossing_a_threshold_records_and_announces_the_milestone_once():
    # Arrange a month just under $5 through the ledger, as earlier executions would have left it.
    earlier = ledger.reserve(to_nanos("5"))
    ledger.charge(
        earlier, to_nanos("4.99"), model_name="gpt-4o-mini", provider="openai", usage=Usage(input_tokens=1)
    )
    ledger.release(earlier)

    run_execution(create_task(title="First"))
    run_execution(create_task(title="Second"))

    [milestone] = Milestone.objects.all()
    assert milestone.threshold_nanos == to_nanos("5")
    assert Event.objects.filter(kind="milestone_reached").count() == 1


def test_simulated_usage_can_be_configured_and_output_never_exceeds_max_tokens():
    providers = simulated_providers(analysis_usage=Usage(input_tokens=10, output_tokens=99_999))

    execution = run_execution(create_task(title="Tiny"), providers=providers)

    analysis = execution.calls.get(step="analysis")
    assert (analysis.input_tokens, analysis.output_tokens) == (10, 2048)
    assert execution.cost_nanos <= execution.reserved_nanos


def test_the_q2_entry_point_logs_expected_outcomes_instead_of_raising():
    task = create_task(title="Add a changelog")

    assert run_task(task.pk).endswith("succeeded")
    assert run_task(task.pk).startswith("not started: Task")
    assert run_task(999_999) == "task 999999 not found"


def test_run_execution_with_a_fixed_clock_records_that_time():
    now = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)

    execution = run_execution(create_task(title="Add a changelog"), now=now)

    assert execution.started_at == execution.finished_at == now
    assert timezone.localdate(now) == execution.period.month.replace(day=20)


def test_the_simulated_coder_edits_the_file_the_analyst_named_and_notes_only_the_task(settings, pinned_clock):
    execution = run_execution(create_task(title="Mention the sandbox"))  # no description

    assert execution.plan_files == ["README.md"]
    note = subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, "show", f"{execution.branch}:docs/changes/mention-the-sandbox.md"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "No description was given." in note and "Repository map" not in note and "<file" not in note
    assert "+Simulated change for: Mention the sandbox\n" in execution.diff
