"""The live pipeline: the real anthropic and openai SDKs against fakes on 127.0.0.1."""

import datetime as dt
import json
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from budget.ledger import BudgetExhausted
from budget.models import LanguageModel
from budget.periods import current_period, set_limit
from budget.pricing import UnpricedModel
from executions.analysis.analyst import PLAN_TOOL, SHOW_TOOL
from executions.backlog.services import create_task
from executions.errors import ConfigurationError
from executions.models import Execution, ModelCall, StepConfig, Task
from executions.pipeline.runner import run_execution
from executions.pipeline.steps import CHANGE_SCHEMA, CODEGEN_INSTRUCTIONS
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent
from tests.fakes.anthropic import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic import PLAN, user_text
from tests.fakes.openai import API_KEY as OPENAI_KEY
from tests.fakes.openai import change

# The seeded models and their prices are the ones in service on the pinned day.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]


def new_task(title="Add a health check endpoint"):
    return create_task(title=title, description="Load balancers need a cheap probe.")


def git_files(settings, ref):
    out = subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, "ls-tree", "-r", "--name-only", ref],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_requests_carry_the_configured_models_max_tokens_cache_marker_and_schema(live, settings):
    anthropic_fake, openai_fake = live
    task = new_task()

    execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    [message] = anthropic_fake.messages()
    assert message["model"] == "claude-sonnet-4-5"
    assert message["max_tokens"] == 2048
    assert "temperature" not in message  # the anthropic SDK sends no sampling parameters
    [system] = message["system"]
    assert system["cache_control"] == {"type": "ephemeral"}
    assert 'Repository: "sandbox-repo"' in system["text"] and '\n"README.md"' in system["text"]
    [user] = message["messages"]
    assert user["role"] == "user"
    # The first request's whole prefix is cached: a look-up round reads it at the cache price.
    assert user["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert user_text(message).startswith(
        "The task, as written in the backlog (JSON):\n"
        '{\n "title": "Add a health check endpoint",\n "description": "Load balancers need a cheap probe."\n}'
        "\n\nRepository map"
    )
    assert '<file path="README.md">\n# Sandbox repository' in user_text(message)  # the best-ranked file
    assert message["tools"] == [PLAN_TOOL, SHOW_TOOL]
    assert message["tool_choice"] == {"type": "any"}
    [completion] = openai_fake.completions()
    assert completion["model"] == "gpt-4o-mini"
    assert completion["max_completion_tokens"] == 8192
    assert completion["temperature"] == 0.0  # GPT-4o mini accepts sampling parameters
    assert "reasoning_effort" not in completion  # and does not reason
    assert completion["response_format"]["type"] == "json_schema"
    assert completion["response_format"]["json_schema"]["strict"] is True
    assert completion["response_format"]["json_schema"]["schema"] == CHANGE_SCHEMA
    assert f"Implementation plan:\n{PLAN.strip()}\n\n" in completion["messages"][1]["content"]
    assert '<file path="README.md">\n# Sandbox repository' in completion["messages"][1]["content"]
    assert completion["messages"][0]["content"].startswith(CODEGEN_INSTRUCTIONS)
    assert execution.plan == PLAN.strip()
    assert execution.plan_files == ["README.md"] and execution.plan_notes == ""
    assert not execution.simulated
    assert execution.publisher == "local-git"
    assert {"app/health.py", "app/urls.py", "README.md"} <= set(git_files(settings, execution.branch))
    calls = list(execution.calls.order_by("pk"))
    assert [(c.step, c.request_id) for c in calls] == [
        ("analysis", "req_fake0001"),
        ("codegen", "req_oai0001"),
    ]
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.DONE, 1)
    assert_ledger_consistent(execution.period)


@pytest.mark.parametrize("cached", [False, True], ids=["plain", "with-cache-tokens"])
def test_the_charge_is_the_reported_usage_times_the_price_to_the_nanodollar(live, cached):
    anthropic_fake, openai_fake = live
    if cached:
        anthropic_fake.usage = {
            "input_tokens": 1200,
            "output_tokens": 900,
            "cache_creation_input_tokens": 2000,
            "cache_read_input_tokens": 3000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
        }
        openai_fake.usage = {
            "prompt_tokens": 5000,
            "completion_tokens": 3000,
            "total_tokens": 8000,
            "prompt_tokens_details": {"cached_tokens": 4096},
        }
        # Sonnet 4.5: $3 in, $15 out, $3.75 / $6 cache writes, $0.30 reads; GPT-4o mini: $0.15, $0.60, $0.075.
        expected = {
            "analysis": 1200 * 3000 + 900 * 15000 + 1500 * 3750 + 500 * 6000 + 3000 * 300,
            "codegen": 904 * 150 + 3000 * 600 + 4096 * 75,
        }
    else:
        expected = {"analysis": 2000 * 3000 + 1500 * 15000, "codegen": 2500 * 150 + 4000 * 600}

    execution = run_execution(new_task())

    costs = {c.step: c.cost_nanos for c in execution.calls.all()}
    assert costs == expected
    assert execution.cost_nanos == sum(expected.values())
    if cached:
        analysis = execution.calls.get(step="analysis")
        assert (
            analysis.cache_write_5m_tokens,
            analysis.cache_write_1h_tokens,
            analysis.cache_read_tokens,
        ) == (
            1500,
            500,
            3000,
        )
        codegen = execution.calls.get(step="codegen")
        assert (codegen.input_tokens, codegen.cache_read_tokens) == (904, 4096)
    assert_ledger_consistent(execution.period)


def test_a_429_then_200_is_retried_by_the_sdk_and_charged_once(live):
    anthropic_fake, _ = live
    anthropic_fake.fail(429, message="Rate limited")

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED
    assert len(anthropic_fake.messages()) == 2
    assert execution.calls.filter(step="analysis").count() == 1
    assert execution.cost_nanos == 2000 * 3000 + 1500 * 15000 + 2500 * 150 + 4000 * 600
    assert_ledger_consistent(execution.period)


def test_anthropic_overloaded_after_retries_fails_the_execution_and_charges_nothing(live):
    anthropic_fake, openai_fake = live
    anthropic_fake.fail(529, times=4)
    task = new_task()

    execution = run_execution(task)

    assert execution.status == Execution.Status.FAILED
    assert execution.error == "Anthropic is overloaded (529) after 3 retries; the task will be retried"
    assert len(anthropic_fake.messages()) == 4 and openai_fake.requests == []
    assert not ModelCall.objects.exists()
    execution.reservation.refresh_from_db()
    assert execution.reservation.status == "released"
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 1)
    assert Event.objects.filter(kind="execution_failed", payload__execution__id=execution.pk).exists()
    assert_ledger_consistent(execution.period)


def test_an_openai_500_after_retries_keeps_the_analysis_charged(live):
    _, openai_fake = live
    openai_fake.fail(500, times=4)

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.FAILED
    assert execution.error == "OpenAI server error (500) after 3 retries; the task will be retried"
    assert list(execution.calls.values_list("step", flat=True)) == ["analysis"]
    assert execution.cost_nanos == 2000 * 3000 + 1500 * 15000
    assert_ledger_consistent(execution.period)


def test_malformed_json_fails_the_execution_and_the_call_stays_charged(live, settings):
    _, openai_fake = live
    openai_fake.content = '{"summary": "half an answer", "files": [{"path": "a.py", "cont'

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.FAILED
    assert execution.error.startswith("The generated change is not valid JSON")
    assert "the coder was asked 3 times and no answer applied" in execution.error
    assert execution.calls.count() == 4 and execution.cost_nanos > 0  # the analysis, three coder tries
    assert execution.branch == ""
    assert_ledger_consistent(execution.period)


def test_an_answer_cut_at_max_tokens_says_so(live):
    _, openai_fake = live
    openai_fake.content, openai_fake.finish_reason = '{"summary": "a', "length"

    execution = run_execution(new_task())

    assert "stopped at max_tokens (8192)" in execution.error
    assert "raise max_tokens of the codegen step" in execution.error


def test_an_unsafe_path_fails_the_execution_and_publishes_nothing(live, settings):
    _, openai_fake = live
    openai_fake.content = change({"path": "../outside.txt", "action": "create", "content": "hi"})

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.FAILED
    assert 'unsafe path "../outside.txt"' in execution.error
    branches = subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, "branch", "--list", "ai/*"], capture_output=True, text=True
    ).stdout
    assert branches == ""
    assert_ledger_consistent(execution.period)


def test_the_last_attempt_fails_the_task(live):
    anthropic_fake, _ = live
    task = new_task()
    task.max_attempts = 1
    task.save()
    anthropic_fake.fail(529, times=4)

    execution = run_execution(task)

    assert execution.error.endswith("no attempts left (1 of 1), the task has failed")
    task.refresh_from_db()
    assert task.status == Task.Status.FAILED


def test_a_missing_api_key_is_one_clear_line_before_anything_happens(live, settings):
    anthropic_fake, openai_fake = live
    settings.OPENAI_API_KEY = ""
    task = new_task()

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY is not set"):
        run_execution(task)
    with pytest.raises(CommandError, match="OPENAI_API_KEY is not set") as raised:
        call_command("run_execution", "--task", str(task.pk))

    assert raised.value.returncode == 2
    assert anthropic_fake.requests == [] and openai_fake.requests == []
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 0)
    assert current_period().reserved_nanos == 0


def test_a_rejected_key_never_appears_in_the_error(live, settings):
    settings.OPENAI_API_KEY = "sk-proj-wrong-secret-key-987654321"

    execution = run_execution(new_task())

    assert (
        execution.error == "OpenAI rejected the API key (401): check OPENAI_API_KEY; the task will be retried"
    )
    assert "sk-proj" not in json.dumps(list(Event.objects.values_list("payload", flat=True)))
    assert ANTHROPIC_KEY not in execution.error and OPENAI_KEY not in execution.error


def test_a_vendor_message_quoting_the_key_is_masked(live):
    _, openai_fake = live
    openai_fake.fail(400, message=f"Incorrect API key provided: {OPENAI_KEY}.")

    execution = run_execution(new_task())

    assert "Incorrect API key provided: [redacted]" in execution.error
    assert OPENAI_KEY not in execution.error


def test_a_retired_model_is_replaced_by_its_successor_said_once(live):
    anthropic_fake, _ = live
    december = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)

    first = run_execution(new_task("First task"), now=december)
    second = run_execution(new_task("Second task"), now=december)

    assert [m["model"] for m in anthropic_fake.messages()] == ["claude-sonnet-5-5"] * 2
    call = first.calls.get(step="analysis")
    assert (call.requested_model, call.model) == ("claude-sonnet-4-5", "claude-sonnet-5-5")
    assert call.cost_nanos == 2000 * 2000 + 1500 * 10000  # at Sonnet 5.5's price
    assert second.status == Execution.Status.SUCCEEDED
    assert Event.objects.filter(kind="model_switched").count() == 1


def test_a_model_without_a_price_is_refused_before_any_request(live):
    anthropic_fake, openai_fake = live
    LanguageModel.objects.create(name="claude-unpriced-1", provider="anthropic")
    StepConfig.objects.filter(step="analysis").update(model_name="claude-unpriced-1")
    task = new_task()

    with pytest.raises(UnpricedModel, match="claude-unpriced-1"):
        run_execution(task)

    assert anthropic_fake.requests == [] and openai_fake.requests == []
    assert not Execution.objects.exists()
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 0)


def test_an_exhausted_budget_refuses_to_start_and_says_so_once(live):
    anthropic_fake, _ = live
    set_limit(current_period(), "0.01")
    task = new_task()

    for _ in range(2):
        with pytest.raises(BudgetExhausted, match="Budget exhausted"):
            run_execution(task)

    # Only the free token counts were asked for (the full form and its smaller forms), nothing billable.
    assert anthropic_fake.messages() == []
    assert {r.path for r in anthropic_fake.requests} == {"/v1/messages/count_tokens"}
    assert Event.objects.filter(kind="budget_exhausted").count() == 1
    assert current_period().exhausted_at is not None
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 0)
