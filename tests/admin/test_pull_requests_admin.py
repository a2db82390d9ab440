"""The admin shows what became of each PR, and rejected tasks can be found and requeued."""

import pytest
from django.test import Client

from executions.backlog.services import create_task
from executions.models import PullRequest, Task
from executions.pipeline.runner import run_execution
from tests.executions.outcomes import SECRET, OpensPullRequests, deliver, pull_request_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def rejected(frozen_now, settings) -> PullRequest:
    """A PR the pipeline opened and a reviewer closed without merging (by the signed webhook)."""
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    gateway = OpensPullRequests()
    run_execution(create_task(title="Add health check endpoint"), gateway=gateway)
    run_execution(create_task(title="Add a changelog"), gateway=gateway)
    pr = PullRequest.objects.get(number=41)
    response, _ = deliver(Client(), "pull_request", pull_request_event(pr, "closed"))
    assert response.status_code == 200
    return pr


def test_rejected_tasks_are_shown_and_filterable(admin_client, rejected):
    everything = admin_client.get("/admin/executions/task/").content.decode()
    only_rejected = admin_client.get("/admin/executions/task/?status__exact=rejected").content.decode()

    assert "?status__exact=rejected" in everything  # offered as a filter
    assert "Add health check endpoint" in only_rejected and "Add a changelog" not in only_rejected
    assert ">rejected</span>" in only_rejected


def test_a_rejected_task_is_requeued_by_hand(admin_client, rejected):
    task = Task.objects.get(pk=rejected.task_id)

    admin_client.post(
        "/admin/executions/task/", {"action": "requeue", "_selected_action": [task.pk]}, follow=True
    )

    task.refresh_from_db()
    assert task.status == Task.Status.PENDING


def test_pull_requests_are_listed_with_state_and_checks(admin_client, rejected):
    listing = admin_client.get("/admin/executions/pullrequest/?state__exact=closed").content.decode()
    detail = admin_client.get(f"/admin/executions/pullrequest/{rejected.pk}/change/")

    assert 'href="https://github.com/octo/widgets/pull/41"' in listing and "octo/widgets#42" not in listing
    assert ">closed</span>" in listing and ">none</span>" in listing
    assert detail.status_code == 200 and "Add health check endpoint" in detail.content.decode()
    assert admin_client.get("/admin/executions/pullrequest/add/").status_code == 403  # read-only


def test_the_period_shows_what_its_pull_requests_became(admin_client, rejected):
    period_id = rejected.execution.period_id

    page = admin_client.get(f"/admin/budget/period/{period_id}/change/").content.decode()

    assert "Pull requests it paid for" in page
    assert "per merged pr" in page.lower() and "closed prs count" in page.lower()
