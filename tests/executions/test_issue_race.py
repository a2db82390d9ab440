"""A webhook delivery and a poll of the same new issue at the same moment make one task.

The delivery inserts the task and is held before it commits; the poll, in another connection, finds
no task yet, inserts the same key and waits on PostgreSQL's unique index; when the delivery
commits, the poll takes the task it made instead of a second one.
"""

import threading

import pytest
from django.db import connections

from executions.backlog.services import create_task
from executions.github.issues import sync_repository
from executions.models import Repository, Task
from tests.fakes.github import serving_github
from tests.locks import DeliveryHeldBeforeCommit, wait_for_a_lock_waiter

pytestmark = [pytest.mark.postgres, pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def github(settings):
    with serving_github(settings) as fake:
        yield fake


def test_a_webhook_and_a_poll_racing_make_one_task(github):
    repository = create_task(title="Seed the default repository").repository
    issue = github.open_issue("Add a health check", labels=("pr-orchestrator",))
    delivery = DeliveryHeldBeforeCommit(
        "issues", github.issues_event("opened", issue["number"]), table="executions_task"
    )
    poll_outcome, poll_errors = [], []

    def poll():
        try:
            poll_outcome.append(sync_repository(Repository.objects.get(pk=repository.pk)))
        except Exception as exc:  # surfaced by the test
            poll_errors.append(exc)
        finally:
            connections.close_all()

    delivery.thread.start()
    assert delivery.inserted.wait(10)
    poller = threading.Thread(target=poll)
    poller.start()
    wait_for_a_lock_waiter()  # the poll's insert waits for the delivery's
    delivery.go_on.set()
    delivery.thread.join(10), poller.join(10)

    assert not delivery.errors and not poll_errors, (delivery.errors, poll_errors)
    assert delivery.outcome.startswith("created task")
    assert [line.split(":")[0] for line in poll_outcome] == ["1 issue(s) read"]
    [task] = Task.objects.filter(source=Task.Source.GITHUB_ISSUE)
    assert (task.issue_number, task.status) == (issue["number"], Task.Status.PENDING)
