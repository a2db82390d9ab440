"""The local git gateway: a real repository on disk, one branch per task, one commit per execution."""

import subprocess

import pytest

from executions.backlog.services import create_task, requeue_task
from executions.models import Execution
from executions.pipeline.runner import run_execution
from executions.repositories.base import Change, FileChange, PublishError
from executions.repositories.gateways import get_gateway
from executions.repositories.local_git import LocalGitGateway

pytestmark = pytest.mark.django_db


def git(settings, *args):
    return subprocess.run(
        ["git", "-C", settings.LOCAL_REPO_PATH, *args], capture_output=True, text=True, check=True
    ).stdout


def an_execution(title="Add a changelog"):
    task = create_task(title=title)
    return Execution(pk=41, task=task, task_id=task.pk, simulated=True)


def change(**files):
    return Change(summary="A change.", files=[FileChange(p.replace("__", "/"), c) for p, c in files.items()])


def test_the_repository_is_created_on_first_use_with_a_readme(settings):
    gateway = get_gateway()

    snapshot = gateway.snapshot()

    assert isinstance(gateway, LocalGitGateway)
    assert snapshot.default_branch == "main" and list(gateway.list_files(snapshot.commit_sha)) == [
        "README.md"
    ]
    assert b"Sandbox repository" in gateway.read_files(snapshot.commit_sha, ["README.md"])["README.md"]
    assert git(settings, "log", "--format=%an <%ae> %s", "main").strip() == (
        "PR Orchestrator <orchestrator@localhost> Initial commit"
    )


def test_one_branch_per_task_whose_commit_is_the_latest_executions_change_on_main(settings, pinned_clock):
    task = create_task(title="Add a changelog")
    first = run_execution(task)
    requeue_task(task)
    task.description = "Also mention the date of each release."
    task.save()

    second = run_execution(task)
    other = run_execution(create_task(title="Add a licence"))

    assert first.branch == second.branch == f"ai/{task.pk}-add-a-changelog"
    assert other.branch != first.branch
    # A retry's commit replaces the earlier attempt's: the branch shows one change against main.
    assert git(settings, "rev-list", "--count", f"main..{first.branch}").strip() == "1"
    assert git(settings, "rev-parse", first.branch).strip() == second.commit_sha != first.commit_sha
    assert (
        git(settings, "rev-parse", f"{second.commit_sha}^").strip()
        == git(settings, "rev-parse", "main").strip()
    )
    assert "Also mention the date" in git(settings, "show", f"{first.branch}:docs/changes/add-a-changelog.md")
    assert git(settings, "rev-list", "--count", "main").strip() == "1"  # main is never touched
    assert git(settings, "status", "--porcelain") == ""  # nor is the working tree


def test_files_with_awkward_names_are_written_exactly(settings):
    gateway = LocalGitGateway.from_settings()
    files = {'docs/a "quoted" name.md': "one\n", "src/ünï côdé.py": "print('ok')\n", "glob*[x].txt": "*"}

    result = gateway.publish(
        an_execution(), Change("Awkward names.", [FileChange(p, c) for p, c in files.items()]), pr_body=""
    )

    for path, content in files.items():
        assert git(settings, "show", f"{result.commit_sha}:{path}") == content
    assert gateway.read_file("glob*[x].txt") is None  # only on the task's branch, not on main


def test_publishing_the_same_change_again_adds_no_commit():
    gateway = LocalGitGateway.from_settings()
    execution = an_execution()

    first = gateway.publish(execution, change(notes__a_md="hello\n"), pr_body="A body.")
    again = gateway.publish(execution, change(notes__a_md="hello\n"), pr_body="A body.")

    assert again.commit_sha == first.commit_sha


def test_a_change_identical_to_main_or_replacing_a_folder_is_refused():
    gateway = LocalGitGateway.from_settings()
    readme = gateway.read_file("README.md")

    with pytest.raises(PublishError, match="Nothing to publish"):
        gateway.publish(an_execution(), Change("Same.", [FileChange("README.md", readme)]), pr_body="")
    execution = an_execution("Add docs")
    gateway.publish(execution, change(docs__guide_md="guide\n"), pr_body="A body.")
    with pytest.raises(PublishError, match="as a file, but the repository has a folder there"):
        gateway.publish(execution, change(docs="flat\n"), pr_body="A body.")
    with pytest.raises(PublishError, match="as a folder, but the repository has a file there"):
        gateway.publish(execution, change(docs__guide_md__x="nested\n"), pr_body="A body.")


def test_read_file_answers_none_for_missing_or_unsafe_paths():
    gateway = LocalGitGateway.from_settings()

    assert gateway.read_file("README.md").startswith("# Sandbox repository")
    assert gateway.read_file("missing.md") is None
    assert gateway.read_file("../etc/passwd") is None
