"""Branch names carry a prefix unique to the deployment, or the configured BRANCH_PREFIX (issue 20)."""

import subprocess

import pytest

from executions.backlog.services import create_task
from executions.models import Execution
from executions.pipeline.runner import run_execution
from executions.repositories.base import branch_name
from tests.test_settings import assert_configuration_error, manage

SECRET_A = "deployment-a-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
SECRET_B = "deployment-b-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def test_the_default_prefix_differs_between_deployments_and_hides_the_key(settings):
    settings.BRANCH_PREFIX = ""
    settings.SECRET_KEY = SECRET_A
    a = branch_name(12, "Add a health check")
    settings.SECRET_KEY = SECRET_B
    b = branch_name(12, "Add a health check")

    assert a != b
    for name in (a, b):
        prefix, _, rest = name.partition("/")
        assert prefix.startswith("ai-") and len(prefix) == len("ai-") + 8
        assert rest == "12-add-a-health-check"
    assert SECRET_A[:8] not in a and SECRET_B[:8] not in b


def test_the_default_prefix_is_the_same_for_every_retry(settings):
    settings.BRANCH_PREFIX = ""
    settings.SECRET_KEY = SECRET_A
    assert branch_name(12, "Add a health check") == branch_name(12, "Add a health check")


def test_a_configured_prefix_is_used_as_it_is(settings):
    settings.BRANCH_PREFIX = "bots/orchestrator-eu"
    assert branch_name(7, "Fix it") == "bots/orchestrator-eu/7-fix-it"


@pytest.mark.django_db
def test_the_local_git_branch_carries_the_prefix(settings, pinned_clock):
    settings.BRANCH_PREFIX = ""
    task = create_task(title="Document the settings")

    execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED
    assert execution.branch == branch_name(task.pk, task.title)
    assert execution.branch.startswith("ai-")
    listed = subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, "branch", "--list", "ai-*/*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert execution.branch in listed


@pytest.mark.parametrize("bad", ["has space", "a..b", "ends/", "-leading", "x.lock", "ti~lde"])
def test_a_bad_prefix_stops_start_up(bad):
    assert_configuration_error(
        manage("check", BRANCH_PREFIX=bad),
        f"BRANCH_PREFIX must be a git branch name part like ai or bots/orchestrator, not {bad!r}.",
    )
