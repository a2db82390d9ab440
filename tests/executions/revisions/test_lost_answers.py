"""A GitHub write that landed although its answer was lost (a 502 after GitHub applied it) is done:
read back, never paid for again. On PostgreSQL, with the fakes' billing records compared to the
ledger."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command

from budget.models import Period
from executions.models import Execution, IssueComment, PullRequest, Revision, Task
from executions.repositories.comments import post_due
from tests.executions.conftest import assert_charged_as_billed
from tests.fakes.server import DROP

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.usefixtures("pinned_clock")]

LOST = {"message": "Bad Gateway"}


def coder_calls(openai_fake) -> int:
    return len(openai_fake.completions())


@pytest.mark.parametrize("answer", [502, DROP], ids=["502", "connection reset"])
def test_a_revision_commit_github_applied_but_lost_the_answer_for_is_done_and_paid_once(
    live, fake_github, pr, run, answer
):
    anthropic_fake, openai_fake = live
    call_command("revise", "Answer with the version too", pr=pr.number)
    before = coder_calls(openai_fake)
    # GitHub moves the branch, then answers 502 or drops the connection (PyGithub does not retry a PATCH).
    fake_github.fail_on("PATCH", f"/git/refs/heads/{pr.head_branch}", answer, LOST, after_handling=True)

    run()

    revision = Revision.objects.get()
    [revised] = Execution.objects.filter(revision=revision)
    assert (revision.status, revised.status) == ("succeeded", "succeeded"), revised.error
    head = fake_github.branch_head(pr.head_branch)
    assert revision.commit_sha == revised.commit_sha == head
    pr.refresh_from_db()
    assert pr.head_sha == head  # the stored head is the branch's
    # The coder ran once for the revision; nothing is left to run, so nothing is paid again.
    assert coder_calls(openai_fake) == before + 1
    run()  # nothing is pending: the revision is not run again
    assert coder_calls(openai_fake) == before + 1
    assert_charged_as_billed(Period.objects.get(pk=revised.period_id), anthropic_fake, openai_fake)
    said = [c["body"] for c in fake_github.issue_comments(pr.number)]
    assert len(said) == 1 and said[0].startswith(f"Pushed {head[:12]}")


def test_a_pull_request_github_opened_but_answered_502_for_is_recorded_and_paid_once(live, fake_github, run):
    anthropic_fake, openai_fake = live
    # Every try of opening it (PyGithub retries the POST) lands and answers 502.
    fake_github.fail_on("POST", "/pulls", 502, LOST, times=10, after_handling=True)

    run("Add health check endpoint")

    [pull] = fake_github.repo().pulls
    [execution] = Execution.objects.all()
    assert execution.status == "succeeded", execution.error
    assert (execution.pr_number, execution.pr_url) == (pull["number"], pull["html_url"])
    assert PullRequest.objects.get().number == pull["number"]
    assert Task.objects.get().status == Task.Status.DONE  # not retried: the coder is not paid again
    assert coder_calls(openai_fake) == 1
    assert_charged_as_billed(Period.objects.get(pk=execution.period_id), anthropic_fake, openai_fake)


def test_a_comment_github_took_but_answered_502_for_is_posted_once_at_once(live, fake_github, pr, run):
    call_command("revise", "Answer with the version too", pr=pr.number)
    fake_github.fail_on("POST", f"/issues/{pr.number}/comments", 502, LOST, after_handling=True)

    run()

    owed = IssueComment.objects.get(key__startswith="revision:")
    assert owed.status == IssueComment.Status.POSTED and owed.comment_id
    [comment] = fake_github.issue_comments(pr.number)
    assert comment["id"] == owed.comment_id
    with time_machine.travel(owed.due_at + dt.timedelta(hours=2), tick=False):
        post_due()
    assert len(fake_github.issue_comments(pr.number)) == 1
