"""gpt-6-luna in the catalog, and `budget status` warning before a configured model retires."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from budget.catalog import resolve
from budget.models import LanguageModel
from budget.pricing import Usage, cost_nanos, price_for, worst_case_nanos
from executions.models import StepConfig

pytestmark = pytest.mark.django_db

MILLION = 1_000_000


def status(day: str) -> dict:
    out = StringIO()
    with time_machine.travel(dt.datetime.fromisoformat(f"{day}T12:00:00+00:00"), tick=False):
        call_command("budget", "status", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_gpt_6_luna_is_priced_exactly_from_openais_page():
    price = price_for("gpt-6-luna", on=dt.date(2026, 12, 1))
    luna = price.model

    assert (luna.provider, luna.reasoning, luna.max_input_tokens) == ("openai", True, 272_000)
    # Per 1M tokens: input $0.10, cached input $0.01, cache writes $0.125, output $0.50.
    per_million = {
        "input_tokens": 100_000_000,
        "cache_read_tokens": 10_000_000,
        "cache_write_5m_tokens": 125_000_000,
        "output_tokens": 500_000_000,
    }
    for part, nanos in per_million.items():
        assert cost_nanos(price, Usage(**{part: MILLION})) == nanos, part
    assert (price.input_nanos, price.cache_read_nanos, price.cache_write_5m_nanos, price.output_nanos) == (
        100, 10, 125, 500,
    )  # fmt: skip
    assert price.batch_discount_percent == 50


def test_gpt_4o_mini_hands_over_to_gpt_6_luna_on_its_shutdown_day():
    mini = LanguageModel.objects.get(name="gpt-4o-mini")
    assert (mini.retires_on, mini.successor.name) == (dt.date(2027, 1, 14), "gpt-6-luna")
    assert resolve("gpt-4o-mini", on=dt.date(2027, 1, 13)).model.name == "gpt-4o-mini"
    assert resolve("gpt-4o-mini", on=dt.date(2027, 1, 14)).model.name == "gpt-6-luna"


@given(
    input_tokens=st.integers(0, 272_000),
    cached=st.integers(0, 272_000),
    output_tokens=st.integers(0, 128_000),
)
def test_under_the_input_limit_the_worst_case_bounds_any_luna_bill(input_tokens, cached, output_tokens):
    """Requests that could pass 272,000 input tokens are refused, so every request sent is billed at
    the standard rates, and the reservation for its bound covers whatever the cache does."""
    cached = min(cached, input_tokens)
    price = price_for("gpt-6-luna", on=dt.date(2027, 1, 14))
    usage = Usage(input_tokens=input_tokens - cached, cache_read_tokens=cached, output_tokens=output_tokens)
    bound = worst_case_nanos(price, max_input_tokens=input_tokens, max_output_tokens=output_tokens)
    assert cost_nanos(price, usage) <= bound


def test_status_warns_from_30_days_before_a_configured_model_retires():
    assert not [w for w in status("2026-12-14")["warnings"] if w.startswith("gpt-4o-mini")]

    warnings = status("2026-12-15")["warnings"]

    assert warnings == [
        # Retired: the pipeline already runs its successor; the configuration still names it.
        "claude-sonnet-4-5 (analysis) retired on 2026-11-30: claude-sonnet-5-5 runs instead; one "
        "execution costs $0.031275 on claude-sonnet-4-5, $0.021775 on claude-sonnet-5-5.",
        # 30 days ahead: the next switch, and one execution before (Sonnet 5.5 + GPT-4o mini) and
        # after (Sonnet 5.5 + gpt-6-luna), at the seed's token profile.
        "gpt-4o-mini (codegen) retires on 2027-01-14 (in 30 days): gpt-6-luna runs instead from then; "
        "one execution costs $0.021775 on gpt-4o-mini, $0.02125 on gpt-6-luna.",
    ]


def test_status_warns_in_text_and_only_about_configured_models():
    StepConfig.objects.filter(step="analysis").update(model_name="claude-sonnet-5-5")
    StepConfig.objects.filter(step="codegen").update(model_name="gpt-6-luna")
    assert status("2027-01-10")["warnings"] == []

    StepConfig.objects.filter(step="codegen").update(model_name="gpt-4o-mini")
    LanguageModel.objects.filter(name="gpt-4o-mini").update(successor=None)
    out = StringIO()
    with time_machine.travel(dt.datetime(2027, 1, 13, 12, tzinfo=dt.UTC), tick=False):
        call_command("budget", "status", stdout=out)

    assert (
        "Warning: gpt-4o-mini (codegen) retires on 2027-01-14 (in 1 day) and has no priced successor: "
        "executions stop then; choose another model in the admin." in out.getvalue()
    )


def costs(day: str, *args: str) -> str:
    out = StringIO()
    with time_machine.travel(dt.datetime.fromisoformat(f"{day}T12:00:00+00:00"), tick=False):
        call_command("budget", "costs", *args, stdout=out)
    return out.getvalue()


def test_costs_price_the_model_that_really_runs_and_say_the_configured_one_was_replaced():
    before = json.loads(costs("2026-11-29", "--json"))
    after = json.loads(costs("2026-11-30", "--json"))

    assert [(s["model"], s["cost"]) for s in before["steps"]] == [
        ("claude-sonnet-4-5", "0.0285"),
        ("gpt-4o-mini", "0.002775"),
    ]
    assert before["real"]["per_execution"] == "0.031275"
    assert [
        (s["requested_model"], s["model"], s["replaced"], s["requested_model_retired_on"], s["cost"])
        for s in after["steps"]
    ] == [
        ("claude-sonnet-4-5", "claude-sonnet-5-5", True, "2026-11-30", "0.019"),
        ("gpt-4o-mini", "gpt-4o-mini", False, None, "0.002775"),
    ]
    assert after["real"]["per_execution"] == "0.021775"  # what every execution is charged now
    text = costs("2026-12-01")
    assert "claude-sonnet-5-5" in text and "$0.021775" in text and "$0.031275" not in text
    assert "Note: claude-sonnet-4-5 retired on 2026-11-30: claude-sonnet-5-5 runs instead (analysis)." in text


def test_costs_follow_the_step_configuration_and_accept_any_catalog_model():
    StepConfig.objects.filter(step="analysis").update(model_name="claude-haiku-4-5")

    data = json.loads(costs("2026-12-01", "--json", "--codegen-model", "gpt-6-luna"))

    assert [(s["step"], s["model"], s["cost"], s["worst_case"]) for s in data["steps"]] == [
        # 2,000 × $1 + 1,500 × $5 per 1M; worst: 8,000 input at the 1-hour cache-write rate + 2,048 out.
        ("analysis", "claude-haiku-4-5", "0.0095", "0.02624"),
        # 2,500 × $0.10 + 4,000 × $0.50; worst: 10,000 input at the cache-write rate + 8,192 out.
        ("codegen", "gpt-6-luna", "0.00225", "0.005346"),
    ]
    on_the_shutdown_day = json.loads(costs("2027-01-14", "--json"))
    assert [s["model"] for s in on_the_shutdown_day["steps"]] == ["claude-haiku-4-5", "gpt-6-luna"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--codegen-model", "gpt-6-luna", "--codegen-in", "70000"),
            "A request to gpt-6-luna could carry up to 280,000 input tokens, more than the 272,000",
        ),
        (("--analysis-model", "gpt-9"), "Unknown model 'gpt-9'"),
    ],
)
def test_costs_refuse_what_the_pipeline_would_refuse_with_exit_2(args, message):
    with pytest.raises(CommandError, match=message) as raised:
        costs("2027-01-14", *args)
    assert raised.value.returncode == 2


def test_costs_of_a_retired_model_without_successor_exit_2():
    LanguageModel.objects.filter(name="gpt-4o-mini").update(successor=None)

    with pytest.raises(CommandError, match="'gpt-4o-mini' retired on 2027-01-14 and has no priced successor"):
        costs("2027-01-14")
