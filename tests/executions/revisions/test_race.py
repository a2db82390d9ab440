"""Two deliveries of the same feedback at the same moment queue one revision (PostgreSQL).

A review asking for changes and its comment holding the trigger arrive as two deliveries (GitHub
sends ``pull_request_review`` and ``pull_request_review_comment``), handled by two workers at once.
The first inserts the revision and is held before it commits; the second waits on the pull
request's row lock; when the first commits, the second finds the revision queued.
"""

import threading

import pytest
from django.db import connections

from executions.backlog.services import create_task
from executions.github.dispatch import handle_webhook
from executions.models import PullRequest, Revision, WebhookDelivery
from executions.pipeline.runner import run_execution
from tests.executions.outcomes import OpensPullRequests
from tests.locks import DeliveryHeldBeforeCommit, wait_for_a_lock_waiter

pytestmark = [pytest.mark.postgres, pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


def review_payloads(pr: PullRequest) -> tuple[dict, dict]:
    pull = {"number": pr.number, "head": {"ref": pr.head_branch, "sha": pr.head_sha}}
    repository = {"full_name": pr.repository}
    user = {"login": "reviewer", "type": "User"}
    review = {
        "action": "submitted",
        "review": {"id": 77, "state": "changes_requested", "body": "Report the version.", "user": user,
                   "author_association": "COLLABORATOR"},
        "pull_request": pull,
        "repository": repository,
    }  # fmt: skip
    comment = {
        "action": "created",
        "comment": {"id": 88, "pull_request_review_id": 77, "body": "/revise here", "path": "app/health.py",
                    "line": 5, "diff_hunk": "@@ -1 +1 @@", "user": user, "author_association": "COLLABORATOR"},
        "pull_request": pull,
        "repository": repository,
    }  # fmt: skip
    return review, comment


def test_a_review_and_its_comment_delivered_at_once_queue_one_revision():
    execution = run_execution(create_task(title="Add health check endpoint"), gateway=OpensPullRequests())
    pr = PullRequest.objects.get(execution=execution)
    review, comment = review_payloads(pr)
    first = DeliveryHeldBeforeCommit("pull_request_review", review, table="executions_revision")
    second_outcome, second_errors = [], []

    def second():
        try:
            second_outcome.append(
                handle_webhook(event="pull_request_review_comment", delivery_id="delivery-2", payload=comment)
            )
        except Exception as exc:  # surfaced by the test
            second_errors.append(exc)
        finally:
            connections.close_all()

    first.thread.start()
    assert first.inserted.wait(10)
    other = threading.Thread(target=second)
    other.start()
    wait_for_a_lock_waiter()  # the second waits on the pull request's row
    first.go_on.set()
    first.thread.join(10), other.join(10)

    assert not first.errors and not second_errors, (first.errors, second_errors)
    assert first.outcome.startswith("queued revision")
    assert second_outcome == ["already queued: the revision asked by review:77"]
    [revision] = Revision.objects.all()
    assert (revision.kind, revision.key, revision.status) == ("review", "review:77", "pending")
    assert WebhookDelivery.objects.count() == 2  # both acted on, once each
