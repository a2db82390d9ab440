"""The analyst's one more look (``show``) before its plan, over real HTTP: the anthropic SDK against
the fake, the repository on the GitHub fake (docs/context.md: "One more look")."""

import datetime as dt
import json
from dataclasses import replace
from io import StringIO

import pytest
from django.core.management import call_command
from hypothesis import example, given
from hypothesis import strategies as st

from budget import ledger
from budget.models import LanguageModel, Overrun, Price
from budget.periods import current_period
from budget.pricing import input_token_bound
from executions.backlog.services import create_task
from executions.context import lookups
from executions.models import Execution, ModelCall, StepConfig
from executions.pipeline import steps
from executions.pipeline.runner import run_execution
from executions.providers import CompletionRequest, providers_for_mode
from executions.providers.anthropic import AnthropicProvider
from tests.executions.conftest import assert_charged_as_billed
from tests.fakes.anthropic import user_text
from tests.fakes.github import SEED_FILES, serving_github
from tests.fakes.openai import change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

SETTINGS_PY = "DEBUG = True\nALLOWED_HOSTS = ['*']\n"
# A module too large to show whole in one look-up: 80 handlers of about 1 KB each.
BIG_PY = "".join(
    f"def handler_{n}(request):\n"
    + "".join(f"    step_{n}_{i} = request.get('k{i}')\n" for i in range(30))
    + "\n"
    for n in range(80)
)
FILES = {**SEED_FILES, "app/settings.py": SETTINGS_PY, "app/big.py": BIG_PY}
PLAN = {"plan": "Set DEBUG to False in app/settings.py.", "files": ["app/settings.py"]}


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        fake.add_repo("octo/widgets", files=FILES)
        yield fake


@pytest.fixture
def coder(live):
    _anthropic, openai_fake = live
    openai_fake.content = change(
        {
            "path": "app/settings.py",
            "action": "edit",
            "edits": [{"search": "DEBUG = True", "replace": "DEBUG = False"}],
        }
    )


def new_task():
    return create_task(title="Turn DEBUG off", description="The settings must not ship with DEBUG on.")


def sent_bytes(message: dict) -> int:
    """The input bound of what a message request sent (as the reservation counts it)."""
    texts = [message["system"][0]["text"], *map(json.dumps, message["tools"])]
    for m in message["messages"]:
        texts.append(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]))
    return input_token_bound(*texts)


def test_a_look_up_is_answered_from_the_base_commit_then_the_analyst_plans(live, fake_github, coder):
    anthropic_fake, openai_fake = live
    asked = ["app/settings.py", "app/nowhere.py", "Widget.missing_method"]
    anthropic_fake.tool_calls = [("show", {"items": asked})]
    anthropic_fake.tool_input = PLAN

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    first, second = anthropic_fake.messages()
    # The second round is the first request unchanged (read from the cache: the same system, tools,
    # tool choice and first user message, with its breakpoint), then the call and its answer.
    assert first["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    for part in ("system", "tools", "tool_choice"):
        assert second[part] == first[part]
    assert second["messages"][0] == first["messages"][0]
    call, result = second["messages"][1]["content"][0], second["messages"][2]["content"][0]
    assert call == {"type": "tool_use", "id": "toolu_fake0001", "name": "show", "input": {"items": asked}}
    assert result["tool_use_id"] == "toolu_fake0001"
    assert f'<file path="app/settings.py">\n{SETTINGS_PY}\n</file>' in result["content"]
    assert '"app/nowhere.py": not in the base commit' in result["content"]
    assert '"Widget.missing_method": not in the base commit' in result["content"]
    assert result["content"].endswith(lookups.NONE_LEFT)
    # Recorded on the execution: what was asked, what was shown.
    execution.refresh_from_db()
    assert execution.lookups == [
        {
            "asked": asked,
            "shown": ["app/settings.py", "app/nowhere.py (not found)", "Widget.missing_method (not found)"],
        }
    ]
    # Both rounds charged as billed, each its own call; the reservation covered both and is released.
    calls = ModelCall.objects.filter(execution=execution, step="analysis").order_by("try_number")
    assert [c.try_number for c in calls] == [1, 2]
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)
    # The round was held when the analyst asked for it (the reservation grew), at least the
    # calls' bounds in all; before it, only the first call and the coder's first try.
    reservation = execution.reservation
    reservation.refresh_from_db()
    assert reservation.amount_nanos > execution.reserved_nanos
    assert not Overrun.objects.exists()  # every call within what was held for it


def test_a_look_up_is_capped_in_names_and_bytes(live, fake_github, coder):
    anthropic_fake, _openai = live
    asked = ["app/big.py", "app/big.py::handler_77", "README.md", "app/settings.py", "app/urls.py"]
    anthropic_fake.tool_calls = [("show", {"items": asked})]
    anthropic_fake.tool_input = PLAN

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    _first, second = anthropic_fake.messages()
    answer = second["messages"][2]["content"][0]["content"]
    assert len(answer.encode()) <= lookups.MAX_ANSWER_BYTES < len(BIG_PY.encode())
    assert f"Only the first {lookups.MAX_ITEMS} names were looked up." in answer
    assert "app/urls.py" not in answer
    assert "def handler_77(request):" in answer  # the named definition, whole, in the big file's excerpt
    assert execution.lookups[0]["shown"][0].startswith("app/big.py (excerpt")


def test_a_look_up_past_the_allowed_rounds_is_charged_and_refused(live, fake_github, coder, settings):
    settings.ANALYSIS_LOOKUPS = 1
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_calls = [("show", {"items": ["README.md"]}), ("show", {"items": ["app/settings.py"]})]

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.FAILED
    assert "asked to look again after its 1 look-up(s)" in execution.error
    assert len(anthropic_fake.messages()) == 2 and openai_fake.completions() == []
    assert ModelCall.objects.filter(execution=execution).count() == 2
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)  # and released


def test_without_look_ups_the_plan_is_forced_at_once(live, fake_github, coder, settings):
    settings.ANALYSIS_LOOKUPS = 0
    anthropic_fake, _openai = live
    anthropic_fake.tool_input = PLAN

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    [message] = anthropic_fake.messages()
    assert message["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert [tool["name"] for tool in message["tools"]] == ["submit_plan"]
    assert "You may call show" not in message["system"][0]["text"]
    assert isinstance(message["messages"][0]["content"], str) and user_text(message)
    assert execution.lookups == []


class Crowded(AnthropicProvider):
    """The real Anthropic provider; while its first call is out, other work takes the month's rest."""

    def complete(self, request):
        if not hasattr(self, "other"):
            period = current_period()
            self.other = ledger.reserve(
                period.limit_nanos - period.spent_nanos - period.reserved_nanos - period.exposed_nanos
            )
        return super().complete(request)


def test_a_round_is_held_when_asked_for_and_not_made_without_room(live, fake_github, coder, settings):
    """Nothing is held for a look-up before the analyst asks for one: what an execution holds at
    its start is the same whatever ANALYSIS_LOOKUPS allows (beside the show tool's few bytes).
    When the month has no room for the round the analyst asks for, it is not made."""
    anthropic_fake, openai_fake = live
    reserved = {}
    for rounds in (1, 2):
        settings.ANALYSIS_LOOKUPS = rounds
        anthropic_fake.tool_input = PLAN
        reserved[rounds] = run_execution(new_task()).reserved_nanos
    assert reserved[1] == reserved[2]

    anthropic_fake.tool_calls = [("show", {"items": ["app/settings.py"]})]
    analyst = Crowded()
    before = len(anthropic_fake.messages())

    execution = run_execution(new_task(), providers=replace(providers_for_mode(), analysis=analyst))

    assert execution.status == Execution.Status.FAILED
    assert "The analysis asked to look again (up to $" in execution.error
    assert "the round was not made: the month has $" in execution.error
    assert len(anthropic_fake.messages()) == before + 1  # only the first call, charged
    assert execution.lookups == [{"asked": ["app/settings.py"], "shown": ["app/settings.py"]}]
    ledger.release(analyst.other)
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)


def run_batches() -> str:
    out = StringIO()
    call_command("run_batches", stdout=out)
    return out.getvalue().strip()


def test_with_only_codegen_in_batch_mode_the_synchronous_analysis_looks_up_first(
    live, fake_github, coder, settings
):
    settings.PACING_ENABLED = False
    model = LanguageModel.objects.create(name="gpt-4.1-mini", provider="openai")
    Price.objects.create(model=model, effective_from=dt.date(2025, 1, 1), input_nanos=400, output_nanos=1600)
    StepConfig.objects.filter(step="codegen").update(model_name="gpt-4.1-mini", batch=True)
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_calls = [("show", {"items": ["app/settings.py"]})]
    anthropic_fake.tool_input = PLAN
    new_task()

    run_batches()  # the analysis now (a look-up, then the plan), the codegen batch submitted
    assert "finished 1 execution(s)" in run_batches()

    execution = Execution.objects.get()
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert len(anthropic_fake.messages()) == 2 and execution.lookups[0]["shown"] == ["app/settings.py"]
    assert ModelCall.objects.filter(execution=execution, step="analysis").count() == 2
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)


@given(
    items=st.lists(st.text(max_size=400), max_size=8),
    call_id=st.text(max_size=steps.MAX_CALL_ID_CHARS),
    answer=st.text(max_size=100) | st.just("é" * lookups.MAX_ANSWER_BYTES),
)
@example(items=["\U0001f600" * 300] * 4, call_id="\U0001f600" * 100, answer="é" * lookups.MAX_ANSWER_BYTES)
def test_any_round_fits_the_bound_the_month_admitted_it_at(items, call_id, answer):
    """Whatever the analyst asks for (any characters: JSON escapes a non-ASCII one into up to 12
    bytes) and whatever it is shown (up to its cap), a round's input stays within ``lookup_at_caps``."""
    first = CompletionRequest(model="claude-sonnet-4-5", system="s", user="u", max_tokens=2048)
    sent = steps.lookup_request(first, call_id, items, answer)
    assert sent.input_token_bound() <= steps.lookup_at_caps(first, 1).input_token_bound()
