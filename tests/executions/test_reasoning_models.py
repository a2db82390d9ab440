"""gpt-6-luna, a reasoning model, through the real openai SDK against the fake: what is sent for
each reasoning effort, its reasoning tokens recorded and charged once (as output), and a request
that could reach the long-context rate refused before it is sent."""

import datetime as dt
import re

import pytest
import time_machine

from budget.models import Period
from budget.pricing import InputTooLong
from executions.backlog.services import create_task
from executions.models import Execution, ModelCall, StepConfig, Task
from executions.pipeline.runner import run_execution
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent

# gpt-4o-mini shuts down on 2027-01-14; from then on the codegen step runs gpt-6-luna.
SHUTDOWN_DAY = dt.datetime(2027, 1, 14, 12, 0, tzinfo=dt.UTC)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_the_shutdown_day")]


@pytest.fixture
def on_the_shutdown_day():
    with time_machine.travel(SHUTDOWN_DAY, tick=True):
        yield


def new_task(title="Add a health check endpoint", description="Load balancers need a cheap probe."):
    return create_task(title=title, description=description)


def set_effort(effort: str) -> None:
    StepConfig.objects.filter(step="codegen").update(reasoning_effort=effort)


def test_the_successor_reasons_at_low_effort_without_temperature_and_its_reasoning_is_charged_once(
    live, admin_client
):
    _, openai_fake = live
    openai_fake.usage = {
        "prompt_tokens": 3000,
        "completion_tokens": 4000,  # 1,500 of them reasoning: already inside the 4,000
        "total_tokens": 7000,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "completion_tokens_details": {"reasoning_tokens": 1500},
    }

    first = run_execution(new_task())
    second = run_execution(new_task("Add a changelog"))

    [request, _] = openai_fake.completions()
    assert request["model"] == "gpt-6-luna"
    assert request["reasoning_effort"] == "low"  # the codegen step's default
    assert "temperature" not in request  # a reasoning model takes it only with effort "none"
    assert request["max_completion_tokens"] == 8192  # reasoning counts against it
    assert request["response_format"]["json_schema"]["strict"] is True
    for execution in (first, second):
        assert execution.status == Execution.Status.SUCCEEDED, execution.error
        call = execution.calls.get(step="codegen")
        assert (call.requested_model, call.model) == ("gpt-4o-mini", "gpt-6-luna")
        assert (call.input_tokens, call.cache_read_tokens, call.output_tokens, call.reasoning_tokens) == (
            2000, 1000, 4000, 1500,
        )  # fmt: skip
        # $0.10 / $0.01 cached / $0.50 per 1M: input, cached input, output (reasoning included once).
        assert call.cost_nanos == 2000 * 100 + 1000 * 10 + 4000 * 500
    assert Event.objects.filter(kind="model_switched", payload__requested="gpt-4o-mini").count() == 1
    # Shown where the calls are: the execution's page in the admin, and the API.
    page = admin_client.get(f"/admin/executions/execution/{first.pk}/change/").content.decode()
    assert re.findall(r'field-reasoning_tokens">\s*<p>(\d+)</p>', page) == ["0", "1500"]
    api_calls = admin_client.get(f"/api/v1/executions/{first.pk}/").json()["calls"]
    assert [(c["model"], c["reasoning_tokens"]) for c in api_calls] == [
        ("claude-sonnet-5-5", 0),
        ("gpt-6-luna", 1500),
    ]
    assert_ledger_consistent(first.period)


@pytest.mark.parametrize(
    ("effort", "sent_effort", "sent_temperature"),
    [("none", "none", 0.0), ("high", "high", None), ("", None, None)],
    ids=["none-takes-temperature", "high", "blank-sends-the-vendor-default"],
)
def test_sampling_parameters_follow_the_effort(live, effort, sent_effort, sent_temperature):
    _, openai_fake = live
    set_effort(effort)

    assert run_execution(new_task()).status == Execution.Status.SUCCEEDED

    [request] = openai_fake.completions()
    assert request.get("reasoning_effort") == sent_effort
    assert request.get("temperature") == sent_temperature


def test_a_request_that_could_reach_the_long_context_rate_is_refused_before_it_is_sent(live):
    anthropic_fake, openai_fake = live
    # 272,000 input tokens would bill at 2x input and 1.5x output: a description of 300,000 bytes
    # could pass them (a token is at least one byte), so nothing is sent and nothing is held.
    task = new_task(description="x" * 300_000)

    with pytest.raises(
        InputTooLong, match=r"gpt-6-luna could carry up to [\d,]+ input tokens, more than the 272,000"
    ):
        run_execution(task)

    assert anthropic_fake.messages() == [] and openai_fake.requests == []  # a free count at most
    assert not Execution.objects.exists() and not ModelCall.objects.exists()
    assert all(p.reserved_nanos == 0 and p.spent_nanos == 0 for p in Period.objects.all())
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 0)


def test_the_reasoning_tokens_never_exceed_the_output_they_are_part_of(live):
    _, openai_fake = live
    openai_fake.usage = {
        "prompt_tokens": 2500,
        "completion_tokens": 100,
        "total_tokens": 2600,
        "completion_tokens_details": {"reasoning_tokens": 900},  # over-reported
    }

    execution = run_execution(new_task())

    call = execution.calls.get(step="codegen")
    assert (call.output_tokens, call.reasoning_tokens, call.cost_nanos) == (100, 100, 2500 * 100 + 100 * 500)
