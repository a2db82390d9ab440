"""A second look when an answer does not apply (issue 25, item 3): the coder is asked again with
its previous answer and what failed, each try charged on its own, within what was reserved. Over
real HTTP: the anthropic, openai and PyGithub SDKs against the fakes."""

import json
import re
from dataclasses import replace
from io import StringIO
from unittest.mock import Mock

import pytest
import time_machine
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from budget import ledger
from budget.catalog import ResolvedModel
from budget.models import LanguageModel, Price
from budget.periods import current_period
from budget.pricing import Usage, cost_nanos, input_token_bound, price_for
from executions.backlog.services import create_task
from executions.batches import passes
from executions.batches.passes import run_batches_pass
from executions.changes.coder import MAX_FAILURES_BYTES, failures_message
from executions.changes.proposal import EditFailure
from executions.costs.recap import period_facts
from executions.models import Batch, Execution, ModelCall, Task
from executions.pipeline.runner import prepare, run_execution
from executions.pipeline.steps import ANSWER_CUT, CODEGEN, Step, reflection_at_caps, reflection_request
from executions.providers import CompletionRequest, providers_for_mode
from executions.providers.openai import OpenAIProvider
from executions.repositories.gateways import get_gateway
from notifications.messages import compose
from notifications.models import Event
from notifications.recap import recap_facts
from tests.api.conftest import client_for
from tests.executions.conftest import assert_charged_as_billed, assert_ledger_consistent
from tests.fakes.anthropic import PLAN
from tests.fakes.github import SEED_FILES, serving_github
from tests.fakes.openai import API_KEY, change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

SETTINGS_PY = (
    '"""Settings of the widgets service."""\n\nimport os\n\nDEBUG = True\nALLOWED_HOSTS = ["*"]\n'
    'SECRET_KEY = os.environ["SECRET_KEY"]\n'
)
MISS = change(  # the model "remembers" single quotes and no spaces
    {
        "path": "app/settings.py",
        "action": "edit",
        "edits": [{"search": "DEBUG=True", "replace": "DEBUG=False"}],
    }
)
RIGHT = change(
    {
        "path": "app/settings.py",
        "action": "edit",
        "edits": [{"search": "DEBUG = True", "replace": "DEBUG = False"}],
    },
    summary="Turns DEBUG off.",
)


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        fake.add_repo("octo/widgets", files={**SEED_FILES, "app/settings.py": SETTINGS_PY})
        yield fake


@pytest.fixture
def planned(live, fake_github):
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_input = {"plan": PLAN, "files": ["app/settings.py"]}
    return anthropic_fake, openai_fake


def new_task() -> Task:
    return create_task(title="Turn DEBUG off", description="app/settings.py must not ship with DEBUG on.")


def coder_bound(task: Task) -> int:
    """The input bound the reservation gives each coder try, computed as ``prepare`` does."""
    return prepare(
        task, providers=providers_for_mode(), gateway=get_gateway()
    ).worst_case.codegen.input_tokens


def sent_bound(completion: dict) -> int:
    """The input bound of what the OpenAI fake received (every message and the schema)."""
    schema = json.dumps(completion["response_format"]["json_schema"]["schema"])
    return input_token_bound(*(m["content"] for m in completion["messages"]), schema)


def test_a_miss_then_a_right_answer_opens_one_pr_with_both_tries_charged(planned, fake_github, admin_client):
    anthropic_fake, openai_fake = planned
    openai_fake.answers = [MISS, RIGHT]
    task = new_task()
    reserved_bound = coder_bound(task)

    execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert len(fake_github.open_pulls()) == 1
    after = fake_github.files_at(execution.commit_sha)["app/settings.py"]
    assert after == SETTINGS_PY.replace("DEBUG = True", "DEBUG = False")
    # The second request: the first one unchanged, then the previous answer, then what failed with
    # the file's actual lines, numbered.
    first, second = openai_fake.completions()
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2] == {"role": "assistant", "content": MISS}
    told = second["messages"][3]
    assert told["role"] == "user"
    assert told["content"].startswith("Your previous answer could not be applied, so nothing was changed.")
    assert (
        '- edit 1 of "app/settings.py": the search text was not found (first line: "DEBUG=True")'
        in (told["content"])
    )
    assert "\n    5| DEBUG = True\n" in told["content"]  # the real line, with its number
    assert max(sent_bound(first), sent_bound(second)) <= reserved_bound
    # Two codegen calls, each charged to the nanodollar; the first with its failure.
    calls = list(execution.calls.order_by("pk"))
    assert [(c.step, c.try_number) for c in calls] == [("analysis", 1), ("codegen", 1), ("codegen", 2)]
    assert calls[1].failure == (
        'edit 1 of "app/settings.py": the search text was not found (first line: "DEBUG=True")'
    )
    assert calls[2].failure == ""
    usage = Usage.from_openai(openai_fake.usage)
    assert [c.cost_nanos for c in calls[1:]] == [cost_nanos(price_for("gpt-4o-mini"), usage)] * 2
    assert execution.cost_nanos == sum(c.cost_nanos for c in calls)
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)
    period = current_period()
    assert (period.applied_first_try_count, period.applied_after_retry_count, period.edit_failures_count) == (
        0,
        1,
        0,
    )
    # The admin shows each try with its failure.
    page = admin_client.get(f"/admin/executions/execution/{execution.pk}/change/").content.decode()
    assert re.findall(r'field-try_number">\s*<p>(\d+)</p>', page) == ["1", "1", "2"]
    assert "edit 1 of &quot;app/settings.py&quot;: the search text was not found" in page


def test_a_third_miss_fails_with_every_try_recorded_and_the_money_accounted_for(planned, fake_github):
    anthropic_fake, openai_fake = planned
    openai_fake.answers = [
        MISS,
        change({"path": "app/settings.py", "action": "edit"}),
        MISS,
    ]  # no pair: unread
    execution = run_execution(task := new_task())

    assert execution.status == Execution.Status.FAILED
    assert execution.error == (
        'edit 1 of "app/settings.py": the search text was not found (first line: "DEBUG=True"); the coder '
        "was asked 3 times and no answer applied; the task will be retried"
    )
    assert fake_github.repo().refs.keys() == {"heads/main"} and fake_github.open_pulls() == []
    codegen = list(execution.calls.filter(step=ModelCall.Step.CODEGEN).order_by("pk"))
    assert [c.try_number for c in codegen] == [1, 2, 3]
    assert codegen[1].failure == (
        'changes[0] (app/settings.py): an edit needs at least one {"search", "replace"} pair.'
    )
    assert codegen[0].failure == codegen[2].failure != ""
    # The third request was told about the second answer's failure, not the first's.
    third = openai_fake.completions()[2]
    assert 'an edit needs at least one {\\"search\\", \\"replace\\"} pair' in json.dumps(third["messages"][3])
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 1)
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)  # spent = the calls; none held
    period = current_period()
    assert (period.applied_after_retry_count, period.edit_failures_count, period.failed_count) == (0, 1, 1)


def test_a_try_billed_past_what_is_held_for_it_stops_the_coder(planned, settings):
    # After the plan, the reservation holds just the coder's first try (``holds.tighten``): a
    # first try billed past its own bound is an overrun, and no further call is made.
    anthropic_fake, openai_fake = planned
    settings.CODEGEN_REFLECTIONS = 1
    task = new_task()
    reserved = prepare(task, providers=providers_for_mode(), gateway=get_gateway()).worst_case_nanos
    prompt = reserved // 150  # more input than the whole reservation could pay for
    openai_fake.usage = {"prompt_tokens": prompt, "completion_tokens": 4000, "total_tokens": prompt + 4000}
    openai_fake.answers = [MISS, RIGHT]

    execution = run_execution(task)

    assert execution.status == Execution.Status.FAILED
    assert len(openai_fake.completions()) == 1  # the second try was not made
    assert "more than the request allowed" in execution.error
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)


class Crowded(OpenAIProvider):
    """The real OpenAI provider; while its first call is out, other work takes the month's rest
    (and, with ``spend``, spends it)."""

    spend = False

    def complete(self, request):
        if not hasattr(self, "other"):
            period = current_period()
            self.other = ledger.reserve(
                period.limit_nanos - period.spent_nanos - period.reserved_nanos - period.exposed_nanos
            )
            if self.spend:
                ledger.charge(
                    self.other,
                    self.other.held_nanos,
                    model_name="gpt-4o-mini",
                    provider="openai",
                    usage=Usage(1, 1),
                )
        return super().complete(request)


@pytest.mark.parametrize("spend", [False, True], ids=["busy", "spent"])
def test_a_further_try_is_held_when_it_is_needed_and_not_made_without_room(planned, spend):
    """A further try is held when a miss asks for it, not from the start: when other work has
    taken the month's rest meanwhile, it is not made, and the execution says why."""
    anthropic_fake, openai_fake = planned
    openai_fake.answers = [MISS, RIGHT]
    coder = Crowded()
    coder.spend = spend
    task = new_task()

    execution = run_execution(task, providers=replace(providers_for_mode(), codegen=coder))

    assert execution.status == Execution.Status.FAILED
    assert len(openai_fake.completions()) == 1  # the second try was not made
    assert "a further try (2 of 3, up to $" in execution.error
    if spend:
        assert "not enough for it beside what this execution holds" in execution.error
    else:
        assert "running work holds" in execution.error
    assert execution.reserved_nanos == execution.reservation.amount_nanos  # never grew
    ledger.release(coder.other)
    period = current_period()
    assert period.spent_nanos <= period.limit_nanos and (period.reserved_nanos, period.exposed_nanos) == (
        0,
        0,
    )
    assert period.exhausted_at is None  # a try done without is not the month's end


def test_a_further_try_is_held_then_made_when_the_month_has_room(planned):
    anthropic_fake, openai_fake = planned
    openai_fake.answers = [MISS, RIGHT]

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    reservation = execution.reservation
    reservation.refresh_from_db()
    assert reservation.amount_nanos > execution.reserved_nanos  # grew by the second try, when needed
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)


def test_without_reflections_the_first_miss_ends_the_execution(planned, settings):
    anthropic_fake, openai_fake = planned
    settings.CODEGEN_REFLECTIONS = 0
    openai_fake.answers = [MISS, RIGHT]

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.FAILED
    assert execution.error == (
        'edit 1 of "app/settings.py": the search text was not found (first line: "DEBUG=True"); '
        "the task will be retried"
    )
    assert len(openai_fake.completions()) == 1
    assert_ledger_consistent(execution.period)


def test_a_vendor_error_on_a_further_try_fails_the_execution_as_today(planned):
    anthropic_fake, openai_fake = planned
    quoting_a_secret = change(  # a search quoting the API key: its failure is stored masked
        {
            "path": "app/settings.py",
            "action": "edit",
            "edits": [{"search": f"KEY = '{API_KEY}'", "replace": "x"}],
        }
    )
    openai_fake.answers = [quoting_a_secret, 500, 500, 500, 500]  # the second try: a 500 every SDK retry

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.FAILED
    assert execution.error == "OpenAI server error (500) after 3 retries; the task will be retried"
    assert len(openai_fake.completions()) == 5
    [call] = execution.calls.filter(step="codegen")  # the one answer, charged
    assert call.failure.startswith('edit 1 of "app/settings.py": the search text was not found')
    assert API_KEY not in call.failure and "KEY = " in call.failure
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)
    assert current_period().edit_failures_count == 0  # the vendor's failure, not the edits'


def test_the_month_counts_first_tries_retries_and_edit_failures_everywhere(planned, django_user_model):
    _anthropic_fake, openai_fake = planned
    openai_fake.answers = [RIGHT, MISS, RIGHT, MISS, MISS, MISS]
    for _ in range(3):
        run_execution(new_task())
    out = StringIO()
    call_command("budget", "status", "--json", stdout=out)
    api = client_for(django_user_model.objects.create_user("member", password="member-pass-123"))
    period = current_period()

    status = json.loads(out.getvalue())
    current = api.get("/api/v1/usage/current/").json()
    [month] = api.get("/api/v1/usage/months/").json()
    recap = recap_facts(period, executions=period_facts(period))
    for figures in (status, current, month, recap):
        assert (figures["applied_first_try"], figures["applied_after_retry"], figures["edit_failures"]) == (
            1,
            1,
            1,
        )
    [edits] = [f for f in compose(Event(kind="monthly_recap", payload=recap)).fields if f.name == "Edits"]
    assert edits.value == "1 applied on the first try · 1 after a retry · 1 never applied"
    text = StringIO()
    call_command("budget", "status", stdout=text)
    assert "  Edits       1 applied on the first try, 1 after a retry, 1 never applied\n" in text.getvalue()


# --- batch mode: the next try goes out in the next OpenAI batch, at the batch price -------------

_MODEL = LanguageModel(name="gpt-4o-mini", provider="openai")
CODER = Step(CODEGEN, ResolvedModel("gpt-4o-mini", _MODEL, Price(model=_MODEL)), max_tokens=8192)
CODEGEN_BATCH_NANOS = 2500 * 200 + 4000 * 800  # the fake's usage at half of gpt-4.1-mini's rates
LATER = "2026-11-15 12:45Z"  # past a pass's lease (Q_TIMEOUT_SECONDS)


@pytest.fixture
def batched(batch_mode, fake_github):
    anthropic_fake, openai_fake = batch_mode
    anthropic_fake.tool_input = {"plan": PLAN, "files": ["app/settings.py"]}
    return anthropic_fake, openai_fake


def test_in_batch_mode_a_miss_is_asked_again_in_the_next_codegen_batch_at_batch_price(batched, fake_github):
    anthropic_fake, openai_fake = batched
    openai_fake.answers = [MISS, RIGHT]
    task = new_task()

    reports = [run_batches_pass().line() for _ in range(4)]

    assert reports[2].startswith("submitted codegen batch")  # the miss, asked again
    execution = Execution.objects.get(task=task)
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert len(fake_github.open_pulls()) == 1
    first, second = openai_fake.batch_lines()
    assert first["custom_id"] == second["custom_id"] == str(execution.pk)
    assert second["body"]["messages"][:2] == first["body"]["messages"]  # the same prompt, rebuilt
    assert second["body"]["messages"][2] == {"role": "assistant", "content": MISS}
    assert "\n    5| DEBUG = True\n" in second["body"]["messages"][3]["content"]
    assert openai_fake.completions() == []  # nothing went through the synchronous API
    codegen = list(execution.calls.filter(step="codegen").order_by("pk"))
    assert [(c.try_number, c.batch.step, c.cost_nanos) for c in codegen] == [
        (1, "codegen", CODEGEN_BATCH_NANOS),
        (2, "codegen", CODEGEN_BATCH_NANOS),
    ]
    assert codegen[0].batch_id != codegen[1].batch_id
    assert codegen[0].result_key != codegen[1].result_key
    assert set(Batch.objects.values_list("status", flat=True)) == {Batch.Status.ENDED}
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)
    assert current_period().applied_after_retry_count == 1


def test_in_batch_mode_a_third_miss_fails_with_every_try_charged_once(batched, fake_github):
    anthropic_fake, openai_fake = batched
    openai_fake.answers = [MISS, MISS, MISS, RIGHT]
    task = new_task()
    Task.objects.filter(pk=task.pk).update(max_attempts=1)  # not started again by the last pass

    reports = [run_batches_pass().line() for _ in range(5)]

    assert reports[4] == "submitted nothing; polled 1 batch(es); finished 1 execution(s)"
    execution = Execution.objects.get(task=task)
    assert execution.status == Execution.Status.FAILED
    assert "the coder was asked 3 times and no answer applied" in execution.error
    assert [c.try_number for c in execution.calls.filter(step="codegen")] == [1, 2, 3]
    assert Batch.objects.filter(step="codegen").count() == 3
    assert len(openai_fake.batch_lines()) == 3 and fake_github.open_pulls() == []
    task.refresh_from_db()
    assert task.status == Task.Status.FAILED
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)
    assert current_period().edit_failures_count == 1


def test_after_a_batched_analysis_the_coder_keeps_the_tries_it_was_allowed(batched, settings):
    anthropic_fake, openai_fake = batched
    task = new_task()
    Task.objects.filter(pk=task.pk).update(max_attempts=1)  # not started again by the same pass
    run_batches_pass()  # the analysis batch: three coder tries allowed
    settings.CODEGEN_REFLECTIONS = 6  # an edit meanwhile applies to the next executions only

    run_batches_pass()

    execution = Execution.objects.get(task=task)
    assert execution.codegen_tries == 3
    assert execution.status == Execution.Status.GENERATING
    assert len(openai_fake.batch_lines()) == 1
    held = execution.reservation.held_nanos
    execution.reservation.refresh_from_db()
    assert execution.reservation.held_nanos <= held  # tightened to the coder's first try


def test_a_pass_that_dies_after_charging_a_miss_leaves_the_retry_to_the_next_pass(batched, monkeypatch):
    anthropic_fake, openai_fake = batched
    openai_fake.answers = [MISS, RIGHT]
    task = new_task()
    for _ in range(2):
        run_batches_pass()  # analysis batch, then its codegen batch
    follow = passes._follow_with
    monkeypatch.setattr(passes, "_follow_with", Mock(side_effect=RuntimeError("the worker died")))
    with pytest.raises(RuntimeError):
        run_batches_pass()  # the miss is charged, then the pass dies before asking again
    monkeypatch.setattr(passes, "_follow_with", follow)

    with time_machine.travel(LATER, tick=True):  # the dead pass's lease has run out
        reports = [run_batches_pass().line() for _ in range(2)]

    assert reports[0].startswith("submitted codegen batch")
    execution = Execution.objects.get(task=task)
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert [c.try_number for c in execution.calls.filter(step="codegen")] == [1, 2]  # the miss charged once
    assert len(openai_fake.batch_lines()) == 2
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)


# --- the bound of a further try --------------------------------------------------------------

failure = st.builds(
    EditFailure,
    path=st.text(max_size=300),
    reason=st.text(max_size=400),
    edit=st.one_of(st.none(), st.integers(1, 50)),
    lines=st.text(max_size=3_000),
)


@given(
    answer=st.text(max_size=40_000),
    failures=st.lists(failure, max_size=60),
    max_tokens=st.integers(1, 20_000),
)
@settings(max_examples=60, deadline=None)
def test_a_further_try_never_sends_more_than_its_bound(answer, failures, max_tokens):
    step = replace(CODER, max_tokens=max_tokens)
    prompt = CompletionRequest(
        model="gpt-4o-mini", system="instructions", user="the task", max_tokens=max_tokens
    )
    message = failures_message(failures)

    request = reflection_request(step, prompt, answer, message)

    assert len(message.encode()) <= MAX_FAILURES_BYTES
    assert request.turns[0] == answer or request.turns[0].endswith(ANSWER_CUT) or not answer
    assert request.input_token_bound() <= reflection_at_caps(step, prompt).input_token_bound()


def test_a_long_list_of_failures_is_cut_and_counted():
    failures = [
        EditFailure("app/x.py", f"the search text was not found ({n})", n + 1, "1| x\n" * 300)
        for n in range(40)
    ]

    message = failures_message(failures)

    assert len(message.encode()) <= MAX_FAILURES_BYTES
    assert '- edit 1 of "app/x.py": the search text was not found (0)\n' in message
    assert message.endswith(" more not listed here (this message is limited in size)\n")
