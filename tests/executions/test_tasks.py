"""Task services: creating, ordering, requeueing, skipping, queueing and importing a checklist."""

import pytest
from django_q.models import OrmQ

from executions.backlog.checklist import parse_checklist
from executions.backlog.services import (
    create_task,
    import_checklist,
    next_pending_task,
    queue_task,
    requeue_task,
    skip_task,
)
from executions.errors import InvalidTask, TaskBusy
from executions.models import Task

pytestmark = pytest.mark.django_db

CHECKLIST = """\
# Backlog

- [ ] Add a health check endpoint
  Load balancers need a cheap probe.

  Return {"ok": true} with status 200.
- [x] Set up CI
  Done last week.
* [ ]   Document   the settings
Some closing remarks that are not a task.
"""


def test_create_task_tidies_the_title_and_is_idempotent_on_its_source_key():
    first = create_task(title="  Add   a changelog ", source=Task.Source.API, source_key="api:1")
    again = create_task(title="Something else", source=Task.Source.API, source_key="api:1")

    assert again.pk == first.pk and again.title == "Add a changelog"
    with pytest.raises(InvalidTask, match="needs a title"):
        create_task(title="   ")
    with pytest.raises(InvalidTask, match="at most 300 characters"):
        create_task(title="x" * 301)


def test_the_next_pending_task_is_the_most_urgent_then_the_oldest():
    older = create_task(title="Older")
    urgent = create_task(title="Urgent", priority=5)
    create_task(title="Newer")

    assert next_pending_task() == urgent
    skip_task(urgent)
    assert next_pending_task() == older


def test_requeue_resets_attempts_and_skip_refuses_running_or_done_tasks():
    task = create_task(title="Flaky")
    Task.objects.filter(pk=task.pk).update(status=Task.Status.FAILED, attempts=3)

    requeue_task(task)
    assert (task.status, task.attempts) == (Task.Status.PENDING, 0)

    Task.objects.filter(pk=task.pk).update(status=Task.Status.RUNNING)
    with pytest.raises(TaskBusy):
        requeue_task(task)
    with pytest.raises(TaskBusy):
        skip_task(task)
    Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE)
    with pytest.raises(InvalidTask, match="already done"):
        skip_task(task)


def test_queue_task_hands_the_task_to_the_q2_worker():
    task = create_task(title="Queued")

    q2_id = queue_task(task)

    [queued] = OrmQ.objects.all()
    assert queued.task["id"] == q2_id
    assert (queued.task["func"], queued.task["args"]) == ("executions.jobs.run_task", (task.pk,))


def test_a_checklist_becomes_tasks_with_descriptions_and_checked_items_are_skipped():
    items = parse_checklist(CHECKLIST)
    assert [(i.title, i.checked, i.line) for i in items] == [
        ("Add a health check endpoint", False, 3),
        ("Set up CI", True, 7),
        ("Document the settings", False, 9),
    ]
    assert (
        items[0].description == 'Load balancers need a cheap probe.\n\nReturn {"ok": true} with status 200.'
    )
    assert items[2].description == ""

    result = import_checklist(CHECKLIST, source=Task.Source.FILE, source_prefix="file:BACKLOG.md")
    again = import_checklist(CHECKLIST, source=Task.Source.FILE, source_prefix="file:BACKLOG.md")

    assert (result.created, result.skipped) == (2, 1)
    assert (again.created, again.skipped) == (0, 3)
    assert list(Task.objects.order_by("pk").values_list("title", "source")) == [
        ("Add a health check endpoint", "file"),
        ("Document the settings", "file"),
    ]


def test_a_bad_line_imports_nothing_and_names_the_line():
    text = "- [ ] Fine\n- [ ] " + "x" * 301 + "\n"

    with pytest.raises(InvalidTask, match="line 2: the title is 301 characters"):
        import_checklist(text, source=Task.Source.FILE, source_prefix="file:x")
    with pytest.raises(InvalidTask, match="line 1: a checklist item needs a title"):
        import_checklist("- [ ]   \n", source=Task.Source.FILE, source_prefix="file:x")
    assert not Task.objects.exists()
