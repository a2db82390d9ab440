"""Text a vendor sends that PostgreSQL cannot store (lone surrogates, NUL) never costs a charge.

JSON may carry ``\\ud800`` legally; psycopg cannot encode it. Every vendor text is made storable
where it becomes a ``Completion`` or a failure message, and a charge commits on its own before
anything derived from the answer is written.
"""

import json

import pytest
from django.db import DatabaseError, connection

from budget.models import Reservation
from executions.backlog.services import create_task
from executions.models import Execution, ModelCall, Task
from executions.pipeline.runner import run_execution
from notifications.text import storable
from tests.executions.conftest import assert_ledger_consistent
from tests.fakes.openai import CHANGE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to("2026-11-15 12:00Z", tick=False)


SURROGATE = "\ud800"


def run_one():
    task = create_task(title="Add a health check endpoint", description="Load balancers need a probe.")
    execution = run_execution(task)
    task.refresh_from_db()
    return task, execution


def assert_clean_end(task, execution):
    execution.refresh_from_db()
    assert execution.status in (Execution.Status.FAILED, Execution.Status.SUCCEEDED)
    assert task.status != Task.Status.RUNNING
    assert not Reservation.objects.filter(status=Reservation.Status.OPEN).exists()
    assert_ledger_consistent(execution.period)


def test_storable_replaces_lone_surrogates_and_nul_and_keeps_the_rest():
    assert storable(f"plan {SURROGATE} é 😀\x00end") == "plan \ufffd é 😀\ufffdend"
    assert storable("plain") == "plain"


@pytest.mark.postgres
def test_a_surrogate_in_the_plan_is_charged_and_the_execution_ends(live):
    anthropic_fake, _ = live
    anthropic_fake.tool_input = {
        "plan": f"1. Add app/health.py {SURROGATE} with a view.\n",
        "files": ["README.md"],
    }

    task, execution = run_one()

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert "\ufffd" in execution.plan
    assert ModelCall.objects.filter(execution=execution).count() == 2
    assert_clean_end(task, execution)


@pytest.mark.postgres
def test_a_surrogate_in_the_summary_and_a_path_fails_cleanly_with_every_call_charged(live):
    _, openai_fake = live
    change = json.loads(json.dumps(CHANGE))
    change["summary"] = f"Adds {SURROGATE} a health view."
    change["changes"][0]["path"] = f"app/he{SURROGATE}alth.py"
    openai_fake.content = json.dumps(change)  # the surrogate travels as a JSON escape

    task, execution = run_one()

    assert execution.status == Execution.Status.FAILED
    assert "unsafe path" in execution.error and "\ufffd" in execution.error
    calls = execution.calls.order_by("pk")
    assert list(calls.values_list("step", flat=True)) == ["analysis", "codegen", "codegen", "codegen"]
    assert "\ufffd" in calls.last().failure  # each try's failure is stored too
    assert task.status == Task.Status.PENDING
    assert_clean_end(task, execution)


@pytest.mark.postgres
def test_a_surrogate_in_the_raw_answer_and_the_summary_is_stored_replaced(live):
    _, openai_fake = live
    change = json.loads(json.dumps(CHANGE))
    change["summary"] = f"Adds {SURROGATE} a health view."
    openai_fake.content = json.dumps(change, ensure_ascii=False)  # a raw surrogate in the answer

    task, execution = run_one()

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert execution.summary == "Adds \ufffd a health view."
    assert_clean_end(task, execution)


@pytest.mark.postgres
def test_a_surrogate_in_a_vendor_error_message_is_saved(live):
    anthropic_fake, _ = live
    anthropic_fake.fail(400, message=f"bad request {SURROGATE} here")

    task, execution = run_one()

    assert execution.status == Execution.Status.FAILED
    assert "bad request \ufffd here" in execution.error
    assert_clean_end(task, execution)


@pytest.fixture
def failing_plan_write():
    """A database fault on the write that follows the analysis charge (the plan's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION refuse_plan() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'injected fault on the plan write'; END $$;
            CREATE TRIGGER refuse_plan BEFORE UPDATE ON executions_execution
            FOR EACH ROW WHEN (NEW.plan <> '' AND OLD.plan = '') EXECUTE FUNCTION refuse_plan();
            """
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_plan ON executions_execution; DROP FUNCTION refuse_plan();")


@pytest.mark.postgres
def test_a_charge_survives_a_failure_of_the_write_derived_from_the_answer(live, failing_plan_write):
    task = create_task(title="Add a health check endpoint")

    with pytest.raises(DatabaseError, match="injected fault"):
        run_execution(task)

    execution = Execution.objects.get(task=task)
    task.refresh_from_db()
    [call] = execution.calls.all()
    assert call.step == "analysis" and call.cost_nanos == execution.cost_nanos > 0
    assert execution.status == Execution.Status.FAILED
    assert task.status == Task.Status.PENDING
    assert_clean_end(task, execution)
