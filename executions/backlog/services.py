"""Task services: the backlog's state changes. The admin, the API, commands and q2 tasks call these.

Running a task is ``executions.pipeline.runner.run_execution`` (synchronously) or ``queue_task`` (on the
django-q2 worker).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from executions.backlog.checklist import MAX_TITLE, check_size, parse_checklist
from executions.errors import InvalidTask, TaskBusy
from executions.models import Repository, Revision, Task, default_repository_id
from executions.repositories.standing import runnable_tasks
from executions.revisions.lifecycle import runnable_revisions


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int  # checked items and items imported before


def create_task(
    *,
    title: str,
    description: str = "",
    priority: int = 0,
    source: str = Task.Source.MANUAL,
    source_key: str | None = None,
    repository: Repository | None = None,
    **issue_fields,
) -> Task:
    """A new pending task in ``repository`` (by default the settings': ``default_repository_id``);
    with a ``source_key`` already known, the existing task (unchanged). ``issue_fields``: a task
    from a GitHub issue's ``issue_number``, ``issue_state`` and ``issue_updated_at``."""
    title = " ".join((title or "").split())
    if not title:
        raise InvalidTask("A task needs a title.")
    if len(title) > MAX_TITLE:
        raise InvalidTask(f"A task title is at most {MAX_TITLE} characters (this one has {len(title)}).")
    if source not in Task.Source.values:
        raise InvalidTask(f"Unknown task source {source!r}: one of {', '.join(Task.Source.values)}.")
    if source_key:
        existing = Task.objects.filter(source_key=source_key).first()
        if existing:
            return existing
    fields = {
        "title": title,
        "description": (description or "").strip(),
        "priority": priority,
        "source": source,
        "repository_id": repository.pk if repository else default_repository_id(),
        **issue_fields,
    }
    try:
        with transaction.atomic():
            return Task.objects.create(source_key=source_key or None, **fields)
    except IntegrityError:
        if source_key:  # created by someone else meanwhile
            return Task.objects.get(source_key=source_key)
        raise


def next_pending_task(*, exclude: Collection[int] = ()) -> Task | None:
    """The task to run next: highest priority, then oldest, across repositories, leaving out the
    ids in ``exclude`` and the tasks that wait (``repositories.runnable_tasks``).

    On PostgreSQL a task another process is choosing at this very moment (its row locked) is
    skipped (``skip_locked``). The lock ends with the choice, though: the pipeline's claim is what
    decides, so a caller that loses the claim (``TaskBusy``) chooses again, excluding that task.
    """
    with transaction.atomic():
        return (
            runnable_tasks()
            .select_for_update(skip_locked=True, of=("self",))
            .exclude(pk__in=list(exclude))
            .first()
        )


def next_pending_work(*, exclude: Collection[Task | Revision] = ()) -> Task | Revision | None:
    """What to run next, a pending task or a queued revision of a pull request
    (``revisions.runnable_revisions``), in one order: highest priority (a revision's is its
    task's), then oldest (a revision's age is when it was queued). ``exclude``: tasks and
    revisions chosen before whose claim was lost. Rows are chosen as ``next_pending_task`` does."""
    task = next_pending_task(exclude=[w.pk for w in exclude if isinstance(w, Task)])
    with transaction.atomic():
        revision = (
            runnable_revisions()
            .select_for_update(skip_locked=True, of=("self",))
            .exclude(pk__in=[w.pk for w in exclude if isinstance(w, Revision)])
            .select_related("task__repository", "pull_request")
            .first()
        )
    if task is None or revision is None:
        return task or revision
    task_first = (-task.priority, task.created_at) <= (-revision.task.priority, revision.created_at)
    return task if task_first else revision


def requeue_task(task: Task) -> Task:
    """Back to pending with its attempts reset. Refused while it runs."""
    updated = (
        Task.objects.filter(pk=task.pk)
        .exclude(status=Task.Status.RUNNING)
        .update(status=Task.Status.PENDING, attempts=0, claimed_at=None, updated_at=timezone.now())
    )
    task.refresh_from_db()
    if not updated:
        raise TaskBusy(f"Task {task.pk} is running; wait for its execution to finish before requeueing it.")
    return task


def skip_task(task: Task) -> Task:
    """Take a pending (or failed) task off the backlog. Refused while it runs or once done."""
    updated = Task.objects.filter(pk=task.pk, status__in=[Task.Status.PENDING, Task.Status.FAILED]).update(
        status=Task.Status.SKIPPED, claimed_at=None, updated_at=timezone.now()
    )
    task.refresh_from_db()
    if updated or task.status == Task.Status.SKIPPED:
        return task
    if task.status == Task.Status.RUNNING:
        raise TaskBusy(f"Task {task.pk} is running; it cannot be skipped now.")
    raise InvalidTask(f"Task {task.pk} is already done; there is nothing to skip.")


def queue_task(task: Task) -> str:
    """Run ``task`` on the django-q2 worker; the q2 task id."""
    return async_task("executions.jobs.run_task", task.pk, task_name=f"run task {task.pk}"[:100])


def import_checklist(text: str, *, source: str, source_prefix: str) -> ImportResult:
    """Create a pending task per unchecked item; importing the same checklist again creates none.

    Each item's ``source_key`` is ``source_prefix`` plus a digest of its title, so an edited
    description does not duplicate the task. All or nothing: a bad line imports nothing, and so
    does a checklist over IMPORT_MAX_BYTES or IMPORT_MAX_ITEMS.
    """
    items = parse_checklist(check_size(text, max_bytes=settings.IMPORT_MAX_BYTES))
    if len(items) > settings.IMPORT_MAX_ITEMS:
        raise InvalidTask(
            f"the checklist holds more than {settings.IMPORT_MAX_ITEMS:,} items (IMPORT_MAX_ITEMS): "
            f"{len(items):,}; split it."
        )
    created = skipped = 0
    with transaction.atomic():
        for item in items:
            if item.checked:
                skipped += 1
                continue
            key = checklist_key(source_prefix, item.title)
            if Task.objects.filter(source_key=key).exists():
                skipped += 1
                continue
            create_task(title=item.title, description=item.description, source=source, source_key=key)
            created += 1
    return ImportResult(created=created, skipped=skipped)


def checklist_key(source_prefix: str, title: str) -> str:
    digest = hashlib.sha256(" ".join(title.lower().split()).encode()).hexdigest()[:24]
    return f"{source_prefix[:170]}#{digest}"
