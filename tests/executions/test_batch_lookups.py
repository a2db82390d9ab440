"""The analyst's look-up in batch mode (issue 36, item 3): a ``show`` call that comes back in an
analysis batch is charged at the batch price, answered from the base commit and recorded, and the
analyst is asked again in the next analysis batch; its plan then goes on to the coder as today.
Over the fake vendors' batch endpoints (the real SDKs) and the GitHub fake."""

from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from budget.periods import current_period
from executions.backlog.services import create_task
from executions.batches import passes
from executions.batches.passes import run_batches_pass
from executions.context import lookups
from executions.models import Batch, Execution, ModelCall, Task
from executions.pipeline import runner, state
from executions.providers import providers_for_mode
from executions.repositories.gateways import get_gateway
from tests.executions.conftest import assert_charged_as_billed
from tests.fakes.github import SEED_FILES, serving_github
from tests.fakes.openai import change

pytestmark = pytest.mark.django_db

NOW = "2026-11-15 12:00Z"  # claude-sonnet-4-5 ($3 / $15) is current
LATER = "2026-11-15 12:45Z"  # past a pass's lease (Q_TIMEOUT_SECONDS)
# One analysis call at the fake's usage (2,000 in, 1,500 out) at half claude-sonnet-4-5's rates.
ANALYSIS_BATCH_NANOS = 2000 * 1500 + 1500 * 7500
SETTINGS_PY = "DEBUG = True\nALLOWED_HOSTS = ['*']\n"
PLAN = {"plan": "Set DEBUG to False in app/settings.py.", "files": ["app/settings.py"]}


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        fake.add_repo("octo/widgets", files={**SEED_FILES, "app/settings.py": SETTINGS_PY})
        yield fake


@pytest.fixture
def vendors(batch_mode, fake_github, settings):
    """Both steps in batch mode; the analyst plans (after what each test scripts), the coder's
    change applies."""
    settings.ANALYSIS_LOOKUPS = 1
    anthropic_fake, openai_fake = batch_mode
    anthropic_fake.tool_input = PLAN
    edit = {"search": "DEBUG = True", "replace": "DEBUG = False"}
    openai_fake.content = change({"path": "app/settings.py", "action": "edit", "edits": [edit]})
    return anthropic_fake, openai_fake


def new_task():
    return create_task(title="Turn DEBUG off", description="The settings must not ship with DEBUG on.")


def run_batches() -> str:
    out = StringIO()
    call_command("run_batches", stdout=out)
    return out.getvalue().strip()


def analysis_calls(execution) -> list[ModelCall]:
    return list(ModelCall.objects.filter(execution=execution, step="analysis").order_by("try_number"))


def assert_each_request_sent_once(anthropic_fake) -> None:
    """No analysis request went out twice: one per custom id and round."""
    sent = [(r["custom_id"], len(r["params"]["messages"])) for r in anthropic_fake.batch_requests()]
    assert len(sent) == len(set(sent)), sent


@time_machine.travel(NOW, tick=False)
def test_a_show_in_a_batch_is_answered_in_the_next_analysis_batch_then_the_plan_goes_to_the_coder(
    vendors, fake_github
):
    anthropic_fake, openai_fake = vendors
    asked = ["app/settings.py", "app/nowhere.py"]
    anthropic_fake.tool_calls = [("show", {"items": asked})]
    new_task()

    assert run_batches().startswith("submitted analysis batch")
    execution = Execution.objects.get()
    [first] = anthropic_fake.batch_requests()
    assert first["params"]["tool_choice"] == {"type": "any"}
    assert [tool["name"] for tool in first["params"]["tools"]] == ["submit_plan", "show"]
    assert execution.analysis_request is not None  # kept: the next round is built on it

    # The show call comes back: charged at the batch price, answered, recorded, asked again.
    assert "submitted analysis batch" in run_batches()
    execution.refresh_from_db()
    assert execution.status == Execution.Status.ANALYSING and execution.batched
    assert execution.lookups == [{"asked": asked, "shown": ["app/settings.py", "app/nowhere.py (not found)"]}]
    [show] = analysis_calls(execution)
    assert (show.cost_nanos, show.standard_cost_nanos) == (ANALYSIS_BATCH_NANOS, 2 * ANALYSIS_BATCH_NANOS)
    first_row, follow_row = Batch.objects.filter(step="analysis").order_by("pk")
    assert show.batch == first_row and execution.batch == follow_row
    assert (first_row.status, follow_row.status) == (Batch.Status.ENDED, Batch.Status.IN_PROGRESS)
    assert (follow_row.price, follow_row.max_tokens) == (first_row.price, first_row.max_tokens)
    _, second = anthropic_fake.batch_requests()
    assert second["custom_id"] == first["custom_id"] == str(execution.pk)
    # The first request unchanged (its prefix read from the cache), then the call and its answer.
    for part in ("system", "tools", "tool_choice", "max_tokens", "model"):
        assert second["params"][part] == first["params"][part]
    assert second["params"]["messages"][0] == first["params"]["messages"][0]
    call, result = (
        second["params"]["messages"][1]["content"][0],
        second["params"]["messages"][2]["content"][0],
    )
    assert call["type"] == "tool_use" and call["name"] == "show" and call["input"] == {"items": asked}
    assert result["type"] == "tool_result" and result["tool_use_id"] == call["id"]
    assert f'<file path="app/settings.py">\n{SETTINGS_PY}\n</file>' in result["content"]
    assert '"app/nowhere.py": not in the base commit' in result["content"]
    assert result["content"].endswith(lookups.NONE_LEFT)

    # The plan comes back: charged at the batch price, and the coder is asked in a codegen batch.
    assert "submitted codegen batch" in run_batches()
    execution.refresh_from_db()
    assert execution.status == Execution.Status.GENERATING and execution.plan_files == ["app/settings.py"]
    assert execution.analysis_request is None  # no round is built on it any more
    plan = analysis_calls(execution)[1]
    assert (plan.cost_nanos, plan.standard_cost_nanos, plan.batch) == (
        ANALYSIS_BATCH_NANOS,
        2 * ANALYSIS_BATCH_NANOS,
        follow_row,
    )

    assert "finished 1 execution(s)" in run_batches()
    execution.refresh_from_db()
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    [pull] = fake_github.open_pulls()
    assert execution.pr_url == pull["html_url"]
    files = fake_github.files_at(fake_github.branch_head(execution.branch))
    assert files["app/settings.py"].startswith("DEBUG = False")
    assert len(anthropic_fake.batch_requests()) == 2 and anthropic_fake.messages() == []
    assert execution.cost_nanos == sum(call.cost_nanos for call in execution.calls.all())
    assert_charged_as_billed(current_period(), anthropic_fake, openai_fake)  # and nothing held
    assert_each_request_sent_once(anthropic_fake)


@time_machine.travel(NOW, tick=False)
def test_a_batched_look_up_round_is_bounded_at_the_batch_price(vendors, settings):
    """Each round the analysis may make is in the worst case the month must be able to absorb
    for the execution to start, at the batch price in batch mode: the round adds half of what it
    adds at the standard price."""
    task = new_task()
    gateway, providers = get_gateway(task.repository), providers_for_mode()

    def analysis_bound(*, rounds: int, batch: bool) -> int:
        settings.ANALYSIS_LOOKUPS = rounds
        prepared = runner.prepare(task, providers=providers, gateway=gateway, batch=batch)
        assert prepared.analysis.batch is batch
        return prepared.worst_case.analysis.nanos

    standard_round = analysis_bound(rounds=1, batch=False) - analysis_bound(rounds=0, batch=False)
    batch_round = analysis_bound(rounds=1, batch=True) - analysis_bound(rounds=0, batch=True)
    assert batch_round > 0 and 2 * batch_round == standard_round
    assert analysis_bound(rounds=2, batch=True) - analysis_bound(rounds=1, batch=True) >= batch_round


@time_machine.travel(NOW, tick=False)
def test_a_show_past_the_allowed_rounds_in_a_batch_is_charged_and_refused(vendors):
    anthropic_fake, openai_fake = vendors
    anthropic_fake.tool_calls = [("show", {"items": ["README.md"]}), ("show", {"items": ["app/settings.py"]})]
    Task.objects.filter(pk=new_task().pk).update(max_attempts=1)  # not run again in the same pass

    run_batches()  # the analysis batch
    run_batches()  # its show answered; the follow-up batch
    assert "finished 1 execution(s)" in run_batches()  # a second show: charged, refused

    execution = Execution.objects.get()
    assert execution.status == Execution.Status.FAILED
    assert "asked to look again after its 1 look-up(s) instead of calling submit_plan" in execution.error
    assert [c.cost_nanos for c in analysis_calls(execution)] == [ANALYSIS_BATCH_NANOS] * 2
    assert len(execution.lookups) == 1
    assert len(anthropic_fake.batch_requests()) == 2 and openai_fake.batch_lines() == []
    assert "submitted nothing; polled 0" in run_batches()
    assert_charged_as_billed(current_period(), anthropic_fake, openai_fake)  # the rest released


@time_machine.travel(NOW, tick=False)
def test_without_look_ups_a_batched_analysis_is_forced_to_plan(vendors, settings):
    settings.ANALYSIS_LOOKUPS = 0
    anthropic_fake, openai_fake = vendors
    new_task()

    run_batches()

    [request] = anthropic_fake.batch_requests()
    assert request["params"]["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert [tool["name"] for tool in request["params"]["tools"]] == ["submit_plan"]
    assert Execution.objects.get().analysis_request is None  # nothing to build a round on
    run_batches()
    run_batches()
    assert Execution.objects.get().status == Execution.Status.SUCCEEDED
    assert_charged_as_billed(current_period(), anthropic_fake, openai_fake)


class Crash(BaseException):
    """The process dies (not an error any code handles)."""


def dies_recording_the_look_up(monkeypatch):
    save = state.save

    def save_or_die(execution, now, **fields):
        if "lookups" in fields:
            raise Crash
        save(execution, now, **fields)

    monkeypatch.setattr(state, "save", save_or_die)


def dies_before_the_next_batch(monkeypatch):
    def die(waiting, step, *args):
        if step.name == "analysis":
            raise Crash

    monkeypatch.setattr(passes, "_follow_with", die)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("dies", "charged"), [(dies_recording_the_look_up, 1), (dies_before_the_next_batch, 2)]
)
def test_a_pass_that_dies_between_the_look_up_and_the_next_batch_loses_nothing_and_charges_once(
    vendors, monkeypatch, dies, charged
):
    """The round lives in the database: the pass after it (a new process) finds the show charged,
    records it once and sends the same follow-up."""
    anthropic_fake, openai_fake = vendors
    anthropic_fake.tool_calls = [("show", {"items": ["app/settings.py"]})] * 2  # one per task
    new_task(), new_task()
    run_batches()  # the analysis batch goes out
    with monkeypatch.context() as patched:
        dies(patched)
        with pytest.raises(Crash):
            run_batches_pass()
    assert ModelCall.objects.count() == charged  # and no follow-up sent
    assert len(anthropic_fake.batch_requests()) == 2

    with time_machine.travel(LATER, tick=False):  # the dead pass's lease ran out
        assert "submitted analysis batch" in run_batches()
        for _ in range(2):
            run_batches()

    for execution in Execution.objects.all():
        assert execution.status == Execution.Status.SUCCEEDED, execution.error
        assert execution.lookups == [{"asked": ["app/settings.py"], "shown": ["app/settings.py"]}]
        assert len(analysis_calls(execution)) == 2
    follow_ups = anthropic_fake.batch_requests()[2:]
    assert sorted(r["custom_id"] for r in follow_ups) == sorted(str(e.pk) for e in Execution.objects.all())
    for request in follow_ups:  # the look-up answered once, then the plan asked for
        assert [m["role"] for m in request["params"]["messages"]] == ["user", "assistant", "user"]
    charged_results = list(ModelCall.objects.values_list("result_key", flat=True))
    assert (
        len(charged_results) == len(set(charged_results)) == 6
    )  # each result once: 2 x (show, plan, change)
    assert_charged_as_billed(current_period(), anthropic_fake, openai_fake)
    assert_each_request_sent_once(anthropic_fake)
