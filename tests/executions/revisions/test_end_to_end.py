"""Pull requests that answer back: failed checks and review comments become follow-up commits on
the same pull request, paid from the same budget. The real anthropic, openai and PyGithub SDKs
against the three fakes; GitHub's deliveries through the signed webhook."""

import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from budget.models import Period
from budget.money import format_usd
from executions.models import Execution, IssueComment, ModelCall, PullRequest, Revision
from tests.executions.conftest import assert_charged_as_billed
from tests.executions.outcomes import deliver
from tests.executions.revisions.conftest import FIXED
from tests.fakes.anthropic import user_text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]


def fail_the_checks(fake_github, pr: PullRequest) -> None:
    fake_github.add_check_run(
        pr.head_sha,
        "tests",
        conclusion="failure",
        title="1 test failed",
        summary="test_health_reports_the_version failed",
        annotations=[{"path": "app/health.py", "start_line": 5, "message": "KeyError: 'version'"}],
    )


def test_a_failed_check_becomes_one_commit_on_the_same_pull_request(live, fake_github, pr, client, run):
    anthropic_fake, openai_fake = live
    opening = pr.execution
    fail_the_checks(fake_github, pr)

    response, _ = deliver(client, "check_run", fake_github.check_run_event(pr.head_sha, "tests"))
    assert response.status_code == 200, response.content
    # The same failure seen again: by its check suite, a redelivery, and the poll.
    suite = {
        "action": "completed",
        "check_suite": {"head_sha": pr.head_sha, "conclusion": "failure", "app": {"slug": "github-actions"}},
        "repository": {"full_name": "octo/widgets"},
    }
    assert deliver(client, "check_suite", suite)[0].status_code in (200, 204)
    assert (
        deliver(client, "check_run", fake_github.check_run_event(pr.head_sha, "tests"))[0].status_code == 204
    )
    call_command("sync_pull_requests")
    [revision] = Revision.objects.all()
    assert (revision.kind, revision.status, revision.pull_request, revision.branch) == (
        "checks", "pending", pr, pr.head_branch,
    )  # fmt: skip

    run()  # the next pending work: the revision

    revised = Execution.objects.get(revision=revision)
    assert revised.status == Execution.Status.SUCCEEDED, revised.error
    assert (revised.task_id, revised.base_sha) == (opening.task_id, opening.commit_sha)
    # One new commit on the same branch, on the PR's head, fast-forward; no new pull request.
    [pull] = fake_github.repo().pulls
    assert fake_github.branch_head(pr.head_branch) == revised.commit_sha == pull["head"]["sha"]
    assert fake_github.commits[revised.commit_sha]["parents"] == [opening.commit_sha]
    assert FIXED in fake_github.files_at(revised.commit_sha)["app/health.py"]
    assert all(
        r.json["force"] is False
        for r in fake_github.requests_to(f"/git/refs/heads/{pr.head_branch}", "PATCH")
    )
    # The analyst saw the task, the failed check with its output and annotation, and the PR's diff.
    prompt = user_text(anthropic_fake.messages()[-1], -1)
    for seen in ('"name": "tests"', '"conclusion": "failure"', "1 test failed", "KeyError: 'version'",
                 '"path": "app/health.py"', "+++ b/app/health.py", "Add health check endpoint"):  # fmt: skip
        assert seen in prompt, seen
    # One comment on the PR: what changed and what it cost; the body shows the PR's total.
    revision.refresh_from_db()
    assert (revision.status, revision.commit_sha) == ("succeeded", revised.commit_sha)
    [comment] = fake_github.issue_comments(pr.number)
    assert f"Pushed {revised.commit_sha[:12]}" in comment["body"]
    assert "`app/health.py` +1 −1" in comment["body"] and format_usd(revised.cost_nanos) in comment["body"]
    total = opening.cost_nanos + revised.cost_nanos
    assert f"has cost {format_usd(total)} in all" in comment["body"]
    assert "## Revisions (1)" in pull["body"] and f"**{format_usd(total)}**" in pull["body"]
    # Both executions charged, exactly as billed; the month counts the revision.
    assert ModelCall.objects.filter(execution=revised).count() == 2
    period = Period.objects.get(pk=revised.period_id)
    assert period.revisions_count == 1 and period.prs_count == 1
    assert_charged_as_billed(period, anthropic_fake, openai_fake)
    # The PR follows its new head; its checks start over.
    pr.refresh_from_db()
    assert (pr.head_sha, pr.checks) == (revised.commit_sha, "pending")

    # Merged after the revision: counted so.
    fake_github.merge_pull(pr.number)
    payload = fake_github.pull_request_event("closed", pr.number)
    assert deliver(client, "pull_request", payload)[0].status_code == 200
    period.refresh_from_db()
    assert (period.merged_prs_count, period.merged_after_revision_count) == (1, 1)


def test_a_collaborators_trigger_asks_for_a_revision_and_no_one_elses(
    live, fake_github, pr, client, caplog, run
):
    caplog.set_level(logging.INFO, logger="executions.github.webhooks")
    for association in ("CONTRIBUTOR", "NONE", "FIRST_TIME_CONTRIBUTOR"):
        comment = fake_github.comment_on(
            pr.number, "/revise add the version", user="drive-by", association=association
        )
        response, _ = deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, comment))
        assert response.status_code == 204
    assert "may not ask octo/widgets#1 for a revision" in caplog.text
    # The product's own words never ask, even posted with the owner's token.
    fake_github.token_association = "OWNER"
    own = fake_github.comment_on(
        pr.number, "Say /revise\n\n<!-- pr-orchestrator:revision:1 -->", user="owner", association="OWNER"
    )
    assert (
        deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, own))[0].status_code
        == 204
    )
    # A comment without the word asks nothing.
    plain = fake_github.comment_on(pr.number, "Looks good", association="OWNER")
    assert (
        deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, plain))[0].status_code
        == 204
    )
    assert not Revision.objects.exists()
    assert fake_github.issue_comments(pr.number)[-1]["body"] == "Looks good"  # nothing said on the PR

    asking = fake_github.comment_on(pr.number, "/revise answer with the version too", association="MEMBER")
    payload = fake_github.issue_comment_event(pr.number, asking)
    first, delivery = deliver(client, "issue_comment", payload)
    again, _ = deliver(client, "issue_comment", payload, delivery=delivery)  # GitHub's redelivery
    other, _ = deliver(client, "issue_comment", payload)  # the same comment, another delivery
    assert (first.status_code, again.status_code, other.status_code) == (200, 204, 204)
    [revision] = Revision.objects.all()
    assert revision.kind == "comment" and revision.source["author"] == "maintainer"

    run()

    revision.refresh_from_db()
    assert revision.status == "succeeded", revision.error
    prompt = user_text(live[0].messages()[-1], -1)
    assert '"body": "/revise answer with the version too"' in prompt


def test_a_review_and_its_comments_ask_once_and_the_analyst_sees_each_comment(
    live, fake_github, pr, client, run
):
    review = fake_github.add_review(
        pr.number,
        body="Please report the version.",
        comments=[{"path": "app/health.py", "line": 5, "body": "/revise the version belongs here"}],
    )
    [comment] = fake_github.repo().review_comments
    # Its comment is delivered first: it asks for a revision of the whole review.
    by_comment, _ = deliver(client, "pull_request_review_comment", fake_github.review_comment_event(comment))
    by_review, _ = deliver(client, "pull_request_review", fake_github.review_event(review))
    assert (by_comment.status_code, by_review.status_code) == (200, 204)
    [revision] = Revision.objects.all()

    run()

    revision.refresh_from_db()
    assert revision.status == "succeeded", revision.error
    prompt = user_text(live[0].messages()[-1], -1)
    for seen in ('"state": "changes_requested"', "Please report the version.", '"line": 5',
                 "/revise the version belongs here", "@@ -3,3 +3,3 @@"):  # fmt: skip
        assert seen in prompt, seen
    assert fake_github.requests_to(f"/pulls/{pr.number}/reviews/{review['id']}/comments", "GET")


def test_past_the_limit_one_comment_says_so_and_nothing_runs(
    live, fake_github, pr, client, settings, run, django_capture_on_commit_callbacks
):
    settings.PR_MAX_REVISIONS = 1
    call_command("revise", "Answer with the version too", pr=pr.number)
    run()
    assert Revision.objects.get().status == "succeeded"
    pr.refresh_from_db()

    for n in (1, 2):
        asking = fake_github.comment_on(pr.number, f"/revise once more ({n})", association="OWNER")
        with django_capture_on_commit_callbacks(execute=True):
            response, _ = deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, asking))
        assert response.status_code == 204
    with pytest.raises(CommandError, match="the most PR_MAX_REVISIONS allows"):
        call_command("revise", "And again", pr=pr.number)

    assert Revision.objects.count() == 1
    said = [c["body"] for c in fake_github.issue_comments(pr.number) if "PR_MAX_REVISIONS" in c["body"]]
    assert len(said) == 1 and "requeue the task in the admin" in said[0]
    assert IssueComment.objects.filter(key__startswith="revision-limit:").count() == 1


def test_a_branch_moved_while_the_revision_ran_restarts_once_from_the_new_head(live, fake_github, pr, run):
    anthropic_fake, openai_fake = live
    call_command("revise", "Answer with the version too", pr=pr.number)
    pushed = {}
    # A person pushes just as the revision builds its commit: its fast-forward is refused.
    fake_github.before_next(
        "POST",
        "/git/commits",
        lambda: pushed.setdefault("sha", fake_github.push_commit(pr.head_branch, {"NOTES.md": "by hand\n"})),
    )

    run()

    first, second = Execution.objects.filter(revision__isnull=False).order_by("pk")
    assert first.status == "failed" and "moved to" in first.error and "starts again from" in first.error
    assert second.status == "succeeded", second.error
    assert second.base_sha == pushed["sha"]  # the restart began at the new head
    head = fake_github.branch_head(pr.head_branch)
    assert head == second.commit_sha and fake_github.commits[head]["parents"] == [pushed["sha"]]
    assert fake_github.files_at(head)["NOTES.md"] == "by hand\n"  # the person's commit is kept
    refs = fake_github.requests_to(f"/git/refs/heads/{pr.head_branch}", "PATCH")
    assert refs and all(r.json["force"] is False for r in refs)  # never a force push
    revision = Revision.objects.get()
    assert (revision.status, revision.restarted, revision.attempts) == ("succeeded", True, 1)
    assert len(fake_github.repo().pulls) == 1
    assert_charged_as_billed(Period.objects.get(pk=second.period_id), anthropic_fake, openai_fake)


def test_a_branch_that_moves_again_after_the_restart_fails_the_revision(live, fake_github, pr, run):
    call_command("revise", "Answer with the version too", pr=pr.number)
    for n in (1, 2):
        fake_github.before_next(
            "POST", "/git/commits", lambda n=n: fake_github.push_commit(pr.head_branch, {f"N{n}.md": "x\n"})
        )

    with pytest.raises(CommandError, match="it had started again once already"):
        run()

    revision = Revision.objects.get()
    assert revision.status == "failed" and Execution.objects.filter(revision=revision).count() == 2
    [said] = [
        c["body"] for c in fake_github.issue_comments(pr.number) if "could not make the revision" in c["body"]
    ]
    assert "a request from the command line" in said


def test_feedback_for_pull_requests_the_product_cannot_revise_changes_nothing(
    live, fake_github, pr, client, caplog, run
):
    caplog.set_level(logging.INFO)
    # An unknown pull request.
    other = fake_github.comment_on(pr.number, "/revise", association="OWNER")
    unknown = fake_github.issue_comment_event(pr.number, other)
    unknown["issue"]["number"] = 99
    assert deliver(client, "issue_comment", unknown)[0].status_code == 204
    assert "octo/widgets#99 is not a pull request this product opened" in caplog.text
    # A queued revision whose branch was deleted is cancelled before anything is charged.
    call_command("revise", "Answer with the version too", pr=pr.number)
    del fake_github.repo().refs[f"heads/{pr.head_branch}"]
    spent = Period.objects.get().spent_nanos
    with pytest.raises(CommandError, match="was cancelled: its branch .* was deleted"):
        run()
    assert Revision.objects.get().status == "cancelled"
    assert Period.objects.get().spent_nanos == spent and not Execution.objects.filter(revision__isnull=False)
    # A closed pull request: its comment asks nothing, and a queued revision is cancelled.
    fake_github.repo().refs[f"heads/{pr.head_branch}"] = pr.head_sha
    call_command("revise", "Say it differently", pr=pr.number)
    fake_github.close_pull(pr.number)
    closed = fake_github.pull_request_event("closed", pr.number)
    assert deliver(client, "pull_request", closed)[0].status_code == 200
    assert list(Revision.objects.values_list("status", flat=True)) == ["cancelled", "cancelled"]
    late = fake_github.comment_on(pr.number, "/revise", association="OWNER")
    assert (
        deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, late))[0].status_code
        == 204
    )
    assert "octo/widgets#1 is closed: no revision" in caplog.text
    assert Revision.objects.count() == 2


def test_a_failed_commit_status_asks_for_a_revision(live, fake_github, pr, client, run):
    fake_github.add_status(pr.head_sha, "ci/lint", "failure", description="flake8: 2 errors")
    response, _ = deliver(client, "status", fake_github.status_event(pr.head_sha, "ci/lint"))
    assert response.status_code == 200
    [revision] = Revision.objects.all()
    assert revision.source["checks"] == ["status:ci/lint"]
    run()
    assert '"title": "flake8: 2 errors"' in user_text(live[0].messages()[-1], -1)


def test_failed_checks_ask_nothing_when_revise_on_failed_checks_is_off(
    live, fake_github, pr, client, settings, caplog
):
    settings.REVISE_ON_FAILED_CHECKS = False
    caplog.set_level(logging.INFO)
    fail_the_checks(fake_github, pr)

    assert (
        deliver(client, "check_run", fake_github.check_run_event(pr.head_sha, "tests"))[0].status_code == 200
    )

    pr.refresh_from_db()
    assert pr.checks == "failure" and not Revision.objects.exists()
    assert "failed its checks: ignored: REVISE_ON_FAILED_CHECKS is off" in caplog.text
