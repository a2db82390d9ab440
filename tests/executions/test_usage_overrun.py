"""A vendor reporting more usage than the request allowed: charged, stopped, exhausted, warned."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from budget.models import Overrun
from executions.backlog.services import create_task
from executions.models import Execution, Task
from executions.pipeline.runner import run_execution
from notifications.models import Event

pytestmark = pytest.mark.django_db

HUGE = 2_000_000


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to("2026-11-15 12:00Z", tick=False)


def test_an_over_reported_analysis_is_charged_and_nothing_more_is_paid_for(live, admin_client):
    anthropic_fake, openai_fake = live
    anthropic_fake.usage = {"input_tokens": 2000, "output_tokens": HUGE}
    task = create_task(title="Add a health check endpoint")

    execution = run_execution(task)

    # Charged what the vendor billed ($3/M in, $15/M out), past the $15 month.
    expected = 2000 * 3000 + HUGE * 15000
    [call] = execution.calls.all()
    assert call.cost_nanos == expected == execution.cost_nanos
    period = execution.period
    period.refresh_from_db()
    assert period.spent_nanos == expected > period.limit_nanos
    assert period.reserved_nanos == 0
    # Stopped before the paid code generation call.
    assert openai_fake.completions() == []
    assert execution.status == Execution.Status.FAILED
    assert "2,000,000 output tokens on a 2,048-token cap" in execution.error
    task.refresh_from_db()
    assert task.status != Task.Status.RUNNING
    # The month is exhausted, announced once.
    assert period.exhausted_at is not None
    assert Event.objects.filter(kind=Event.Kind.BUDGET_EXHAUSTED).count() == 1
    [overrun] = Overrun.objects.all()
    assert overrun.charged_nanos == expected and overrun.excess_nanos > 0

    # The status, the API and the dashboard name the call and the vendor's usage.
    out = StringIO()
    call_command("budget", "status", "--json", stdout=out)
    status = json.loads(out.getvalue())
    assert status["exhausted"] is True
    [warning] = [w for w in status["warnings"] if "output tokens" in w]
    assert f"call {call.pk} of execution {execution.pk}" in warning
    assert "2,000,000 output tokens on a 2,048-token cap" in warning
    text = StringIO()
    call_command("budget", "status", stdout=text)
    assert "2,000,000 output tokens" in text.getvalue()
    usage = admin_client.get("/api/v1/usage/current/").json()
    assert usage["warnings"] == [warning]
    assert warning.replace("'", "&#x27;") in admin_client.get("/admin/dashboard/").content.decode()
    assert "2,000,000 output tokens" in admin_client.get("/admin/budget/overrun/").content.decode()


def test_an_over_reported_code_generation_is_charged_and_not_published(live, settings):
    _, openai_fake = live
    openai_fake.usage = {"prompt_tokens": 2500, "completion_tokens": HUGE, "total_tokens": HUGE + 2500}

    execution = run_execution(create_task(title="Add a health check endpoint"))

    assert [c.step for c in execution.calls.order_by("pk")] == ["analysis", "codegen"]
    assert execution.calls.get(step="codegen").cost_nanos == 2500 * 150 + HUGE * 600
    assert execution.status == Execution.Status.FAILED and not execution.branch
    assert "8,192-token cap" in execution.error
    execution.period.refresh_from_db()
    assert execution.period.spent_nanos == execution.cost_nanos
    assert execution.period.reserved_nanos == 0
    assert execution.period.exhausted_at is not None


def test_a_normal_run_has_no_warning(live):
    execution = run_execution(create_task(title="Add a health check endpoint"))

    assert execution.status == Execution.Status.SUCCEEDED
    assert not Overrun.objects.exists()
    out = StringIO()
    call_command("budget", "status", "--json", stdout=out)
    assert not [w for w in json.loads(out.getvalue())["warnings"] if "output tokens" in w]
