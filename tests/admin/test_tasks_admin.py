"""Tasks admin: the backlog with status badges, search, filters, actions and a checklist upload."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.models import OrmQ

from executions.backlog.services import create_task
from executions.models import Task

pytestmark = pytest.mark.django_db

CHECKLIST = """# Backlog
- [ ] Add a CONTRIBUTING file
  Explain how to run the tests.
- [x] Already done
- [ ] Fix the README badge
"""


def act(admin_client, action: str, *tasks: Task):
    return admin_client.post(
        "/admin/executions/task/",
        {"action": action, "_selected_action": [t.pk for t in tasks]},
        follow=True,
    )


def test_the_list_shows_status_badges_and_can_be_searched_and_filtered(admin_client):
    create_task(title="Fix the flaky login test")
    done = create_task(title="Bump the copyright year")
    Task.objects.filter(pk=done.pk).update(status=Task.Status.DONE)

    found = admin_client.get("/admin/executions/task/", {"q": "flaky"}).content.decode()
    finished = admin_client.get("/admin/executions/task/", {"status__exact": "done"}).content.decode()

    assert "Fix the flaky login test" in found and "Bump the copyright year" not in found
    assert ">pending</span>" in found
    assert "Bump the copyright year" in finished and ">done</span>" in finished


def test_run_now_queues_pending_tasks_and_explains_the_others(admin_client):
    pending = create_task(title="Run me")
    done = create_task(title="Finished already")
    Task.objects.filter(pk=done.pk).update(status=Task.Status.DONE)

    page = act(admin_client, "run_now", pending, done).content.decode()

    assert OrmQ.objects.count() == 1
    assert "1 task queued to run now." in page
    assert f"Task {done.pk} is done; only a pending task can run now (requeue it first)." in page


def test_requeue_and_skip_go_through_the_task_services(admin_client):
    failed = create_task(title="Failed three times")
    Task.objects.filter(pk=failed.pk).update(status=Task.Status.FAILED, attempts=3)
    running = create_task(title="Running now")
    Task.objects.filter(pk=running.pk).update(status=Task.Status.RUNNING)

    requeued = act(admin_client, "requeue", failed, running).content.decode()
    failed.refresh_from_db()
    skipped = act(admin_client, "skip", failed).content.decode()

    assert "1 task requeued." in requeued
    assert f"Task {running.pk} is running; wait for its execution to finish before requeueing it." in requeued
    assert "1 task skipped." in skipped
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("skipped", 0)


def test_uploading_a_checklist_twice_creates_each_task_once(admin_client):
    def upload():
        checklist = SimpleUploadedFile("backlog.md", CHECKLIST.encode(), content_type="text/markdown")
        return admin_client.post(
            "/admin/executions/task/upload-checklist/", {"checklist": checklist}, follow=True
        ).content.decode()

    first, second = upload(), upload()

    assert "Imported backlog.md: 2 task(s) created, 1 skipped." in first
    assert "Imported backlog.md: 0 task(s) created, 3 skipped." in second
    task = Task.objects.get(title="Add a CONTRIBUTING file")
    assert (task.description, task.source, task.status) == (
        "Explain how to run the tests.",
        "file",
        "pending",
    )
    assert Task.objects.count() == 2


def test_an_empty_upload_says_what_is_missing(admin_client):
    page = admin_client.post("/admin/executions/task/upload-checklist/", {"text": "  "}).content.decode()

    assert "Choose a markdown file or paste a checklist." in page
    assert not Task.objects.exists()


def test_the_changelist_links_to_the_upload(admin_client):
    page = admin_client.get("/admin/executions/task/").content.decode()

    assert "/admin/executions/task/upload-checklist/" in page


def test_adding_a_task_in_the_admin_uses_create_task(admin_client):
    response = admin_client.post(
        "/admin/executions/task/add/",
        {"title": "  Tidy   the docs ", "description": "", "priority": "2", "max_attempts": "5"},
    )

    assert response.status_code == 302
    task = Task.objects.get()
    assert (task.title, task.priority, task.max_attempts, task.source) == ("Tidy the docs", 2, 5, "manual")


def test_editing_a_task_leaves_its_status_to_the_pipeline(admin_client):
    task = create_task(title="Old title")
    Task.objects.filter(pk=task.pk).update(status=Task.Status.RUNNING, attempts=1)

    admin_client.post(
        f"/admin/executions/task/{task.pk}/change/",
        {"title": "New title", "description": "", "priority": "0", "max_attempts": "3"},
    )

    task.refresh_from_db()
    assert (task.title, task.status, task.attempts) == ("New title", "running", 1)
