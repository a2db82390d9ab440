"""Tasks: anyone signed in reads the backlog; staff add tasks and queue them on the worker."""

import pytest
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from executions.backlog.services import create_task
from executions.models import Task

pytestmark = pytest.mark.django_db


def test_the_backlog_is_listed_in_the_order_it_runs(api):
    low = create_task(title="Tidy the changelog")
    high = create_task(title="Fix the broken link", priority=5)

    rows = api.get("/api/v1/tasks/").json()["results"]

    assert [(r["id"], r["status"]) for r in rows] == [(high.pk, "pending"), (low.pk, "pending")]


def test_the_backlog_filters_by_status(api):
    done = create_task(title="Add a licence file")
    Task.objects.filter(pk=done.pk).update(status=Task.Status.DONE)
    pending = create_task(title="Fix the broken link")

    assert [r["id"] for r in api.get("/api/v1/tasks/?status=pending").json()["results"]] == [pending.pk]
    assert [r["id"] for r in api.get("/api/v1/tasks/?status=done").json()["results"]] == [done.pk]
    refused = api.get("/api/v1/tasks/?status=finished")
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("status must be one of pending, ")


def test_staff_create_a_task(staff_api):
    response = staff_api.post(
        "/api/v1/tasks/", {"title": "  Add a   CODEOWNERS file ", "description": "for docs/", "priority": 3},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201
    task = Task.objects.get()
    assert response.json()["id"] == task.pk
    assert (task.title, task.description, task.priority, task.source, task.status) == (
        "Add a CODEOWNERS file", "for docs/", 3, "api", "pending",
    )  # fmt: skip


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "t", "priority": "hi"}, "priority"),
    ],
)
def test_an_invalid_task_is_a_400_naming_the_field(staff_api, body, field):
    response = staff_api.post("/api/v1/tasks/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Task.objects.exists()


def test_members_cannot_create_or_run_tasks(api):
    task = create_task(title="Keep me pending")

    assert api.post("/api/v1/tasks/", {"title": "sneaky"}, format="json").status_code == 403
    assert api.post(f"/api/v1/tasks/{task.pk}/run/").status_code == 403
    assert Task.objects.count() == 1 and not OrmQ.objects.exists()


def test_run_queues_the_task_on_the_worker(staff_api):
    task = create_task(title="Run me now")

    response = staff_api.post(f"/api/v1/tasks/{task.pk}/run/")

    assert response.status_code == 202
    queued = OrmQ.objects.get()
    package = SignedPackage.loads(queued.payload)
    assert response.json() == {"task": task.pk, "queued": package["id"]}
    assert (package["func"], package["args"]) == ("executions.jobs.run_task", (task.pk,))


def test_a_task_that_is_not_pending_is_not_queued(staff_api):
    task = create_task(title="Already skipped")
    Task.objects.filter(pk=task.pk).update(status=Task.Status.SKIPPED)

    response = staff_api.post(f"/api/v1/tasks/{task.pk}/run/")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Task {task.pk} is skipped; only a pending task can run now (requeue it first)."
    )
    assert not OrmQ.objects.exists()


def test_running_an_unknown_task_is_404(staff_api):
    assert staff_api.post("/api/v1/tasks/424242/run/").status_code == 404
