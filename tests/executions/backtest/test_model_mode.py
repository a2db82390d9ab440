"""Model mode over the vendor fakes with scripted answers: one case applies, one plan names the
wrong file, one answer never applies. Every call is charged to the month like an execution's;
nothing is published; ``--spend`` is refused above what the month has left."""

import json
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from budget.periods import current_period
from executions.models import BacktestCase, BacktestRun, Execution, ModelCall, Repository, Task
from executions.repositories.standing import runnable_tasks
from tests.executions.backtest.history import known_history
from tests.executions.conftest import assert_charged_as_billed
from tests.fakes.openai import change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

APPLIES = change(
    {
        "path": "app/big.py",
        "action": "edit",
        "edits": [{"search": "value * 150 + 150", "replace": "value * 150 + 151"}],
    }
)
WRONG_FILE = change(
    {
        "path": "app/core.py",
        "action": "edit",
        "edits": [{"search": "total = a + b", "replace": "total = b + a"}],
    }
)
MISSES = change(
    {"path": "app/core.py", "action": "edit", "edits": [{"search": "no such line", "replace": "x"}]}
)


@pytest.fixture
def history(tmp_path):
    path = tmp_path / "demo"
    shas = known_history(path)
    Repository.objects.create(kind=Repository.Kind.LOCAL, name=str(path))
    return path, shas


def backtest(path, *args):
    out = StringIO()
    call_command("backtest", "--repository", str(path), *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_model_mode_measures_what_the_product_did_and_charges_it_like_any_execution(history, live, settings):
    path, shas = history
    anthropic_fake, openai_fake = live
    heads = subprocess.run(["git", "-C", str(path), "show-ref"], capture_output=True, text=True).stdout
    # Newest first: the warmup (#16), the header parser (#15), the store (#13).
    anthropic_fake.tool_inputs = [
        {"plan": "Change filler_150.", "files": ["app/big.py"]},
        {"plan": "Change core.", "files": ["app/core.py"]},  # the real change is in app/big.py
        {"plan": "Change Store.get.", "files": ["app/core.py"]},
    ]
    openai_fake.answers = [APPLIES, WRONG_FILE, MISSES, MISSES, MISSES]  # 1 + CODEGEN_REFLECTIONS tries

    data = backtest(path, "--last", "3", "--models", "--spend", "5.00")

    warmup, header, store = data["cases"]
    assert (warmup["applied"], warmup["plan_hits"], warmup["file_hits"], warmup["definition_hits"]) == (
        "first_try",
        1,
        1,
        1,
    )
    assert warmup["produced_definitions"] == ["app/big.py::filler_150"]
    assert (header["applied"], header["plan_files"], header["plan_hits"], header["file_hits"]) == (
        "first_try",
        ["app/core.py"],
        0,
        0,
    )
    assert header["produced_definitions"] == ["app/core.py::add"]
    assert (store["applied"], store["plan_hits"], store["file_hits"], store["produced_files"]) == (
        "never",
        1,
        0,
        [],
    )
    # Every call charged to the month, to the nanodollar of what the vendors billed.
    executions = list(Execution.objects.order_by("pk"))
    assert [e.kind for e in executions] == ["backtest"] * 3
    assert [e.calls.count() for e in executions] == [2, 2, 4]
    assert [BacktestCase.objects.get(position=n).cost_nanos for n in (1, 2, 3)] == [
        e.cost_nanos for e in executions
    ]
    run = BacktestRun.objects.get()
    period = current_period()
    assert (
        run.cost_nanos
        == period.spent_nanos
        == sum(ModelCall.objects.values_list("cost_nanos", flat=True))
        > 0
    )
    assert_charged_as_billed(period, anthropic_fake, openai_fake)
    totals = data["totals"]
    assert (totals["applied_first_try"], totals["applied_after_retry"], totals["never_applied"]) == (2, 0, 1)
    assert (totals["plan_hits"], totals["file_hits"], totals["definition_hits"]) == (2, 1, 1)
    # Published nowhere: no branch, no commit in the repository; the tasks never run again.
    assert (
        subprocess.run(["git", "-C", str(path), "show-ref"], capture_output=True, text=True).stdout == heads
    )
    assert all(e.branch == "" and e.commit_sha == "" and e.pr_number is None for e in executions)
    assert not runnable_tasks().exists() and set(Task.objects.values_list("source", flat=True)) == {
        "backtest"
    }
    # The produced diff is kept beside the real one (the admin shows both).
    case = BacktestCase.objects.get(position=1)
    assert "+    return value * 150 + 151" in case.execution.diff and "value * 150 + 151" in case.real_diff


def test_spend_above_what_the_month_has_left_is_refused_before_anything_runs(history, live):
    path, _shas = history
    period = current_period()
    left = period.limit_nanos - period.spent_nanos - period.reserved_nanos

    with pytest.raises(CommandError, match="above what the month has left") as refused:
        backtest(path, "--models", "--spend", f"{(left + 1) / 1e9:.9f}")

    assert refused.value.returncode == 2
    assert not BacktestRun.objects.exists() and not Execution.objects.exists()
    assert not live[0].messages() and not live[1].completions()


def test_spend_caps_the_runs_total(history, live, settings):
    path, _shas = history
    settings.ANALYSIS_LOOKUPS = 0  # the figures below are without the analyst's look-up round (issue 36)

    data = backtest(path, "--last", "3", "--models", "--spend", "0.19")

    # A case starts only when what it could ever be billed (its byte-bound worst case, about
    # $0.131 here) fits what --spend leaves: the first costs $0.031275, the second fits the
    # $0.158725 left, the third no longer fits the $0.12745 left.
    executions = list(Execution.objects.order_by("pk"))
    assert len(executions) == 2
    assert data["error"] == (
        "Stopped before case 3 of 3: its worst case does not fit what --spend leaves ($0.12745)."
    )
    assert len(data["cases"]) == 2 and data["totals"]["cost"] == "0.06255"
    assert current_period().reserved_nanos == 0 and Task.objects.filter(status="skipped").count() == 1


def test_models_needs_spend(history):
    path, _shas = history

    with pytest.raises(CommandError, match="--models and --spend DOLLARS go together") as refused:
        backtest(path, "--models")

    assert refused.value.returncode == 2


def test_the_admin_shows_the_produced_diff_beside_the_real_one(history, live, admin_client):
    path, _shas = history
    live[0].tool_inputs = [{"plan": "Change filler_150.", "files": ["app/big.py"]}]
    live[1].answers = [APPLIES]
    backtest(path, "--last", "1", "--models", "--spend", "1.00")
    case = BacktestCase.objects.get()

    page = admin_client.get(f"/admin/executions/backtestcase/{case.pk}/change/").content.decode()
    listing = admin_client.get("/admin/executions/backtestrun/").content.decode()

    assert page.count("value * 150 + 151") == 2  # the real change and the produced one, side by side
    assert f"execution {case.execution_id}" in page
    assert "100%" in listing and "$0.031275" in listing
