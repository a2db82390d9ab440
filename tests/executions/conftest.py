"""Fixtures for the pipeline's tests: the vendor fakes, and the ledger's consistency check."""

import datetime as dt
import json

import pytest
from django.db.models import Count, Sum

from budget.models import LanguageModel, Price
from budget.pricing import Usage, cost_nanos, price_for
from executions.backlog.services import create_task
from executions.models import ModelCall, StepConfig, Task
from tests.fakes.anthropic import serving_anthropic
from tests.fakes.openai import serving_openai


@pytest.fixture
def anthropic_fake(settings, monkeypatch):
    with serving_anthropic(settings, monkeypatch) as fake:
        yield fake


@pytest.fixture
def openai_fake(settings, monkeypatch):
    with serving_openai(settings, monkeypatch) as fake:
        yield fake


@pytest.fixture
def live(settings, anthropic_fake, openai_fake):
    """Live mode: the real SDKs, talking to the two fakes."""
    settings.ORCHESTRATOR_MODE = "live"
    settings.LLM_MAX_RETRIES = 3
    return anthropic_fake, openai_fake


@pytest.fixture
def batch_mode(live, settings):
    """Both steps in batch mode; codegen on gpt-4.1-mini, whose batch rates are whole nanodollars."""
    settings.PACING_ENABLED = False
    model = LanguageModel.objects.create(name="gpt-4.1-mini", provider="openai")
    Price.objects.create(
        model=model,
        effective_from=dt.date(2025, 1, 1),
        input_nanos=400,
        output_nanos=1600,
        cache_read_nanos=100,
    )
    StepConfig.objects.filter(step="analysis").update(batch=True)
    StepConfig.objects.filter(step="codegen").update(model_name="gpt-4.1-mini", batch=True)
    return live


def tasks(n: int) -> list[Task]:
    return [
        create_task(title=f"Add health check {i}", description="Load balancers need a probe.")
        for i in range(n)
    ]


def assert_ledger_consistent(period):
    """spent is the sum of the calls' costs to the nanodollar, and nothing stays reserved."""
    period.refresh_from_db()
    charged = (
        ModelCall.objects.filter(execution__period=period).aggregate(total=Sum("cost_nanos"))["total"] or 0
    )
    assert period.spent_nanos == charged
    assert period.reserved_nanos == 0
    assert period.spent_nanos <= period.limit_nanos


def billed_nanos(anthropic_fake, openai_fake) -> int:
    """What the fake vendors billed (``billed()``), priced as the vendors price it."""
    total = 0
    for fake, usage_of in ((anthropic_fake, Usage.from_anthropic), (openai_fake, Usage.from_openai)):
        for model, usage, batch in fake.billed():
            total += cost_nanos(price_for(model), usage_of(usage), batch=batch)
    return total


def assert_charged_as_billed(period, anthropic_fake, openai_fake):
    """The period's spent is the sum of its charges and of what the vendors billed, to the
    nanodollar, and nothing stays reserved."""
    assert_ledger_consistent(period)
    assert period.spent_nanos == billed_nanos(anthropic_fake, openai_fake)


def charges_per_result() -> set[int]:
    """How many calls each (execution, step) was charged: {1} when every result was charged once."""
    per_result = ModelCall.objects.values("execution", "step").annotate(n=Count("pk"))
    return set(per_result.values_list("n", flat=True))


def assert_no_call_made_twice(anthropic_fake, openai_fake):
    """Each execution was sent to each vendor once: in a batch, by its ``custom_id``; a synchronous
    call, by its prompt (each names its own task)."""
    for custom_ids in (
        [r["custom_id"] for r in anthropic_fake.batch_requests()],
        [line["custom_id"] for line in openai_fake.batch_lines()],
    ):
        assert len(custom_ids) == len(set(custom_ids)), custom_ids
    for prompts in (
        [json.dumps(m["messages"][-1]["content"]) for m in anthropic_fake.messages()],
        [m["messages"][-1]["content"] for m in openai_fake.completions()],
    ):
        assert len(prompts) == len(set(prompts)), len(prompts)
