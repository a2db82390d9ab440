"""Feedback from GitHub is untrusted input (issue 32, items 3, 4 and 6): a review, a comment, a
check's output and annotations are cleaned where they are read — secrets masked, NUL and lone
surrogates replaced — before they are stored or sent to either vendor; and a revision whose
preparation fails is set aside with its reason, never retried in front of the queue. The real
SDKs against the three fakes."""

import json

import pytest
from django.core.management import call_command

from executions.backlog.services import create_task
from executions.batches.passes import run_batches_pass
from executions.models import Execution, Revision, Task
from executions.scheduling.scheduler import run_next_execution
from notifications.models import Event
from tests.executions.outcomes import SECRET, deliver
from tests.executions.revisions.conftest import FIXED
from tests.fakes.anthropic import API_KEY as ANTHROPIC_KEY
from tests.fakes.github import GOOD_TOKEN
from tests.fakes.openai import API_KEY as OPENAI_KEY
from tests.fakes.openai import change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

SECRETS = (GOOD_TOKEN, ANTHROPIC_KEY, OPENAI_KEY, SECRET)
QUOTING = f"token {GOOD_TOKEN} keys {ANTHROPIC_KEY} {OPENAI_KEY} hook {SECRET}"
MASKED = "token [redacted] keys [redacted] [redacted] hook [redacted]"


def sent_to_vendors(live) -> str:
    anthropic_fake, openai_fake = live
    return json.dumps([anthropic_fake.messages(), openai_fake.completions()], ensure_ascii=False)


def assert_clean(text: str) -> None:
    assert "\x00" not in text and "\\u0000" not in text
    text.encode("utf-8")  # no lone surrogate
    for secret in SECRETS:
        assert secret not in text


def test_secrets_nul_and_surrogates_in_reviews_and_checks_are_never_stored_or_sent(
    live, fake_github, pr, client, run
):
    review = fake_github.add_review(
        pr.number,
        body=f"Please fix it: {QUOTING}\x00 \ud800",
        comments=[{"path": "app/health.py", "line": 5, "body": f"/revise here \udfff {QUOTING}"}],
    )
    assert deliver(client, "pull_request_review", fake_github.review_event(review))[0].status_code == 200
    run()
    fake_github.add_check_run(
        fake_github.branch_head(pr.head_branch),
        f"tests \ud83d {GOOD_TOKEN}",
        conclusion="failure",
        title=f"failed\x00 {SECRET}",
        summary=f"Traceback: {QUOTING}\x00\ud800",
        annotations=[{"path": "app/health.py", "start_line": 5, "message": f"{QUOTING} \x00"}],
    )
    call_command("sync_pull_requests")
    live[1].content = change(
        {
            "path": "app/health.py",
            "action": "edit",
            "edits": [{"search": FIXED, "replace": FIXED + "  # checked"}],
        }
    )
    run()

    first, second = Revision.objects.order_by("pk")
    assert (first.status, second.status) == ("succeeded", "succeeded"), (first.error, second.error)
    assert MASKED in json.dumps(first.feedback, ensure_ascii=False)
    assert MASKED in json.dumps(second.feedback, ensure_ascii=False)
    for revision in (first, second):
        assert_clean(json.dumps([revision.feedback, revision.source], ensure_ascii=False))
    assert_clean(json.dumps(list(Execution.objects.values_list("error", "plan")), ensure_ascii=False))
    pr.refresh_from_db()
    assert_clean(json.dumps(pr.check_results, ensure_ascii=False))
    sent = sent_to_vendors(live)
    assert MASKED in sent and "Please fix it" in sent and "Traceback" in sent
    assert_clean(sent)


def test_nul_in_a_revise_comment_is_cleaned_and_a_lower_case_owner_asks_nothing(
    live, fake_github, pr, client
):
    lower = fake_github.comment_on(pr.number, "/revise please", association="owner")
    assert (
        deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, lower))[0].status_code
        == 204
    )
    assert not Revision.objects.exists()  # GitHub sends OWNER; anything else is not write access

    comment = fake_github.comment_on(
        pr.number, f"/revise\x00 drop the \ud800 and {QUOTING}", association="OWNER"
    )
    response, _ = deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, comment))

    assert response.status_code == 200, response.content
    [revision] = Revision.objects.all()
    assert revision.source["body"] == f"/revise\ufffd drop the \ufffd and {MASKED}"


def test_a_revision_whose_preparation_fails_is_set_aside_and_the_queue_goes_on(
    live, fake_github, pr, client, settings
):
    settings.PACING_ENABLED = False
    review = fake_github.add_review(pr.number, body="Please report the version.")
    assert deliver(client, "pull_request_review", fake_github.review_event(review))[0].status_code == 200
    fake_github.repo().reviews[pr.number].clear()  # deleted on GitHub: reading it answers 404
    [revision] = Revision.objects.all()
    behind = create_task(title="Add a changelog")  # queued after the revision
    live[0].tool_input = {"plan": "1. Add CHANGELOG.md.\n", "files": []}
    live[1].content = change({"path": "CHANGELOG.md", "action": "create", "content": "# Changes\n"})

    outcome = run_next_execution()

    # The revision was set aside with its reason; the task behind it ran in the same tick.
    assert outcome.startswith("execution") and outcome.endswith("succeeded"), outcome
    assert Task.objects.get(pk=behind.pk).status == Task.Status.DONE
    revision.refresh_from_db()
    assert (revision.status, revision.attempts) == ("pending", 1)
    assert "could not be prepared (attempt 1 of 3)" in revision.error and "404" in revision.error
    assert not Execution.objects.filter(revision=revision).exists()  # nothing charged for it
    [event] = Event.objects.filter(kind=Event.Kind.ERROR)
    assert event.payload["message"] == revision.error

    # It is not retried in front of the queue forever: out of attempts, it has failed.
    for _ in range(2):
        run_next_execution()
    revision.refresh_from_db()
    assert (revision.status, revision.attempts) == ("failed", 3) and "it has failed" in revision.error
    assert run_next_execution() == "skipped: no pending task"


def test_batch_mode_sets_aside_a_revision_whose_preparation_fails_and_takes_the_next(
    batch_mode, fake_github, pr, client
):
    review = fake_github.add_review(pr.number, body="Please report the version.")
    assert deliver(client, "pull_request_review", fake_github.review_event(review))[0].status_code == 200
    fake_github.repo().reviews[pr.number].clear()  # deleted on GitHub: reading it answers 404
    behind = create_task(title="Add a changelog")

    report = run_batches_pass()

    revision = Revision.objects.get()
    assert (revision.status, revision.attempts) == ("pending", 1)
    assert "could not be prepared (attempt 1 of 3)" in revision.error
    assert revision.error in str(report)
    assert Task.objects.get(pk=behind.pk).status == Task.Status.RUNNING  # in the batch submitted
