"""Executions admin: read-only history with the paid calls inline and a link to the PR or branch."""

import subprocess

import pytest

from executions.backlog.services import create_task
from executions.models import Execution, StepConfig
from executions.pipeline.runner import run_execution
from tests.api.conftest import NOW, paid_execution

pytestmark = pytest.mark.django_db


def test_an_execution_shows_its_calls_cost_and_branch(admin_client, settings, pinned_clock):
    execution = run_execution(create_task(title="Add a CONTRIBUTING file"))

    page = admin_client.get(f"/admin/executions/execution/{execution.pk}/change/").content.decode()

    assert "$0.031275" in page  # the execution's cost
    assert "$0.0285" in page and "$0.002775" in page  # each call's cost, inline
    assert "claude-sonnet-4-5" in page and "gpt-4o-mini" in page
    assert f"<code>{execution.branch}</code> in {settings.LOCAL_REPO_PATH}" in page
    assert 'name="status"' not in page and "Save" not in page  # view-only


def test_a_github_pr_is_a_link(admin_client, frozen_now):
    execution = paid_execution("opened a PR", now=NOW).execution
    Execution.objects.filter(pk=execution.pk).update(
        publisher="github", pr_number=42, pr_url="https://github.com/acme/app/pull/42"
    )

    listing = admin_client.get("/admin/executions/execution/").content.decode()

    assert (
        '<a href="https://github.com/acme/app/pull/42" target="_blank" rel="noopener">PR #42</a>' in listing
    )


def test_a_github_branch_without_a_pr_links_to_the_branch(admin_client, settings, frozen_now):
    settings.GITHUB_REPOSITORY, settings.GITHUB_TOKEN = "acme/app", "ghp_configured"  # the task's repository
    settings.GITHUB_API_URL = "https://api.github.com"
    execution = paid_execution("branch only", now=NOW).execution
    Execution.objects.filter(pk=execution.pk).update(publisher="github", branch="orchestrator/task-7")

    page = admin_client.get(f"/admin/executions/execution/{execution.pk}/change/").content.decode()

    assert 'href="https://github.com/acme/app/tree/orchestrator/task-7"' in page


def test_executions_cannot_be_added_changed_or_deleted(admin_client, frozen_now):
    execution = paid_execution("history", now=NOW).execution

    assert admin_client.get("/admin/executions/execution/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/executions/execution/{execution.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Execution.objects.filter(pk=execution.pk).exists()


def test_a_step_can_only_use_a_model_in_the_catalog(admin_client):
    step = StepConfig.objects.get(step="analysis")

    refused = admin_client.post(
        f"/admin/executions/stepconfig/{step.pk}/change/",
        {"step": "analysis", "model_name": "gpt-9-imaginary", "max_tokens": "2048"},
    )
    accepted = admin_client.post(
        f"/admin/executions/stepconfig/{step.pk}/change/",
        {"step": "analysis", "model_name": "claude-sonnet-5-5", "max_tokens": "3000"},
    )

    assert "Unknown model &#x27;gpt-9-imaginary&#x27;" in refused.content.decode()
    assert accepted.status_code == 302
    step.refresh_from_db()
    assert (step.model_name, step.max_tokens) == ("claude-sonnet-5-5", 3000)


def test_a_step_sets_its_reasoning_effort_from_the_vendors_choices(admin_client):
    step = StepConfig.objects.get(step="codegen")
    url = f"/admin/executions/stepconfig/{step.pk}/change/"
    form = {"step": "codegen", "model_name": "gpt-6-luna", "max_tokens": "8192"}
    assert step.reasoning_effort == "low"  # the default for code generation on a reasoning model

    refused = admin_client.post(url, {**form, "reasoning_effort": "extreme"})
    accepted = admin_client.post(url, {**form, "reasoning_effort": "high"})

    assert "Select a valid choice. extreme is not one of the available choices." in refused.content.decode()
    assert accepted.status_code == 302
    step.refresh_from_db()
    assert (step.model_name, step.reasoning_effort) == ("gpt-6-luna", "high")
    page = admin_client.get(url).content.decode()
    assert '<option value="xhigh">Xhigh</option>' in page and '<option value="none">None</option>' in page


def test_an_execution_shows_its_plan_the_files_it_named_and_the_applied_diff(
    admin_client, settings, pinned_clock
):
    # Simulated mode edits an existing file of the sandbox (its README) and adds a note.
    execution = run_execution(create_task(title="Add a CONTRIBUTING file"))

    page = admin_client.get(f"/admin/executions/execution/{execution.pk}/change/").content.decode()

    assert execution.plan_files == ["README.md"]
    assert "Files named by the plan" in page and "Plan for: Add a CONTRIBUTING file" in page
    assert "docs/changes/add-a-contributing-file.md +" in page and ", README.md +1 −0" in page
    assert "+++ b/README.md" in page and "+Simulated change for: Add a CONTRIBUTING file" in page
    readme = subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, "show", f"{execution.branch}:README.md"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert readme.endswith("    git log --all --oneline\nSimulated change for: Add a CONTRIBUTING file\n")
