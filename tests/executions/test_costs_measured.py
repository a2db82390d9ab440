"""``budget costs`` after executions that really ran: the measured profile is what was charged, and
the worst case it prints is what the next execution reserves.

The executions run live against the vendor fakes, with usage scripted as real calls report it on a
real source tree (a few of Django's own modules in a local git repository): thousands of input
tokens, cache writes then reads, reasoning tokens inside the coder's output.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import django
import pytest
import time_machine
from django.core.management import call_command

from budget.models import Period
from budget.money import dollars_str, format_usd, to_nanos
from budget.stats import nearest
from executions.backlog.services import create_task, next_pending_task
from executions.models import Execution, ModelCall, StepConfig
from executions.pipeline.runner import run_execution

pytestmark = pytest.mark.django_db

# December: the analyst's claude-sonnet-4-5 has retired for claude-sonnet-5-5, and the coder runs
# gpt-6-luna, a reasoning model priced from December 1st.
NOW = dt.datetime(2026, 12, 10, 12, 0, tzinfo=dt.UTC)
DJANGO_FILES = ["django/shortcuts.py", "django/core/paginator.py", "django/utils/http.py", "django/middleware/csrf.py"]  # fmt: skip

# Three executions' usage as the vendors report it (Anthropic: input excludes cache reads and
# writes; OpenAI: prompt_tokens includes the cached tokens, reasoning is part of the output).
SCRIPT = [
    (
        {"input_tokens": 11_840, "output_tokens": 1_412, "cache_creation_input_tokens": 1_930, "cache_read_input_tokens": 0},
        {"prompt_tokens": 6_212, "completion_tokens": 2_950, "prompt_tokens_details": {"cached_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 1_216}},
        ["django/shortcuts.py"],
    ),
    (
        {"input_tokens": 12_507, "output_tokens": 1_733, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1_930},
        {"prompt_tokens": 9_870, "completion_tokens": 4_404, "prompt_tokens_details": {"cached_tokens": 2_048},
         "completion_tokens_details": {"reasoning_tokens": 2_030}},
        ["django/core/paginator.py"],
    ),
    (
        {"input_tokens": 9_961, "output_tokens": 1_198, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1_930},
        {"prompt_tokens": 7_333, "completion_tokens": 2_207, "prompt_tokens_details": {"cached_tokens": 1_920},
         "completion_tokens_details": {"reasoning_tokens": 744}},
        ["django/utils/http.py"],
    ),
]  # fmt: skip
TASKS = [
    "get_object_or_404 should say which model was not found",
    "Paginator.get_elided_page_range should accept on_ends=0",
    "Let escape_leading_slashes keep a trailing slash",
    "CsrfViewMiddleware should log why it rejected a request",
]


@pytest.fixture
def django_repository(settings):
    """A git repository of a few of Django's own modules: the context a real task is shown."""
    root = Path(settings.LOCAL_REPO_PATH)
    for name in DJANGO_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(django.__file__).parent.parent / name, root / name)

    def git(*args):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "Django modules")
    return root


def costs_json() -> dict:
    out = StringIO()
    call_command("budget", "costs", "--json", stdout=out)
    return json.loads(out.getvalue())


def costs_text() -> str:
    out = StringIO()
    call_command("budget", "costs", stdout=out)
    return out.getvalue()


def test_the_measured_mean_is_the_months_spend_over_its_executions(live, django_repository):
    anthropic, openai = live
    StepConfig.objects.filter(step="codegen").update(model_name="gpt-6-luna")
    with time_machine.travel(NOW, tick=True):
        for task in TASKS:
            create_task(title=task)
        for analysis_usage, codegen_usage, files in SCRIPT:
            anthropic.usage, openai.usage = analysis_usage, codegen_usage
            anthropic.tool_input = {"plan": "1. Change the function the task names.", "files": files}
            execution = run_execution(next_pending_task())
            assert execution.status == Execution.Status.SUCCEEDED, execution.error

        data = costs_json()
        text = costs_text()
        status = StringIO()
        call_command("budget", "status", stdout=status)
        period = Period.objects.get()
        following = run_execution(next_pending_task())

    measured = data["measured"]
    assert measured["executions"] == period.executions_count == 3 and measured["this_month"]
    # Exact to the nanodollar: the month's spend over its executions, rounded half up.
    assert measured["per_execution"]["mean"] == dollars_str(
        nearest(period.spent_nanos, period.executions_count)
    )
    costs = sorted(e.cost_nanos for e in Execution.objects.exclude(pk=following.pk))
    assert sum(costs) == period.spent_nanos
    assert measured["per_execution"]["p90"] == dollars_str(costs[-1])  # nearest rank of 3: the dearest
    analysis, codegen = measured["steps"]
    assert (analysis["step"], analysis["models"], analysis["calls"]) == ("analysis", ["claude-sonnet-5-5"], 3)
    assert analysis["input_tokens"] == {"mean": 11_436, "p90": 12_507}  # (11,840 + 12,507 + 9,961) / 3
    assert analysis["cached_tokens"] == {"mean": 1_287, "p90": 1_930}
    assert analysis["cache_write_tokens"] == {"mean": 643, "p90": 1_930}
    assert analysis["output_tokens"] == {"mean": 1_448, "p90": 1_733}
    assert (codegen["models"], codegen["reasoning_tokens"]) == (["gpt-6-luna"], {"mean": 1_330, "p90": 2_030})
    assert codegen["input_tokens"] == {"mean": 6_482, "p90": 7_822}  # prompt less cached: 6,212, 7,822, 5,413
    codegen_costs = sorted(
        c.cost_nanos for c in ModelCall.objects.filter(step="codegen").exclude(execution=following)
    )
    assert codegen["cost"] == {
        "mean": dollars_str(nearest(sum(codegen_costs), 3)),
        "p90": dollars_str(codegen_costs[-1]),
    }
    # Months at that mean, standard and batch (every call here ran at the standard price).
    assert measured["standard_per_execution"] == measured["per_execution"]
    assert measured["standard"]["executions_per_month"] == period.limit_nanos // to_nanos(
        measured["per_execution"]["mean"]
    )
    assert to_nanos(measured["batch_per_execution"]["mean"]) < to_nanos(measured["per_execution"]["mean"])

    # What it printed for the next execution is what that execution reserved.
    nxt = data["next_execution"]
    assert nxt["task"]["title"] == TASKS[3]
    assert to_nanos(nxt["reserves"]) == following.reserved_nanos == following.reservation.amount_nanos
    assert sum(to_nanos(s["held_at_start"]) for s in nxt["steps"]) == following.reserved_nanos
    assert [(s["step"], s["model"], s["tries"]) for s in nxt["steps"]] == [
        ("analysis", "claude-sonnet-5-5", 2),  # the first call and ANALYSIS_LOOKUPS more
        ("codegen", "gpt-6-luna", 3),  # the first try and CODEGEN_REFLECTIONS more
    ]
    # The context caps: the coder's bound covers the plan's cap and the files' cap.
    assert nxt["steps"][1]["max_input_tokens"] > 2048 * 8 + 40_000
    assert f"reserves {format_usd(following.reserved_nanos)}" in text
    assert "Measured: the last 3 finished executions this month" in text
    assert "11,436 / 12,507" in text
    mean, p90 = (to_nanos(measured["per_execution"][k]) for k in ("mean", "p90"))
    assert (
        f"Measured    {format_usd(mean)} per execution, p90 {format_usd(p90)} "
        "(the last 3 finished executions this month)"
    ) in status.getvalue()


def test_with_no_execution_yet_it_says_so_and_shows_the_seed_profile(pinned_clock):
    data = costs_json()
    text = costs_text()

    assert data["measured"] is None
    assert data["real"]["per_execution"] == "0.031275"  # the seed's profile, as before
    assert data["next_execution"]["reserves"] is None
    assert data["next_execution"]["unavailable"].startswith("no task is pending")
    assert "Seed profile: one execution at today's prices" in text
    assert "The seed's worst case is one call per step on the seed's input;" in text  # not what is reserved
    assert "Measured: no execution has finished yet; the seed profile above is all there is to go on." in text
