"""The analysis input held at Anthropic's own count (``count_tokens``), with a margin; the byte bound
when the count fails; a bill past the margin charged as an overrun; the worst case never below a bill."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from budget.models import Overrun
from budget.periods import current_period
from budget.pricing import Usage, cost_nanos, price_for
from executions.backlog.services import create_task
from executions.models import Execution, Task
from executions.pipeline import charging
from executions.pipeline.runner import prepare, run_execution, try_nanos
from executions.providers import providers_for_mode
from executions.repositories.gateways import get_gateway
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

# The seed's analysis model on the pinned day: claude-sonnet-4-5, $3 / $15 per M tokens; a bound
# takes its input at the dearest rate the request can be billed (a 5-minute cache write, $3.75).
INPUT, DEAREST_INPUT, OUTPUT = 3_000, 3_750, 15_000


def new_task(title="Add a health check endpoint", description="Load balancers need a cheap probe."):
    return create_task(title=title, description=description)


def test_the_analysis_is_held_at_anthropics_count_plus_the_margin(live, settings):
    anthropic_fake, _ = live
    settings.COUNT_TOKENS_MARGIN_PERCENT = 5
    settings.ANALYSIS_LOOKUPS = 0  # one analysis call: its hold is the count's alone
    anthropic_fake.usage = {"input_tokens": 2000, "output_tokens": 1500}

    prepared = prepare(new_task(), providers=providers_for_mode(), gateway=get_gateway())

    [count] = [r.json for r in anthropic_fake.requests_to("/v1/messages/count_tokens")]
    # The body of the message itself, less max_tokens.
    message_like = {k: v for k, v in count.items()}
    assert message_like["model"] == "claude-sonnet-4-5" and "max_tokens" not in message_like
    assert message_like["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert message_like["messages"][0]["content"] == prepared.analysis_request.user
    held = 2000 + 100 + 16  # the count, 5 %, and 16 tokens of slack
    assert prepared.worst_case.analysis.input_tokens == held
    assert prepared.worst_case.analysis.nanos == held * DEAREST_INPUT + 2048 * OUTPUT
    assert prepared.analysis_input.how == "counted by Anthropic: 2,000 tokens, held at 2,116 (+5%)"
    # Admitted only while the month could absorb the byte bound.
    bound = prepared.analysis_request.input_token_bound()
    assert (
        prepared.worst_case.admit_nanos
        == bound * DEAREST_INPUT + 2048 * OUTPUT + prepared.worst_case.codegen.nanos
    )


@pytest.mark.parametrize("status", [429, 500])
def test_a_failed_count_falls_back_to_the_byte_bound_and_says_so(live, status):
    anthropic_fake, _ = live
    anthropic_fake.fail_count_tokens(status)
    task = new_task()

    execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert len(anthropic_fake.requests_to("/v1/messages/count_tokens")) == 1  # not retried
    assert execution.input_bound.startswith("byte bound: count_tokens failed (Anthropic ")
    assert f"({status})" in execution.input_bound
    [message] = anthropic_fake.messages()
    assert len(message["messages"]) == 1  # the message itself went out as usual
    assert_ledger_consistent(current_period())


def test_a_bill_past_the_counted_hold_is_charged_as_an_overrun_and_stops_the_execution(live, settings):
    anthropic_fake, openai_fake = live
    settings.ANALYSIS_LOOKUPS = 0  # one analysis call: its hold is the count's alone
    anthropic_fake.tokenizer = lambda body: 1000
    anthropic_fake.bill_percent = 400  # the vendor bills 4,000 input tokens on a count of 1,000
    anthropic_fake.usage = {"input_tokens": 0, "output_tokens": 2048}
    task = new_task()

    execution = run_execution(task)

    assert execution.status == Execution.Status.FAILED
    assert "more than the request allowed" in execution.error
    assert openai_fake.completions() == []  # no further paid call
    [call] = execution.calls.all()
    assert call.input_tokens == 4000 and call.cost_nanos == 4000 * INPUT + 2048 * OUTPUT
    [overrun] = Overrun.objects.all()
    held = (1000 + 50 + 16) * DEAREST_INPUT + 2048 * OUTPUT
    assert overrun.excess_nanos == call.cost_nanos - held
    assert Event.objects.filter(kind="execution_failed").count() == 1  # announced with its reason
    period = current_period()
    assert period.exhausted_at is None  # the month's own money was never short
    assert period.spent_nanos == call.cost_nanos <= period.limit_nanos
    assert_ledger_consistent(period)
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=texts.filter(str.strip), description=texts, percent=st.integers(90, 105))
def test_the_worst_case_is_never_below_what_the_vendor_bills(live, title, description, percent):
    """Over random prompts, a vendor whose bill is within the margin of its count (up to +5 %)
    bills the analysis no more than is held for it, and no more than the byte bound admits."""
    anthropic_fake, _ = live
    anthropic_fake.tokenizer = lambda body: len(json.dumps(body, ensure_ascii=False).encode()) // 5
    anthropic_fake.bill_percent = percent
    anthropic_fake.usage = {"input_tokens": 0, "output_tokens": 2048}
    providers = providers_for_mode()
    prepared = prepare(new_task(title, description), providers=providers, gateway=get_gateway())

    answer = charging.ask(providers.analysis, prepared.analysis_request)

    billed = cost_nanos(price_for("claude-sonnet-4-5"), answer.completion.usage)
    assert billed <= prepared.worst_case.analysis.nanos
    bound = prepared.analysis_request.input_token_bound()
    assert billed <= try_nanos(prepared.analysis, bound)
    assert answer.completion.usage == Usage(
        input_tokens=answer.completion.usage.input_tokens, output_tokens=2048
    )
