"""End to end: the real anthropic, openai and PyGithub SDKs against three fakes, through the command."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from budget.models import Period
from budget.money import format_usd
from budget.pricing import price_for
from executions.models import Execution, ModelCall, Task
from tests.executions.conftest import assert_ledger_consistent
from tests.fakes.anthropic import API_KEY as ANTHROPIC_KEY
from tests.fakes.github import GOOD_TOKEN, SEED_FILES, serving_github
from tests.fakes.openai import API_KEY as OPENAI_KEY
from tests.fakes.openai import CHANGE

# The seeded models and their prices are the ones in service on the pinned day.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        yield fake


def expected_cost(anthropic_fake, openai_fake) -> int:
    """What the fakes' reported usage costs at the seeded prices, computed here independently."""
    sonnet, mini = price_for("claude-sonnet-4-5"), price_for("gpt-4o-mini")
    a, o = anthropic_fake.usage, openai_fake.usage
    return (
        a["input_tokens"] * sonnet.input_nanos
        + a["output_tokens"] * sonnet.output_nanos
        + o["prompt_tokens"] * mini.input_nanos
        + o["completion_tokens"] * mini.output_nanos
    )


def test_run_execution_opens_the_pr_and_the_ledger_matches(live, fake_github, capsys):
    anthropic_fake, openai_fake = live

    call_command("run_execution", "Add health check endpoint")

    execution = Execution.objects.get()
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert execution.publisher == "github" and not execution.simulated
    # The analyst saw the GitHub repository.
    [message] = anthropic_fake.messages()
    assert 'Repository: "octo/widgets" (commit ' in message["system"][0]["text"]
    assert "docs/TODO.md" in message["system"][0]["text"]
    # One commit on the base with every generated file, one branch, one open PR, recorded.
    [pull] = fake_github.open_pulls()
    assert (execution.pr_number, execution.pr_url) == (pull["number"], pull["html_url"])
    assert execution.branch == pull["head"]["ref"] == f"ai/{execution.task_id}-add-health-check-endpoint"
    assert fake_github.branch_head(execution.branch) == execution.commit_sha
    assert fake_github.commits[execution.commit_sha]["parents"] == [fake_github.branch_head("main")]
    generated = {f["path"]: f["content"] for f in CHANGE["changes"]}
    assert fake_github.files_at(execution.commit_sha) == {**SEED_FILES, **generated}
    assert execution.pr_url in capsys.readouterr().out
    # The ledger: spent = sum of the calls = the fakes' usage at the price list, to the nanodollar.
    period = Period.objects.get(pk=execution.period_id)
    charged = ModelCall.objects.aggregate(total=Sum("cost_nanos"))["total"]
    assert period.spent_nanos == charged == execution.cost_nanos == expected_cost(anthropic_fake, openai_fake)
    assert (period.prs_count, period.succeeded_count) == (1, 1)
    assert_ledger_consistent(period)
    # The PR body shows those same figures, and no secret.
    assert "**Total** | 2 |" in pull["body"] and f"**{format_usd(charged)}**" in pull["body"]
    assert f"**Month to date ({period.month:%Y-%m}):** {format_usd(period.spent_nanos)}" in pull["body"]
    for secret in (GOOD_TOKEN, ANTHROPIC_KEY, OPENAI_KEY):
        assert secret not in pull["body"] and secret not in execution.error
    assert [label["name"] for label in pull["labels"]] == ["ai-generated"]


def test_a_publishing_failure_keeps_the_charges_and_the_retry_reuses_branch_and_commit(
    live, fake_github, settings
):
    anthropic_fake, openai_fake = live
    fake_github.fail_on("POST", "/pulls", 403, {"message": "Resource not accessible by integration"})

    with pytest.raises(CommandError, match="GitHub refused opening the pull request"):
        call_command("run_execution", "Add health check endpoint")

    failed = Execution.objects.get()
    task = Task.objects.get()
    branch = f"ai/{task.pk}-add-health-check-endpoint"
    assert failed.status == Execution.Status.FAILED and GOOD_TOKEN not in failed.error
    assert f"is on branch {branch}; a retry reuses it" in failed.error  # where the work is
    assert fake_github.branch_head(branch) is not None and not fake_github.repo().pulls
    assert task.status == Task.Status.PENDING  # it will be retried
    assert_ledger_consistent(failed.period)  # the two calls stay charged, nothing more

    call_command("run_execution", task=task.pk)

    retried = Execution.objects.exclude(pk=failed.pk).get()
    assert retried.status == Execution.Status.SUCCEEDED, retried.error
    [pull] = fake_github.open_pulls()
    assert retried.pr_number == pull["number"]
    assert len(fake_github.requests_to("/git/commits", "POST")) == 1  # same content: the commit reused
    period = Period.objects.get(pk=retried.period_id)
    assert period.spent_nanos == 2 * expected_cost(anthropic_fake, openai_fake)  # two runs, each once
    assert (period.prs_count, period.failed_count, period.succeeded_count) == (1, 1, 1)
    assert_ledger_consistent(period)
