"""What the pipeline's speed must not cost: fresh configuration, honest event figures, and a
bounded number of queries per execution (``benchmarks/pipeline.py`` measures the time)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from budget.models import LanguageModel, Price
from budget.periods import current_period
from executions.backlog.services import create_task
from executions.models import Execution, StepConfig, Task
from executions.pipeline.runner import run_execution
from executions.providers import Providers
from executions.providers.simulated import SimulatedProvider, simulated_providers
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent

# The seeded models and their prices are the ones in service on the pinned day.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

# The pipeline's own statements for one simulated execution (the outbox's are counted apart: they
# grow with the channels), the same on every database. A new query here should be a deliberate
# one: raise the bound in the same commit, and say why.
# +2 (issue 20): each charge commits on its own, and the state the answer leads to is a second
# UPDATE after it, so an answer that cannot be written never rolls its charge back.
# +7 (16-layout): the pipeline builds the PR body for every gateway (the period and its summary).
# +2 (issues 25 and 27 together): the running totals per repository (a start and each charge) and
# the month's count of changes applied on the first try, beside the try number each call records.
# +3 (issue 34): after the plan the reservation shrinks to what the coder can still cost (its row
# read under its lock, then it and the period updated), so the money goes back at once.
PIPELINE_QUERIES = {"sqlite": 57, "postgresql": 57}


def test_the_events_carry_the_months_figures_at_that_moment():
    execution = run_execution(create_task(title="First"))
    started, completed = (
        Event.objects.get(kind=kind, payload__execution__id=execution.pk).payload["budget"]
        for kind in ("execution_started", "execution_completed")
    )
    period = current_period()

    assert started["executions"] == 1 and started["spent"] == "0.00"
    assert started["reserved"] != "0.00"  # this execution's worst case is held
    assert completed["spent"] == "0.031275" and completed["reserved"] == "0.00"
    assert (completed["executions"], completed["succeeded"]) == (1, 1)
    assert completed["spent"] == f"{period.spent_nanos / 10**9:.6f}"
    # The month's own figures only: the execution's calls are in its own facts.
    assert "models" not in completed and "milestones" not in completed
    calls = Event.objects.get(kind="execution_completed").payload["execution"]["calls"]
    assert [(c["model"], c["cost"]) for c in calls] == [
        ("claude-sonnet-4-5", "0.0285"),
        ("gpt-4o-mini", "0.002775"),
    ]


def test_an_admin_edit_applies_to_the_very_next_execution():
    first = run_execution(create_task(title="First"))
    StepConfig.objects.filter(step="analysis").update(max_tokens=1000)
    Price.objects.create(
        model=LanguageModel.objects.get(name="claude-sonnet-4-5"),
        effective_from=timezone.localdate(),
        input_nanos=1000,
        output_nanos=5000,
    )

    second = run_execution(create_task(title="Second"))

    analysis = second.calls.get(step="analysis")
    assert (analysis.input_tokens, analysis.output_tokens) == (2000, 1000)  # capped at the new max
    assert analysis.cost_nanos == 2000 * 1000 + 1000 * 5000
    assert second.reserved_nanos < first.reserved_nanos
    assert_ledger_consistent(current_period())


def test_the_task_is_read_afresh_before_it_runs():
    held = create_task(title="Old title")
    Task.objects.filter(pk=held.pk).update(title="New title", max_attempts=5)

    execution = run_execution(held)

    assert execution.calls.get(step="analysis").request_id  # it ran
    assert (held.title, held.max_attempts, held.status) == ("New title", 5, Task.Status.DONE)
    assert held.created_at == Task.objects.get(pk=held.pk).created_at and timezone.is_aware(held.created_at)
    assert Event.objects.get(kind="execution_started").payload["execution"]["task_title"] == "New title"


def test_a_deleted_task_is_said_to_be_missing():
    task = create_task(title="Gone")
    Task.objects.filter(pk=task.pk).delete()

    with pytest.raises(Task.DoesNotExist):
        run_execution(task)


class BlankAnalyst(SimulatedProvider):
    """Answers (and is billed) with an empty plan."""

    def _plan(self, request):
        return "   "


def test_an_empty_plan_is_charged_and_fails_the_execution_in_the_state_it_reached():
    providers = Providers(
        analysis=BlankAnalyst("anthropic", "analysis"), codegen=simulated_providers().codegen
    )

    execution = run_execution(create_task(title="Blank"), providers=providers)

    stored = Execution.objects.get(pk=execution.pk)
    assert stored.status == Execution.Status.FAILED and "empty plan" in stored.error
    assert (stored.plan, [c.step for c in stored.calls.all()]) == ("", ["analysis"])
    assert stored.cost_nanos == stored.calls.get().cost_nanos == 28_500_000
    failed = Event.objects.get(kind="execution_failed").payload["execution"]
    assert [c["step"] for c in failed["calls"]] == ["analysis"] and failed["cost"] == "0.0285"
    assert_ledger_consistent(current_period())


def test_the_calls_an_execution_holds_are_the_rows_it_wrote():
    execution = run_execution(create_task(title="First"))
    fields = ["pk", "step", "model", "price_id", "input_tokens", "output_tokens", "cost_nanos", "created_at"]

    held = [[getattr(c, f) for f in fields] for c in execution.calls.all()]

    stored = Execution.objects.get(pk=execution.pk).calls.all()
    assert held == [[getattr(c, f) for f in fields] for c in stored]
    assert sum(c.cost_nanos for c in execution.calls.all()) == execution.cost_nanos
    assert execution.calls.get(step="codegen").model == "gpt-4o-mini"  # a query still runs for real


def test_one_execution_makes_a_bounded_number_of_queries():
    run_execution(create_task(title="Warm up"))  # the month's period and daily row exist from here on
    task = create_task(title="Counted")

    with CaptureQueriesContext(connection) as queries:
        execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED
    own = [q["sql"] for q in queries.captured_queries if not _outbox_or_savepoint(q["sql"])]
    assert len(own) <= PIPELINE_QUERIES[connection.vendor], "\n".join(own)


def _outbox_or_savepoint(sql: str) -> bool:
    # Savepoints depend on the transactions the test runs inside; the outbox is another module's.
    return "notifications_" in sql or "SAVEPOINT" in sql
