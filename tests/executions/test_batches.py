"""Batch mode: ``run_batches`` against the fake vendors' batch endpoints, driven by the real SDKs."""

import datetime as dt
import json
import threading
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from budget.models import LanguageModel, Price, Reservation
from budget.money import dollars_str
from budget.periods import current_period, set_limit
from executions.backlog.services import create_task
from executions.batches.passes import run_batches_pass
from executions.costs.recap import period_facts
from executions.jobs import recover_stalled
from executions.models import Batch, Execution, ModelCall, StepConfig, Task
from executions.pipeline.steps import CHANGE_SCHEMA
from executions.providers import Providers
from executions.providers.anthropic import AnthropicProvider, params_for
from executions.providers.openai import OpenAIProvider
from executions.providers.openai import params_for as openai_params_for
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent, tasks

pytestmark = pytest.mark.django_db

NOW = "2026-11-15 12:00Z"  # claude-sonnet-4-5 ($3 / $15) is still current
# The seed's usage per step (the fakes' defaults) at half of claude-sonnet-4-5's and gpt-4.1-mini's rates.
ANALYSIS_BATCH_NANOS = 2000 * 1500 + 1500 * 7500
CODEGEN_BATCH_NANOS = 2500 * 200 + 4000 * 800


def run_batches() -> str:
    out = StringIO()
    call_command("run_batches", stdout=out)
    return out.getvalue().strip()


@time_machine.travel(NOW, tick=False)
def test_both_steps_go_through_batches_that_end_after_several_polls(batch_mode):
    anthropic_fake, openai_fake = batch_mode
    anthropic_fake.batch_polls_before_end = 3
    openai_fake.batch_polls_before_end = 3
    first, second = tasks(2)

    assert run_batches().startswith("submitted analysis batch")
    executions = list(Execution.objects.order_by("pk"))
    assert [e.task_id for e in executions] == [first.pk, second.pk]
    lines = anthropic_fake.batch_requests()
    assert [line["custom_id"] for line in lines] == [str(e.pk) for e in executions]
    assert anthropic_fake.messages() == []  # nothing went through the synchronous API
    # The batch line's params are the synchronous call's (one shared function).
    assert lines[0]["params"]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert lines[0]["params"]["max_tokens"] == 2048 and lines[0]["params"]["model"] == "claude-sonnet-4-5"
    reservation = Reservation.objects.get(pk=executions[0].reservation_id)
    assert reservation.expires_at == dt.datetime(2026, 11, 16, 14, 0, tzinfo=dt.UTC)  # window + margin
    status = StringIO()
    call_command("budget", "status", stdout=status)
    assert "In batches  2 execution(s) waiting in vendor batches" in status.getvalue()

    assert "polled 1 batch(es); finished 0" in run_batches()  # in progress
    assert "polled 1 batch(es); finished 0" in run_batches()
    assert "submitted codegen batch" in run_batches()  # ended: analysis charged, codegen submitted
    [upload] = [f for f in openai_fake.files.values() if f["purpose"] == "batch"]
    openai_lines = openai_fake.batch_lines()
    assert [line["custom_id"] for line in openai_lines] == [str(e.pk) for e in executions]
    assert {(line["method"], line["url"]) for line in openai_lines} == {("POST", "/v1/chat/completions")}
    body = openai_lines[0]["body"]
    assert body["response_format"]["json_schema"]["schema"] == CHANGE_SCHEMA
    assert body["model"] == "gpt-4.1-mini" and body["max_completion_tokens"] == 8192
    [openai_batch] = openai_fake.batches.values()
    assert (openai_batch["endpoint"], openai_batch["completion_window"]) == ("/v1/chat/completions", "24h")
    assert openai_batch["metadata"]["orchestrator_batch"] == str(Batch.objects.get(step="codegen").pk)

    for _ in range(2):
        assert "finished 0" in run_batches()
    assert "finished 2 execution(s)" in run_batches()

    for execution in Execution.objects.order_by("pk"):
        assert execution.status == Execution.Status.SUCCEEDED, execution.error
        assert execution.batched and execution.branch
        calls = {c.step: c for c in execution.calls.all()}
        assert calls["analysis"].cost_nanos == ANALYSIS_BATCH_NANOS
        assert calls["analysis"].standard_cost_nanos == 2 * ANALYSIS_BATCH_NANOS
        assert calls["codegen"].cost_nanos == CODEGEN_BATCH_NANOS
        assert calls["codegen"].standard_cost_nanos == 2 * CODEGEN_BATCH_NANOS
        assert execution.cost_nanos == ANALYSIS_BATCH_NANOS + CODEGEN_BATCH_NANOS
    assert set(Task.objects.values_list("status", flat=True)) == {Task.Status.DONE}
    assert set(Batch.objects.values_list("status", "polls")) == {(Batch.Status.ENDED, 3)}
    assert Event.objects.filter(kind="execution_completed").count() == 2
    assert_ledger_consistent(current_period())
    assert "submitted nothing; polled 0" in run_batches()  # nothing left to do
    # The recap says what batch mode saved, from what was charged.
    facts = period_facts(current_period())
    assert facts["batch_executions"] == 2
    assert facts["batch_saved"] == dollars_str(2 * (ANALYSIS_BATCH_NANOS + CODEGEN_BATCH_NANOS))


@time_machine.travel(NOW, tick=False)
def test_budget_costs_shows_the_batch_price_and_executions_per_month_each_way():
    out = StringIO()
    call_command("budget", "costs", "--json", "--codegen-model", "claude-haiku-4-5", stdout=out)
    table = json.loads(out.getvalue())
    analysis, codegen = table["steps"]
    assert Decimal(analysis["batch_cost"]) * 2 == Decimal(analysis["cost"])
    assert Decimal(codegen["batch_cost"]) * 2 == Decimal(codegen["cost"])
    assert table["batch_real"]["executions_per_month"] >= 2 * table["real"]["executions_per_month"]

    out = StringIO()
    call_command("budget", "costs", "--json", stdout=out)  # the seed's coder, gpt-4o-mini
    table = json.loads(out.getvalue())
    codegen = table["steps"][1]
    assert codegen["batch_refused"] is None  # cache hits come in steps of 128: 128 x 37.5 is whole
    assert Decimal(codegen["batch_cost"]) * 2 == Decimal(codegen["cost"])
    assert table["batch_real"]["executions_per_month"] >= 2 * table["real"]["executions_per_month"]


@time_machine.travel(NOW, tick=False)
def test_mixed_results_fail_only_their_own_executions_with_the_vendors_reason(batch_mode):
    anthropic_fake, openai_fake = batch_mode
    ok, errored, expired, bad_line = tasks(4)
    run_batches()
    pk = {t.pk: str(Execution.objects.get(task=t).pk) for t in (ok, errored, expired, bad_line)}
    anthropic_fake.batch_outcomes = {pk[errored.pk]: "errored", pk[expired.pk]: "expired"}
    openai_fake.batch_line_errors = {pk[bad_line.pk]: (400, "Invalid schema for response_format")}

    run_batches()  # analysis results; a codegen batch for the two that succeeded
    run_batches()  # codegen results

    by_task = {e.task_id: e for e in Execution.objects.order_by("-pk")}  # each task's first
    assert by_task[ok.pk].status == Execution.Status.SUCCEEDED
    assert "Anthropic batch item errored (invalid_request_error): max_tokens" in by_task[errored.pk].error
    assert by_task[expired.pk].error.startswith("Anthropic batch item expired; the task will be retried")
    assert "OpenAI batch line failed (invalid_request_error): Invalid schema" in by_task[bad_line.pk].error
    for task in (errored, expired, bad_line):
        assert by_task[task.pk].reservation.status == Reservation.Status.RELEASED
        task.refresh_from_db()  # pending again, so the pass that failed it submitted it again
        assert (task.status, task.attempts, task.executions.count()) == (Task.Status.RUNNING, 2, 2)
    assert by_task[errored.pk].cost_nanos == 0 and by_task[expired.pk].cost_nanos == 0
    assert by_task[bad_line.pk].cost_nanos == ANALYSIS_BATCH_NANOS  # the analysis stays charged
    period = current_period()
    assert period.spent_nanos == ModelCall.objects.aggregate(s=Sum("cost_nanos"))["s"]
    held = Reservation.objects.filter(status="open").aggregate(s=Sum("held_nanos"))["s"]
    assert period.reserved_nanos == held  # the retries' reservations, nothing else


@time_machine.travel(NOW, tick=False)
def test_a_whole_expired_batch_releases_all_its_money(batch_mode):
    anthropic_fake, _ = batch_mode
    anthropic_fake.expire_batches = True
    tasks(3)
    Task.objects.update(max_attempts=1)  # so that no retry holds money again
    run_batches()
    assert current_period().reserved_nanos > 0

    assert "finished 3 execution(s)" in run_batches()

    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (0, 0)
    assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.FAILED}
    assert set(Task.objects.values_list("status", flat=True)) == {Task.Status.FAILED}
    assert Batch.objects.get().vendor_status == "ended"


class Crash(BaseException):
    """The process dies (not an error any code handles)."""


class DiesAfterSubmitting(AnthropicProvider):
    def submit_batch(self, requests, *, marker):
        super().submit_batch(requests, marker=marker)
        raise Crash


class DiesBeforeSubmitting(AnthropicProvider):
    def submit_batch(self, requests, *, marker):
        raise Crash


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("provider", [DiesAfterSubmitting, DiesBeforeSubmitting])
def test_a_crash_around_the_submit_is_reconciled_by_the_next_pass(batch_mode, provider):
    anthropic_fake, _ = batch_mode
    tasks(2)
    with pytest.raises(Crash):
        run_batches_pass(providers=Providers(analysis=provider(), codegen=OpenAIProvider()))
    row = Batch.objects.get()
    assert (row.status, row.vendor_batch_id) == (Batch.Status.SUBMITTING, "")
    # Its lease holds (the dead pass might still be at work): nothing is reconciled or submitted.
    assert "submitted nothing; polled 0" in run_batches()

    with time_machine.travel("2026-11-15 12:45Z", tick=False):  # the lease ran out
        line = run_batches()

    row.refresh_from_db()
    if provider is DiesAfterSubmitting:
        assert f"found at the vendor as {row.vendor_batch_id}" in line
        assert len(anthropic_fake.batches) == 1
        assert ModelCall.objects.filter(step="analysis").count() == 2  # charged once each
        assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.GENERATING}
    else:
        assert row.status == Batch.Status.FAILED
        first_two = Execution.objects.order_by("pk")[:2]
        assert all("The batch never reached Anthropic" in e.error for e in first_two)
        assert all(e.reservation.status == Reservation.Status.RELEASED for e in first_two)
        # Their tasks were pending again, so the same pass submitted them anew: one batch in all.
        retried = Execution.objects.filter(status=Execution.Status.ANALYSING).order_by("pk")
        assert [r["custom_id"] for r in anthropic_fake.batch_requests()] == [str(e.pk) for e in retried]
    assert current_period().spent_nanos == (ModelCall.objects.aggregate(s=Sum("cost_nanos"))["s"] or 0)


@time_machine.travel(NOW, tick=False)
def test_an_execution_waiting_in_a_batch_is_not_reaped_before_the_window_ends(batch_mode):
    anthropic_fake, _ = batch_mode
    anthropic_fake.batch_polls_before_end = 100
    tasks(1)
    run_batches()
    with time_machine.travel("2026-11-16 10:00Z", tick=False):  # 22 h: long past the 30-minute timeout
        recover_stalled()
        assert Execution.objects.get().status == Execution.Status.ANALYSING
        assert current_period().reserved_nanos > 0
    with time_machine.travel("2026-11-16 14:01Z", tick=False):  # window and margin over
        recover_stalled()
        assert Execution.objects.get().status == Execution.Status.ABANDONED
        assert current_period().reserved_nanos == 0


@time_machine.travel(NOW, tick=False)
def test_a_limit_held_by_executions_in_flight_is_busy_not_exhausted_and_never_overspent(batch_mode):
    anthropic_fake, _ = batch_mode
    anthropic_fake.batch_polls_before_end = 3
    tasks(3)
    run_batches_pass()
    worst = Execution.objects.first().reserved_nanos
    period = current_period()
    set_limit(
        period, dollars_str(period.spent_nanos + period.reserved_nanos + worst // 2)
    )  # no room for a 4th beside what the three hold; plenty beside what they spend
    create_task(title="One more", description="")

    line = run_batches()  # busy: the 4th waits, and nothing is recorded or announced
    assert "running work holds the rest of the budget" in line
    assert Task.objects.get(title="One more").status == Task.Status.PENDING
    for _ in range(4):  # the three finish, giving back what they held as they go: the 4th starts
        run_batches()

    assert Execution.objects.filter(status=Execution.Status.SUCCEEDED).count() == 3
    assert Task.objects.get(title="One more").status == Task.Status.RUNNING
    assert not Event.objects.filter(kind="budget_exhausted").exists()
    period = current_period()
    assert period.exhausted_at is None
    assert period.spent_nanos + period.reserved_nanos <= period.limit_nanos
    assert period.spent_nanos == ModelCall.objects.aggregate(s=Sum("cost_nanos"))["s"]


@time_machine.travel(NOW, tick=False)
def test_the_seeds_gpt_4o_mini_codegen_runs_in_batch_mode_and_is_charged_exactly(live, settings):
    anthropic_fake, openai_fake = live
    settings.PACING_ENABLED = False
    StepConfig.objects.update(batch=True)  # codegen on the seed's gpt-4o-mini: cached input 75 → 37.5
    # 9 x 128 tokens from OpenAI's cache (hits come in steps of 128), the rest plain input.
    openai_fake.usage = {
        "prompt_tokens": 2500, "completion_tokens": 4000, "total_tokens": 6500,
        "prompt_tokens_details": {"cached_tokens": 1152},
    }  # fmt: skip
    tasks(2)

    run_batches()  # analysis batch
    run_batches()  # analysis charged, codegen batch submitted
    assert {line["body"]["model"] for line in openai_fake.batch_lines()} == {"gpt-4o-mini"}
    assert "finished 2 execution(s)" in run_batches()

    for execution in Execution.objects.all():
        assert execution.status == Execution.Status.SUCCEEDED, execution.error
        call = execution.calls.get(step="codegen")
        assert call.cache_read_tokens == 1152 and call.batch_id is not None
        assert call.cost_nanos == 1348 * 75 + 1152 * 75 // 2 + 4000 * 300 == 1_344_300  # to the nanodollar
        assert call.standard_cost_nanos == 2 * call.cost_nanos
    assert_ledger_consistent(current_period())


@time_machine.travel(NOW, tick=False)
def test_a_model_whose_batch_price_is_not_exact_is_refused_before_any_request(live, settings):
    anthropic_fake, openai_fake = live
    StepConfig.objects.update(batch=True)
    # A vendor billing cache hits token by token: gpt-4o-mini's 37.5 nanodollars per cached token.
    Price.objects.filter(model__name="gpt-4o-mini").update(cache_read_increment_tokens=1)
    tasks(1)

    line = run_batches()

    assert "gpt-4o-mini's cache read rate (75 nanodollars per token) less its 50% batch discount" in line
    assert anthropic_fake.messages() == [] and openai_fake.requests == []
    assert Batch.objects.count() == 0 and Execution.objects.count() == 0
    assert current_period().reserved_nanos == 0


def test_the_requests_params_are_shared_with_the_synchronous_calls():
    from executions.providers.base import CompletionRequest

    request = CompletionRequest(model="m", system="s", user="u", max_tokens=5, schema={"type": "object"})
    assert params_for(request)["messages"] == [{"role": "user", "content": "u"}]
    assert openai_params_for(request)["response_format"]["json_schema"]["strict"] is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_submit_one_batch(batch_mode):
    anthropic_fake, _ = batch_mode
    tasks(4)
    barrier = threading.Barrier(2)
    outcomes = []

    def one_pass():
        try:
            barrier.wait()
            outcomes.append(run_batches_pass().line())
        finally:
            connection.close()

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 2
    assert len(anthropic_fake.batches) == 1
    row = Batch.objects.get()
    assert (row.status, row.request_count) == (Batch.Status.IN_PROGRESS, 4)
    assert Execution.objects.filter(batch=row).count() == 4
    assert sorted(anthropic_fake.batch_requests(), key=lambda r: int(r["custom_id"]))[0]["custom_id"]


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("codegen_batch", [False, True])
def test_simulated_mode_runs_batches_instantly_and_deterministically(settings, tmp_path, codegen_batch):
    settings.SIMULATED_BATCH_DIR = str(tmp_path / "batches")
    settings.PACING_ENABLED = False
    StepConfig.objects.filter(step="analysis").update(batch=True)
    if codegen_batch:  # on a coder whose batch rates are whole nanodollars
        model = LanguageModel.objects.create(name="gpt-4.1-mini", provider="openai")
        Price.objects.create(
            model=model, effective_from=dt.date(2025, 1, 1), input_nanos=400, output_nanos=1600
        )
        StepConfig.objects.filter(step="codegen").update(model_name="gpt-4.1-mini", batch=True)
    tasks(2)

    assert run_batches().startswith("submitted analysis batch")
    line = run_batches()
    if codegen_batch:
        assert "submitted codegen batch" in line
        line = run_batches()
    assert "finished 2 execution(s)" in line

    for execution in Execution.objects.all():
        assert execution.status == Execution.Status.SUCCEEDED, execution.error
        assert execution.simulated and execution.batched
        calls = {c.step: c for c in execution.calls.all()}
        assert calls["analysis"].batch.simulated and calls["analysis"].cost_nanos == ANALYSIS_BATCH_NANOS
        assert (calls["codegen"].batch is not None) is codegen_batch
    assert_ledger_consistent(current_period())


@time_machine.travel(NOW, tick=False)
def test_a_refused_submit_fails_its_executions_at_once_and_loses_nothing(batch_mode):
    anthropic_fake, _ = batch_mode
    tasks(2)
    Task.objects.update(max_attempts=1)
    anthropic_fake.fail(400, message="requests: too many requests in batch")

    line = run_batches()

    assert "finished 2 execution(s)" in line
    assert Batch.objects.get().status == Batch.Status.FAILED
    for execution in Execution.objects.all():
        assert "Anthropic rejected the request (400): requests: too many requests in batch" in execution.error
    period = current_period()
    assert (period.spent_nanos, period.reserved_nanos) == (0, 0)


@time_machine.travel(NOW, tick=False)
def test_a_server_error_on_submit_leaves_the_batch_to_be_reconciled(batch_mode):
    anthropic_fake, _ = batch_mode
    tasks(1)
    Task.objects.update(max_attempts=1)
    anthropic_fake.fail(500)  # no retry: a retry after a lost answer could submit a second batch

    assert "not confirmed" in run_batches()
    assert len(anthropic_fake.requests_to("/v1/messages/batches", "POST")) == 1
    assert Batch.objects.get().status == Batch.Status.SUBMITTING

    line = run_batches()  # the vendor has no such batch: the execution fails, its money is released

    assert "finished 1 execution(s)" in line
    assert "The batch never reached Anthropic" in Execution.objects.get().error
    assert current_period().reserved_nanos == 0


@time_machine.travel(NOW, tick=False)
def test_an_empty_plan_from_a_batch_fails_its_execution_and_stays_charged(batch_mode):
    anthropic_fake, openai_fake = batch_mode
    anthropic_fake.tool_input = {"plan": "   ", "files": []}  # submit_plan with an empty plan
    tasks(1)
    Task.objects.update(max_attempts=1)

    run_batches()
    run_batches()

    execution = Execution.objects.get()
    assert execution.status == Execution.Status.FAILED and "empty plan" in execution.error
    assert execution.cost_nanos == ANALYSIS_BATCH_NANOS
    assert openai_fake.requests == []
    assert_ledger_consistent(current_period())


@time_machine.travel(NOW, tick=False)
def test_a_batch_that_fails_validation_fails_its_executions_with_the_vendors_reason(batch_mode):
    _, openai_fake = batch_mode
    openai_fake.batch_validation_error = "Model gpt-4.1-mini is not available for the Batch API"
    tasks(1)
    Task.objects.update(max_attempts=1)

    run_batches()  # analysis submitted
    run_batches()  # analysis charged, codegen submitted
    run_batches()  # codegen batch failed validation

    execution = Execution.objects.get()
    assert execution.status == Execution.Status.FAILED
    assert (
        "OpenAI returned no result for it (batch failed: Model gpt-4.1-mini is not available"
        in execution.error
    )
    assert execution.cost_nanos == ANALYSIS_BATCH_NANOS
    assert_ledger_consistent(current_period())
