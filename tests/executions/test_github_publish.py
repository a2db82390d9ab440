"""Publishing a change to GitHub: one commit, one branch, one PR, and a retry that adds nothing."""

import pytest

from executions.repositories.gateways import get_gateway
from executions.repositories.github import GitHubGateway
from executions.repositories.pr_body import pr_body_for
from tests.fakes.github import GOOD_TOKEN, SEED_FILES, make_execution, serving_github

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        yield fake


def commits_created(fake):
    return fake.requests_to("/git/commits", "POST")


def test_one_execution_becomes_one_commit_one_branch_one_labelled_pr(fake_github):
    execution, change = make_execution()
    base_head = fake_github.branch_head("main")
    gateway = get_gateway()
    assert isinstance(gateway, GitHubGateway)

    result = gateway.publish(execution, change, pr_body=pr_body_for(execution, change))

    assert result.branch == f"ai/{execution.task_id}-add-health-check-endpoint"
    assert fake_github.branch_head(result.branch) == result.commit_sha
    assert len(commits_created(fake_github)) == 1
    commit = fake_github.commits[result.commit_sha]
    assert commit["parents"] == [base_head]
    assert "Add health check endpoint" in commit["message"]
    files = fake_github.files_at(result.commit_sha)
    assert files == {**SEED_FILES, **{f.path: f.content for f in change.files}}
    assert fake_github.branch_head("main") == base_head  # the base is never touched

    [pull] = fake_github.open_pulls()
    assert (result.pr_number, result.opened_pr) == (pull["number"], True)
    assert result.pr_url == pull["html_url"]
    assert pull["base"]["ref"] == "main" and pull["head"]["ref"] == result.branch
    assert pull["title"] == "Add health check endpoint" and pull["draft"] is False
    assert [label["name"] for label in pull["labels"]] == ["ai-generated"]
    assert fake_github.repo().labels["ai-generated"]["description"]
    body = pull["body"]
    assert "Load balancers need a cheap probe." in body and "1. Add a view." in body
    assert "`app/health.py`" in body and "claude-sonnet-4-5" in body and "gpt-4o-mini" in body
    assert GOOD_TOKEN not in body
    assert not fake_github.requests_to("/merge")  # never merged


def test_publishing_the_same_execution_again_reuses_commit_and_pr(fake_github):
    execution, change = make_execution()
    gateway = get_gateway()
    first = gateway.publish(execution, change, pr_body="A body.")

    again = gateway.publish(execution, change, pr_body="A body.")

    assert (again.branch, again.commit_sha, again.pr_number) == (
        first.branch,
        first.commit_sha,
        first.pr_number,
    )
    assert again.opened_pr is False
    assert len(commits_created(fake_github)) == 1
    assert len(fake_github.open_pulls()) == 1
    assert len(fake_github.requests_to("/pulls", "POST")) == 1
    assert len(fake_github.requests_to(f"/issues/{first.pr_number}/labels", "POST")) == 1  # labelled once


def test_a_retried_task_reuses_the_branch_and_its_open_pr(fake_github):
    first_execution, change = make_execution()
    first = get_gateway().publish(first_execution, change, pr_body=pr_body_for(first_execution, change))
    first_execution.status = "failed"  # say its bookkeeping failed after publishing; the task retries
    first_execution.save()

    retry, same_change = make_execution(task=first_execution.task)
    result = get_gateway().publish(retry, same_change, pr_body=pr_body_for(retry, same_change))

    assert result.commit_sha == first.commit_sha and result.opened_pr is False
    assert len(commits_created(fake_github)) == 1
    [pull] = fake_github.open_pulls()
    assert pull["number"] == first.pr_number
    assert f"execution #{retry.pk}" in pull["body"]  # the body now describes the retry


def test_a_retry_with_different_content_moves_the_branch_and_keeps_the_pr(fake_github):
    first_execution, change = make_execution()
    first = get_gateway().publish(first_execution, change, pr_body=pr_body_for(first_execution, change))
    first_execution.status = "failed"
    first_execution.save()

    retry, new_change = make_execution(task=first_execution.task, files={"app/health.py": "# v2\n"})
    result = get_gateway().publish(retry, new_change, pr_body="A body.")

    assert result.commit_sha != first.commit_sha and result.pr_number == first.pr_number
    assert fake_github.branch_head(result.branch) == result.commit_sha
    assert fake_github.commits[result.commit_sha]["parents"] == [fake_github.branch_head("main")]
    assert fake_github.files_at(result.commit_sha)["app/health.py"] == "# v2\n"
    assert "app/urls.py" not in fake_github.files_at(result.commit_sha)  # one commit on the base, not stacked
    assert len(fake_github.open_pulls()) == 1


def test_draft_prs_and_a_configured_base_branch(fake_github, settings):
    repo = fake_github.repo()
    repo.refs["heads/develop"] = repo.refs["heads/main"]
    settings.GITHUB_BASE_BRANCH = "develop"
    settings.GITHUB_DRAFT_PRS = True
    execution, change = make_execution()

    get_gateway().publish(execution, change, pr_body="A body.")

    [pull] = fake_github.open_pulls()
    assert pull["draft"] is True and pull["base"]["ref"] == "develop"


def test_a_missing_base_branch_is_named(fake_github, settings):
    from executions.repositories.base import PublishError

    settings.GITHUB_BASE_BRANCH = "release"
    execution, change = make_execution()

    with pytest.raises(PublishError, match="Base branch 'release' does not exist.*Repositories in the admin"):
        get_gateway().publish(execution, change, pr_body="A body.")
    assert not fake_github.requests_to("/git/trees", "POST")


def test_a_change_identical_to_the_base_is_not_published(fake_github):
    from executions.repositories.base import PublishError

    execution, change = make_execution(files={"app/views.py": SEED_FILES["app/views.py"]})

    with pytest.raises(PublishError, match="Nothing to publish"):
        get_gateway().publish(execution, change, pr_body="A body.")
    assert not commits_created(fake_github) and not fake_github.repo().pulls


def test_publishing_is_polite_in_requests(fake_github):
    execution, change = make_execution()

    get_gateway().publish(execution, change, pr_body="A body.")

    # repo, base ref, base commit, tree, branch ref, commit, create ref, pulls, create PR, label x3
    assert len(fake_github.requests) <= 12
    assert all(r.headers["authorization"] == f"token {GOOD_TOKEN}" for r in fake_github.requests)
