"""Batch mode with two real processes on PostgreSQL (issue 24, items 1–3): a ``run_batches`` pass
in a process of its own, killed, stalled or raced here, against the fake vendors; then the month's
spent is what the vendors billed and what was charged, nothing stays reserved, and no request was
made twice."""

import datetime as dt
import os
import subprocess
from contextlib import contextmanager

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from budget.models import ModelUsage
from budget.periods import current_period
from executions.batches.passes import run_batches_pass
from executions.jobs import recover_stalled
from executions.models import Batch, Execution, ModelCall, StepConfig, Task
from tests.clock import manage_py
from tests.executions.conftest import (
    assert_charged_as_billed,
    assert_no_call_made_twice,
    charges_per_result,
    tasks,
)
from tests.executions.test_two_processes import test_database_url
from tests.fakes import anthropic, openai
from tests.locks import wait_for_a_lock_waiter

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)  # claude-sonnet-4-5 is current
ANALYSIS_BATCH_NANOS = 2000 * 1500 + 1500 * 7500


def start_pass(settings, anthropic_fake, openai_fake) -> subprocess.Popen:
    """``manage.py run_batches`` in a process of its own, live, against the fakes."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "ORCHESTRATOR_MODE": "live",
        "ANTHROPIC_API_KEY": anthropic.API_KEY,
        "ANTHROPIC_BASE_URL": anthropic_fake.url,
        "OPENAI_API_KEY": openai.API_KEY,
        "OPENAI_BASE_URL": f"{openai_fake.url}/v1",
        "LOCAL_REPO_PATH": settings.LOCAL_REPO_PATH,
        "CONTEXT_CACHE_DIR": settings.CONTEXT_CACHE_DIR,
        "PACING_ENABLED": "0",
        "NOTIFY_ASYNC": "0",
    }
    return subprocess.Popen(
        manage_py("run_batches"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


def state_change_blocked(old: str, new: str):
    """An execution's change from ``old`` to ``new`` waits (``update_blocked``)."""
    return update_blocked(f"OLD.status = '{old}' AND NEW.status = '{new}'")


@contextmanager
def update_blocked(when: str):
    """An update of an execution ``when`` (a trigger's condition) waits (on a lock this test
    holds) until the block ends; whatever session still waits then is terminated, as if its
    process had died."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION wait_for_the_test() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock(2424); RETURN NEW; END $$;
            CREATE TRIGGER wait_for_the_test BEFORE UPDATE ON executions_execution FOR EACH ROW
            WHEN ({when}) EXECUTE FUNCTION wait_for_the_test();
            SELECT pg_advisory_lock(2424);
            """
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid();
                SELECT pg_advisory_unlock(2424);
                DROP TRIGGER wait_for_the_test ON executions_execution;
                DROP FUNCTION wait_for_the_test();
                """
            )


def test_a_pass_killed_between_a_charge_and_its_state_change(batch_mode, settings):
    anthropic_fake, openai_fake = batch_mode
    with time_machine.travel(NOW, tick=True):
        tasks(3)
        run_batches_pass()  # the analysis batch goes out
        with state_change_blocked("analysing", "generating"):
            first = start_pass(settings, anthropic_fake, openai_fake)
            wait_for_a_lock_waiter(timeout=30)  # it charged the first result, and waits to move it on
            first.kill()
            first.wait()
        [charged] = ModelCall.objects.all()
        assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.ANALYSING}
        Batch.objects.update(lease_until=timezone.now())  # the dead pass's lease ran out

        assert "submitted codegen batch" in run_batches_pass().line()  # here, the next pass
        assert "finished 3 execution(s)" in run_batches_pass().line()

    assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.SUCCEEDED}
    assert charges_per_result() == {1}
    assert ModelCall.objects.get(execution=charged.execution, step="analysis") == charged
    assert_charged_as_billed(current_period(now=NOW), anthropic_fake, openai_fake)
    assert_no_call_made_twice(anthropic_fake, openai_fake)


def test_a_pass_killed_while_recording_a_look_up_leaves_the_round_to_the_next_pass(batch_mode, settings):
    """Batch mode's look-up (issue 36): the show call charged, the process dies before the round
    is recorded; the next pass records it once and sends the follow-up analysis batch."""
    anthropic_fake, openai_fake = batch_mode
    anthropic_fake.tool_calls = [("show", {"items": ["README.md"]})] * 3  # one per task
    with time_machine.travel(NOW, tick=True):
        tasks(3)
        run_batches_pass()  # the analysis batch goes out
        with update_blocked("OLD.lookups IS DISTINCT FROM NEW.lookups"):
            first = start_pass(settings, anthropic_fake, openai_fake)
            wait_for_a_lock_waiter(timeout=30)  # it charged the first show, and waits to record it
            first.kill()
            first.wait()
        [charged] = ModelCall.objects.all()
        assert not any(Execution.objects.values_list("lookups", flat=True))  # none recorded
        Batch.objects.update(lease_until=timezone.now())  # the dead pass's lease ran out

        assert "submitted analysis batch" in run_batches_pass().line()  # here, the next pass
        assert "submitted codegen batch" in run_batches_pass().line()
        assert "finished 3 execution(s)" in run_batches_pass().line()

    for execution in Execution.objects.all():
        assert execution.status == Execution.Status.SUCCEEDED, execution.error
        assert [r["asked"] for r in execution.lookups] == [["README.md"]]
        assert execution.calls.filter(step="analysis").count() == 2
    assert ModelCall.objects.filter(result_key=charged.result_key).get() == charged
    assert charges_per_result() == {1, 2}  # each execution: its show and plan, its change
    keys = list(ModelCall.objects.values_list("result_key", flat=True))
    assert len(keys) == len(set(keys)) == 9
    assert_charged_as_billed(current_period(now=NOW), anthropic_fake, openai_fake)


def test_a_pass_stalled_past_its_lease_is_overtaken_without_a_second_paid_call(batch_mode, settings):
    anthropic_fake, openai_fake = batch_mode
    StepConfig.objects.filter(step="codegen").update(batch=False)  # the coder is asked at once
    with time_machine.travel(NOW, tick=True):
        tasks(4)
        run_batches_pass()  # the analysis batch goes out
        stall = openai_fake.hold_next("/chat/completions")
        first = start_pass(settings, anthropic_fake, openai_fake)
        stall.wait()  # it charged the first analysis and waits for the coder's answer ...
        Batch.objects.update(lease_until=timezone.now())  # ... past its lease

        second = run_batches_pass()  # here: takes the batch over
        stall.release()
        line = finished(first)

    assert second.finished == 3
    assert "finished 1 execution(s)" in line and "was taken over by another pass" in line
    assert set(Execution.objects.values_list("status", flat=True)) == {Execution.Status.SUCCEEDED}
    assert len(openai_fake.completions()) == 4
    assert charges_per_result() == {1}
    assert_charged_as_billed(current_period(now=NOW), anthropic_fake, openai_fake)
    assert_no_call_made_twice(anthropic_fake, openai_fake)


def test_the_reaper_racing_a_late_batch_leaves_every_billed_result_charged(batch_mode, settings):
    anthropic_fake, openai_fake = batch_mode
    with time_machine.travel(NOW, tick=True):
        tasks(3)
        Task.objects.update(max_attempts=1)
        run_batches_pass()  # the analysis batch goes out
    # Back after a day and more without a worker: a pass reads the batch's results while the
    # reaper, here, closes the executions that waited for them.
    with time_machine.travel(NOW + dt.timedelta(hours=27), tick=True):
        reading = anthropic_fake.hold_next("/results")
        first = start_pass(settings, anthropic_fake, openai_fake)
        reading.wait()
        assert recover_stalled().startswith("abandoned executions: 3")
        reading.release()
        line = finished(first)

    assert "finished 0 execution(s)" in line
    for execution in Execution.objects.all():
        assert execution.status == Execution.Status.ABANDONED
        assert execution.cost_nanos == ANALYSIS_BATCH_NANOS
    assert openai_fake.requests == []
    period = current_period(now=NOW)
    usage = ModelUsage.objects.get(period=period, model_name="claude-sonnet-4-5")
    assert (usage.calls, usage.cost_nanos) == (3, 3 * ANALYSIS_BATCH_NANOS)
    assert Batch.objects.get().status == Batch.Status.ENDED
    assert_charged_as_billed(period, anthropic_fake, openai_fake)
    assert_no_call_made_twice(anthropic_fake, openai_fake)
