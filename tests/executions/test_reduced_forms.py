"""The month's last dollars: busy is not exhausted, smaller forms run and say so, holds shrink."""

from dataclasses import replace

import pytest

from budget import ledger
from budget.models import Reservation
from budget.money import dollars_str
from budget.periods import current_period, set_limit
from executions.backlog.services import create_task
from executions.models import Execution, Task
from executions.pipeline.runner import codegen_bound, codegen_request_for, prepare, run_execution, smaller
from executions.providers import providers_for_mode
from executions.providers.openai import OpenAIProvider
from executions.repositories.gateways import get_gateway
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]


def new_task(title="Add a health check endpoint"):
    return create_task(title=title, description="Load balancers need a cheap probe.")


def forms_of(task):
    providers = providers_for_mode()
    full = prepare(task, providers=providers, gateway=get_gateway())
    return [full, *smaller(task, full, providers)]


def test_while_other_work_holds_the_money_the_execution_is_busy_and_nothing_is_said(live):
    anthropic_fake, _ = live
    task = new_task()
    full = forms_of(task)[0]
    set_limit(current_period(), dollars_str(full.worst_case.admit_nanos + 1_000_000))
    elsewhere = ledger.reserve(2_000_000, label="another execution")  # leaves less than the worst case

    with pytest.raises(ledger.BudgetBusy, match="Busy: the next execution needs up to"):
        run_execution(task)

    assert anthropic_fake.messages() == []
    assert not Event.objects.filter(kind="budget_exhausted").exists()
    period = current_period()
    assert period.exhausted_at is None and period.reserved_nanos == 2_000_000
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 0)
    assert not Execution.objects.exists()  # no reduced form ran while the money was only held

    ledger.release(elsewhere)
    execution = run_execution(task)
    assert execution.status == Execution.Status.SUCCEEDED and execution.reduced == ""


def test_with_too_little_left_for_the_full_form_fewer_coder_tries_run_and_say_so(live):
    anthropic_fake, openai_fake = live
    task = new_task()
    full, one_less, *_ = forms_of(task)
    set_limit(current_period(), dollars_str(one_less.worst_case.admit_nanos))  # not the full form's

    execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert execution.codegen_tries == 2
    assert execution.reserved_nanos == one_less.worst_case_nanos  # each step's first call
    assert one_less.worst_case.admit_nanos < full.worst_case.admit_nanos
    assert execution.reduced.startswith("2 coder tries instead of 3: the month had $")
    assert f"less than the full form's worst case of ${dollars_str(full.worst_case.admit_nanos)}" in (
        execution.reduced
    )
    assert_ledger_consistent(current_period())


def test_the_last_dollars_lower_the_analysis_cap_to_its_floor_and_no_further(live, settings):
    anthropic_fake, _ = live
    settings.ANALYSIS_MIN_MAX_TOKENS = 1024
    task = new_task()
    forms = forms_of(task)
    lowest_cap = next(f for f in forms if f.form.analysis_max_tokens == 1024 and f.form.context_share == 1)
    # Full, two fewer coder tries, no look-up round, then the cap halved to its floor.
    assert [
        (f.form.reflections, f.form.lookups, f.form.analysis_max_tokens)
        for f in forms
        if f.form.context_share == 1
    ] == [
        (2, 1, 2048),
        (1, 1, 2048),
        (0, 1, 2048),
        (0, 0, 2048),
        (0, 0, 1024),
    ]
    set_limit(current_period(), dollars_str(lowest_cap.worst_case.admit_nanos))

    execution = run_execution(task)

    [message] = anthropic_fake.messages()
    assert message["max_tokens"] == 1024
    assert [tool["name"] for tool in message["tools"]] == ["submit_plan"]  # no look-up offered
    assert execution.codegen_tries == 1
    assert execution.reduced.startswith(
        "1 coder tries instead of 3; 0 look-up rounds instead of 1; analysis output cap 1,024 tokens instead "
        "of 2,048: the month had"
    )


def test_exhausted_only_when_not_even_the_smallest_form_fits_and_said_once(live):
    anthropic_fake, _ = live
    task = new_task()
    smallest = forms_of(task)[-1]  # (the sandbox's context is small: showing less of it saves nothing)
    assert (smallest.form.reflections, smallest.form.analysis_max_tokens) == (0, 1024)
    set_limit(current_period(), dollars_str(smallest.worst_case.admit_nanos - 1))

    for _ in range(2):
        with pytest.raises(ledger.BudgetExhausted):
            run_execution(task)

    assert anthropic_fake.messages() == []
    assert Event.objects.filter(kind="budget_exhausted").count() == 1
    assert current_period().exhausted_at is not None


class Observed(OpenAIProvider):
    """The real OpenAI provider; it notes what the execution's reservation holds at each call."""

    held: list[int]

    def complete(self, request):
        self.held.append(Reservation.objects.get(label__startswith="task ").held_nanos)
        return super().complete(request)


def test_after_the_plan_the_reservation_holds_only_what_the_coder_can_still_cost(live):
    anthropic_fake, openai_fake = live
    coder = Observed()
    coder.held = []
    providers = replace(providers_for_mode(), codegen=coder)
    task = new_task()
    prepared = prepare(task, providers=providers, gateway=get_gateway())

    execution = run_execution(task, providers=providers)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    [analysis] = execution.calls.filter(step="analysis")
    [held_at_coder] = coder.held
    # The coder's first try, bounded on the request it was really sent (its files now known); a
    # further try would be held when a miss asks for it.
    request = codegen_request_for(
        execution, prepared.analysis, prepared.codegen, prepared.base, get_gateway()
    )
    assert held_at_coder == codegen_bound(prepared.codegen, coder, request, reflections=0).nanos
    assert held_at_coder < prepared.worst_case_nanos - analysis.cost_nanos  # money went back at once
    reservation = execution.reservation
    reservation.refresh_from_db()
    assert reservation.amount_nanos == prepared.worst_case_nanos
    assert reservation.status == Reservation.Status.RELEASED and reservation.held_nanos == 0
    assert_ledger_consistent(current_period())
