"""Revisions with the local git gateway (no pull request): ``revise --task`` commits on the task's
latest branch, fast-forward only; and what ``revise`` refuses."""

import re
import subprocess
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from budget.models import Period
from executions.models import Execution, Revision
from executions.repositories.base import BranchGone, BranchMoved, Change, FileChange
from executions.repositories.local_git import LocalGitGateway
from tests.executions.conftest import assert_ledger_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]


def git(settings, *args):
    return subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, *args], capture_output=True, text=True, check=True
    ).stdout


def test_a_simulated_revision_is_one_more_commit_on_the_tasks_local_branch(settings):
    call_command("run_execution", "Add a health check endpoint", stdout=StringIO())
    first = Execution.objects.get()
    out = StringIO()

    call_command("revise", "Say how a reviewer can check it", task=first.task_id, stdout=out)
    call_command("run_execution", stdout=out)

    assert out.getvalue().startswith(
        f"Queued revision {Revision.objects.get().pk} of {first.branch} (command line)."
    )
    revised = Execution.objects.exclude(pk=first.pk).get()
    assert revised.status == "succeeded" and revised.simulated, revised.error
    assert (revised.revision.status, revised.base_sha, revised.branch) == (
        "succeeded",
        first.commit_sha,
        first.branch,
    )
    assert git(settings, "rev-parse", first.branch).strip() == revised.commit_sha
    assert git(settings, "rev-parse", f"{revised.commit_sha}^").strip() == first.commit_sha
    assert (
        git(settings, "log", "--format=%s", "-1", first.branch).strip()
        == "Revise: Add a health check endpoint"
    )
    note = git(settings, "show", f"{first.branch}:docs/changes/add-a-health-check-endpoint.md")
    assert "## Revision" in note and "Say how a reviewer can check it" in note
    period = Period.objects.get()
    assert (period.executions_count, period.succeeded_count, period.revisions_count, period.prs_count) == (
        2,
        2,
        1,
        0,
    )
    assert_ledger_consistent(period)
    # The same request on the same head is queued once.
    with pytest.raises(CommandError, match="Not queued: already queued"):
        call_command("revise", "Say how a reviewer can check it", task=first.task_id, stdout=StringIO())
        call_command("revise", "Say how a reviewer can check it", task=first.task_id, stdout=StringIO())


def test_revise_says_what_it_cannot_do():
    for options, message, code in (
        ({"pr": 7}, "The product opened no pull request #7", 2),
        ({"task": 99}, "There is no task 99", 2),
    ):
        with pytest.raises(CommandError, match=message) as raised:
            call_command("revise", "Do it", **options)
        assert raised.value.returncode == code
    with pytest.raises(CommandError, match="Say what to change") as raised:
        call_command("revise", "   ", task=1)
    assert raised.value.returncode == 2
    call_command("run_execution", "Add a changelog", stdout=StringIO())
    Execution.objects.update(status="failed", branch="")
    with pytest.raises(CommandError, match="has no published branch to revise yet") as raised:
        call_command("revise", "Do it", task=Execution.objects.get().task_id)
    assert raised.value.returncode == 1 and not Revision.objects.exists()


def test_commit_on_branch_is_a_fast_forward_or_nothing(settings):
    gateway = LocalGitGateway.from_settings()
    base = gateway.snapshot().commit_sha
    git(settings, "branch", "work", base)
    one = Change(summary="One.", files=[FileChange("a.txt", "a\n")], base_sha=base)

    head = gateway.commit_on_branch("work", one, parent=base, message="One")
    assert gateway.branch_head("work") == head and git(settings, "rev-parse", f"{head}^").strip() == base
    assert (
        gateway.commit_on_branch("work", one, parent=base, message="One") == head
    )  # a retry: the same commit
    two = Change(summary="Two.", files=[FileChange("b.txt", "b\n")], base_sha=base)
    with pytest.raises(BranchMoved) as moved:
        gateway.commit_on_branch("work", two, parent=base, message="Two")  # made on a head that moved on
    assert moved.value.head == head and gateway.branch_head("work") == head
    assert "+b" not in gateway.diff(base, head, max_bytes=10_000) and "+a" in gateway.diff(
        base, head, max_bytes=10_000
    )
    with pytest.raises(BranchGone):
        gateway.commit_on_branch("gone", two, parent=base, message="Two")
    assert gateway.branch_head("gone") is None


def test_a_long_diff_is_cut_on_a_line_within_its_cap(settings):
    gateway = LocalGitGateway.from_settings()
    base = gateway.snapshot().commit_sha
    git(settings, "branch", "big", base)
    big = Change(summary="Big.", files=[FileChange("big.txt", "".join(f"line {n}\n" for n in range(5000)))])
    head = gateway.commit_on_branch("big", big, parent=base, message="Big")

    diff = gateway.diff(base, head, max_bytes=2048)

    assert len(diff.encode()) <= 2048 and diff.endswith("bytes in all, over the 2,048 shown.]\n")
    assert re.fullmatch(r"\+line \d+", diff.splitlines()[-2])  # the last line kept is whole
