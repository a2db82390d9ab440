"""Batch mode charges each vendor result once, whatever stops or overtakes a pass (issue 24, items
1–4), over the fake vendors' batch endpoints and the real SDKs, in this process. The same stories
with two real processes on PostgreSQL: ``test_batch_passes_two_processes.py``."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum

from budget.models import DailyUsage, ModelUsage
from budget.periods import current_period
from executions.batches.passes import run_batches_pass
from executions.jobs import recover_stalled
from executions.models import Batch, Execution, ModelCall, StepConfig, Task
from executions.pipeline import state
from executions.providers import Providers
from executions.providers.anthropic import AnthropicProvider
from executions.providers.openai import OpenAIProvider
from notifications.models import Event
from tests.executions.conftest import (
    assert_charged_as_billed,
    assert_no_call_made_twice,
    charges_per_result,
    tasks,
)

pytestmark = pytest.mark.django_db

NOW = "2026-11-15 12:00Z"  # claude-sonnet-4-5 is current
LATER = "2026-11-15 12:45Z"  # past a pass's lease (Q_TIMEOUT_SECONDS)
ANALYSIS_BATCH_NANOS = 2000 * 1500 + 1500 * 7500  # the seed's usage at half claude-sonnet-4-5's rates


def run_batches() -> str:
    out = StringIO()
    call_command("run_batches", stdout=out)
    return out.getvalue().strip()


class Crash(BaseException):
    """The process dies (not an error any code handles)."""


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("step", "next_state"), [("analysis", "generating"), ("codegen", "publishing")])
def test_a_pass_that_dies_between_a_charge_and_its_state_change_does_not_charge_it_again(
    batch_mode, monkeypatch, step, next_state
):
    anthropic_fake, openai_fake = batch_mode
    tasks(3)
    run_batches()  # the analysis batch goes out
    if step == "codegen":
        run_batches()  # analysis charged, the codegen batch goes out
    save = state.save

    def dies_on_the_state_change(execution, now, **fields):
        if fields.get("status") == next_state:
            raise Crash
        save(execution, now, **fields)

    monkeypatch.setattr(state, "save", dies_on_the_state_change)
    with pytest.raises(Crash):
        run_batches_pass()
    monkeypatch.setattr(state, "save", save)
    [charged] = ModelCall.objects.filter(step=step)  # the first result, charged; its state unchanged
    assert charged.execution.status == ("analysing" if step == "analysis" else "generating")

    with time_machine.travel(LATER, tick=False):  # the dead pass's lease ran out
        for _ in range(2 if step == "analysis" else 1):
            run_batches()

    assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.SUCCEEDED}
    assert charges_per_result() == {1}
    assert ModelCall.objects.count() == 6
    assert_charged_as_billed(current_period(), anthropic_fake, openai_fake)
    assert_no_call_made_twice(anthropic_fake, openai_fake)


class StallsInTheFirstCall(OpenAIProvider):
    """The coder's first answer arrives after the pass's lease ran out and a second pass took
    the batch over (run here, while the first is stalled)."""

    def __init__(self):
        super().__init__()
        self.overtaken_by = None

    def complete(self, request):
        if self.overtaken_by is None:
            Batch.objects.update(lease_until=dt.datetime(2026, 11, 15, tzinfo=dt.UTC))  # it ran out
            self.overtaken_by = run_batches_pass()
        return super().complete(request)


@time_machine.travel(NOW, tick=False)
def test_a_pass_overtaken_while_stalled_makes_no_paid_call_another_pass_made(batch_mode):
    anthropic_fake, openai_fake = batch_mode
    StepConfig.objects.filter(step="codegen").update(batch=False)  # the coder is asked at once
    tasks(3)
    run_batches()  # the analysis batch goes out
    stalled = StallsInTheFirstCall()

    first = run_batches_pass(providers=Providers(analysis=AnthropicProvider(), codegen=stalled))

    assert stalled.overtaken_by.finished == 2  # the other two executions, by the second pass
    assert first.finished == 1 and "was taken over by another pass" in first.line()
    assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.SUCCEEDED}
    assert len(openai_fake.completions()) == 3
    assert charges_per_result() == {1}
    assert Batch.objects.get().status == Batch.Status.ENDED
    assert_charged_as_billed(current_period(), anthropic_fake, openai_fake)
    assert_no_call_made_twice(anthropic_fake, openai_fake)


@time_machine.travel(NOW, tick=False)
def test_results_billed_after_the_reaper_closed_their_executions_are_charged_in_the_month(batch_mode):
    anthropic_fake, openai_fake = batch_mode
    anthropic_fake.batch_polls_before_end = 100  # the vendor is slow ...
    tasks(3)
    Task.objects.update(max_attempts=1)
    run_batches()
    with time_machine.travel("2026-11-16 14:01Z", tick=False):  # ... past the window and margin
        recover_stalled()
        assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.ABANDONED}
        anthropic_fake.batch_polls_before_end = 0  # ... and then ends with every result

        line = run_batches()

    assert "finished 0 execution(s)" in line
    for execution in Execution.objects.all():
        assert execution.status == Execution.Status.ABANDONED  # nothing else changed
        assert execution.cost_nanos == ANALYSIS_BATCH_NANOS
    assert openai_fake.requests == []
    period = current_period()
    assert period.spent_nanos == 3 * ANALYSIS_BATCH_NANOS
    usage = ModelUsage.objects.get(period=period, model_name="claude-sonnet-4-5")
    assert (usage.calls, usage.cost_nanos) == (3, 3 * ANALYSIS_BATCH_NANOS)
    assert DailyUsage.objects.filter(period=period).aggregate(s=Sum("cost_nanos"))["s"] == period.spent_nanos
    assert Batch.objects.get().status == Batch.Status.ENDED
    run_batches()  # read again: nothing more
    assert_charged_as_billed(period, anthropic_fake, openai_fake)
    assert_no_call_made_twice(anthropic_fake, openai_fake)


@time_machine.travel(NOW, tick=False)
def test_a_batch_the_vendor_refuses_leaves_the_attempts_alone_and_is_said_once(batch_mode):
    anthropic_fake, _ = batch_mode
    StepConfig.objects.update(updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))  # configured before
    tasks(2)
    Task.objects.update(max_attempts=1)
    anthropic_fake.fail(400, message="requests: too many requests in batch")

    line = run_batches()

    assert "Anthropic refused analysis batch" in line
    row = Batch.objects.get()
    assert (row.status, row.refused) == (Batch.Status.FAILED, True)
    assert row.error == "Anthropic rejected the request (400): requests: too many requests in batch"
    for task in Task.objects.all():
        assert (task.status, task.attempts) == (Task.Status.PENDING, 0)
    for execution in Execution.objects.all():
        assert execution.status == Execution.Status.FAILED
        assert execution.error.endswith("the batch cost nothing, and the task keeps its attempts")
    [said] = Event.objects.filter(kind="error")
    assert (
        f"Anthropic refused analysis batch {row.pk} (2 request(s)) as a whole: {row.error}."
        in said.payload["message"]
    )
    assert not Event.objects.filter(kind="execution_failed").exists()
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (0, 0)

    # The same request would be refused again: no new batch until the configuration changes.
    assert "nothing submitted: Anthropic refused analysis batch" in run_batches()
    assert Batch.objects.count() == 1 and len(anthropic_fake.requests_to("/v1/messages/batches", "POST")) == 1
    with time_machine.travel("2026-11-15 12:05Z", tick=False):
        StepConfig.objects.get(step="analysis").save()  # a person changes the step in the admin
        assert run_batches().startswith("submitted analysis batch")
    assert set(Task.objects.values_list("status", "attempts")) == {(Task.Status.RUNNING, 1)}


@time_machine.travel(NOW, tick=False)
def test_a_refused_codegen_batch_uses_the_attempts_of_tasks_whose_analysis_was_charged(batch_mode):
    # Found in review: given back, each refusal would pay for the same analyses again, without end.
    anthropic_fake, openai_fake = batch_mode
    StepConfig.objects.update(updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))  # configured before
    tasks(2)
    run_batches()  # the analysis batch goes out
    openai_fake.fail(400, message="requests: too many requests in batch")

    line = run_batches()  # analysis charged, the codegen batch refused

    assert "OpenAI refused codegen batch" in line
    assert set(Task.objects.values_list("status", "attempts")) == {(Task.Status.PENDING, 1)}
    assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.FAILED}
    [said] = Event.objects.filter(kind="error")
    assert "2 task(s) whose analysis was charged use an attempt" in said.payload["message"]
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (2 * ANALYSIS_BATCH_NANOS, 0)
    assert_charged_as_billed(period, anthropic_fake, openai_fake)
