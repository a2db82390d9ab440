"""Closing the loop on GitHub: an issue's PR says ``Closes #N``; its issue gets one comment when the
PR opens (with its cost) and one when its task fails for good (the reason, no secret). Posted
right after the fact commits; retried when GitHub cannot take it, never posted twice."""

import datetime as dt

import pytest
import time_machine

from budget.money import format_usd
from executions.backlog.services import create_task, requeue_task
from executions.github.issues import sync_issues
from executions.models import Execution, IssueComment, PullRequest, Task
from executions.pipeline.runner import run_execution
from executions.repositories.comments import post_due
from tests.fakes.anthropic import API_KEY as ANTHROPIC_KEY
from tests.fakes.github import GOOD_TOKEN, serving_github
from tests.fakes.openai import API_KEY as OPENAI_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

LABEL = "pr-orchestrator"


@pytest.fixture
def github(settings):
    with serving_github(settings) as fake:
        yield fake


@pytest.fixture
def issue(github) -> dict:
    """A labelled issue, polled into a task of octo/widgets."""
    create_task(title="Seed the default repository")  # octo/widgets exists as a repository
    opened = github.open_issue("Add a health check", "GET /health/ answers 200.", labels=(LABEL,))
    sync_issues()
    return opened


def issue_task() -> Task:
    return Task.objects.get(source=Task.Source.GITHUB_ISSUE)


def test_the_pr_closes_its_issue_and_the_issue_hears_of_it_once(
    github, issue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        execution = run_execution(issue_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    [pull] = github.open_pulls()
    assert f"Closes #{issue['number']}" in pull["body"]
    [comment] = github.issue_comments(issue["number"])
    assert comment["body"].startswith(
        f"Opened pull request #{pull['number']} for this issue: {pull['html_url']}"
    )
    assert f"It cost {format_usd(execution.cost_nanos)} in model calls" in comment["body"]
    assert IssueComment.objects.get().status == IssueComment.Status.POSTED

    # A retry of the task publishes on the same branch and reuses the open PR: no second comment.
    Task.objects.filter(pk=execution.task_id).update(status=Task.Status.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        again = run_execution(issue_task())

    assert again.status == Execution.Status.SUCCEEDED and again.pr_number == pull["number"]
    assert len(github.issue_comments(issue["number"])) == 1
    assert PullRequest.objects.count() == 1


def test_a_task_that_is_not_from_an_issue_comments_nowhere(github, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        execution = run_execution(create_task(title="Add a changelog"))

    [pull] = github.open_pulls()
    assert "Closes #" not in pull["body"]
    assert execution.status == Execution.Status.SUCCEEDED and not IssueComment.objects.exists()
    assert not github.requests_to("/comments")


def test_a_task_that_fails_for_good_says_why_once(live, github, issue, django_capture_on_commit_callbacks):
    anthropic_fake, _ = live
    Task.objects.filter(source=Task.Source.GITHUB_ISSUE).update(max_attempts=2)
    anthropic_fake.fail(529, times=8)

    with django_capture_on_commit_callbacks(execute=True):
        first = run_execution(issue_task())
    assert first.status == Execution.Status.FAILED
    assert github.issue_comments(issue["number"]) == []  # it will be retried: nothing to say yet

    with django_capture_on_commit_callbacks(execute=True):
        last = run_execution(issue_task())

    assert last.error.endswith("no attempts left (2 of 2), the task has failed")
    [comment] = github.issue_comments(issue["number"])
    body = comment["body"]
    assert body.startswith(
        "The automation gave up on this issue after 2 attempts: Anthropic is overloaded (529)"
    )
    assert "requeue the task in the admin" in body
    for secret in (GOOD_TOKEN, ANTHROPIC_KEY, OPENAI_KEY):
        assert secret not in body
    assert "Traceback" not in body

    # Requeued by hand, it fails for good again: that is a new fact, said once more.
    requeue_task(issue_task())
    Task.objects.filter(source=Task.Source.GITHUB_ISSUE).update(max_attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        run_execution(issue_task())
    assert len(github.issue_comments(issue["number"])) == 2


def test_a_comment_github_cannot_take_is_posted_by_the_next_poll(
    github, issue, django_capture_on_commit_callbacks
):
    github.fail_on("POST", f"/issues/{issue['number']}/comments", 502, {"message": "Server Error"})

    with django_capture_on_commit_callbacks(execute=True):
        run_execution(issue_task())

    owed = IssueComment.objects.get()
    assert (owed.status, owed.attempts) == (IssueComment.Status.PENDING, 1)
    assert "GitHub failed while commenting on" in owed.error  # tried once: a repeat could duplicate it
    assert github.issue_comments(issue["number"]) == []

    with time_machine.travel(owed.due_at + dt.timedelta(seconds=1), tick=False):
        assert sync_issues().comments_posted == 1

    assert len(github.issue_comments(issue["number"])) == 1
    owed.refresh_from_db()
    assert owed.status == IssueComment.Status.POSTED and owed.comment_id


def test_a_lost_answer_is_not_posted_twice(github, issue, django_capture_on_commit_callbacks):
    github.fail_on(
        "POST", f"/issues/{issue['number']}/comments", 502, {"message": "Bad Gateway"}, after_handling=True
    )

    with django_capture_on_commit_callbacks(execute=True):
        run_execution(issue_task())
    [comment] = github.issue_comments(issue["number"])  # it landed; the answer did not
    owed = IssueComment.objects.get()
    # Read back at once: the comment is there, so it is posted, not tried again.
    assert (owed.status, owed.comment_id, owed.attempts) == (IssueComment.Status.POSTED, comment["id"], 1)

    with time_machine.travel(owed.due_at + dt.timedelta(hours=2), tick=False):
        post_due()

    assert len(github.issue_comments(issue["number"])) == 1


def test_a_lost_answer_that_cannot_be_read_back_is_checked_before_the_next_try(
    github, issue, django_capture_on_commit_callbacks
):
    number = issue["number"]
    github.fail_on("POST", f"/issues/{number}/comments", 502, {"message": "Bad Gateway"}, after_handling=True)
    github.fail_on("GET", f"/issues/{number}/comments", 502, {"message": "Bad Gateway"})

    with django_capture_on_commit_callbacks(execute=True):
        run_execution(issue_task())
    owed = IssueComment.objects.get()
    assert owed.status == IssueComment.Status.PENDING  # it may be there: not repeated at once

    with time_machine.travel(owed.due_at + dt.timedelta(seconds=1), tick=False):
        post_due()

    assert len(github.issue_comments(number)) == 1
    owed.refresh_from_db()
    assert owed.status == IssueComment.Status.POSTED
