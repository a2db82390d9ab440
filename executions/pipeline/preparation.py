"""Work whose preparation fails is set aside, never retried at the front of the queue forever.

Preparing an execution (``pipeline.prepare``) reads the repository's context and, for a revision,
its feedback and diff, and bounds the cost; nothing is charged yet. When that fails for a reason
of the work's own — feedback that is gone or unreadable, any unexpected error — ``preparing``
sets the work aside: the try counts as one of its attempts, the reason is recorded (an ``error``
event, Admin → Events, and a revision's ``error``), and it raises
``WorkSetAside`` (a ``TaskBusy``), so the scheduler, ``run_execution`` and batch mode go on with
the next pending work. Out of attempts, the task or revision has failed.

Problems every work shares are not set aside: a configuration or price problem, the budget, a
repository GitHub refuses (``RepositoryUnavailable`` marks it), GitHub or a vendor failing
(``GitHubTrouble``, ``ProviderError``), a claim lost to another process. Their callers handle
them as before.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from budget.ledger import BudgetExhausted
from budget.pricing import PricingError
from executions.errors import ConfigurationError, ProviderError, TaskBusy, WorkSetAside
from executions.models import Revision, Task
from executions.repositories.base import GitHubTrouble, RepositoryUnavailable
from notifications import events
from notifications.secrets import mask_secrets
from notifications.text import storable

log = logging.getLogger(__name__)

NOT_THE_WORKS = (
    ConfigurationError,
    PricingError,  # a missing price; a request too long for its model (``InputTooLong``), as before
    BudgetExhausted,
    TaskBusy,
    RepositoryUnavailable,
    GitHubTrouble,
    ProviderError,  # a vendor failing to count tokens
)


@contextmanager
def preparing(work: Task | Revision, *, now: dt.datetime | None = None):
    """Around preparing ``work``: a failure of its own sets it aside (``WorkSetAside``)."""
    try:
        yield
    except NOT_THE_WORKS:
        raise
    except Exception as exc:  # any reason: one bad piece of work must not stop the queue
        raise WorkSetAside(set_aside(work, exc, now=now)) from exc


def set_aside(work: Task | Revision, exc: Exception, *, now: dt.datetime | None = None) -> str:
    """Count a failed preparation of ``work`` as one of its attempts and record why; a one-line
    account of it. Out of attempts, the work has failed."""
    at = now or timezone.now()
    reason = mask_secrets(storable(str(exc) or type(exc).__name__)).strip().rstrip(".")[:1000]
    revision = work if isinstance(work, Revision) else None
    model = Revision if revision is not None else Task
    with transaction.atomic():
        row = model.objects.select_for_update().filter(pk=work.pk, status=model.Status.PENDING).first()
        if row is None:
            return f"{_named(work)} is no longer pending"
        attempts = row.attempts + 1
        most = (row.task if revision is not None else row).max_attempts
        done = attempts >= most
        status = model.Status.FAILED if done else model.Status.PENDING
        what = f"{_named(work)} could not be prepared (attempt {attempts} of {most}): {reason}"
        message = f"{what}; it has failed" if done else f"{what}; the next pending work runs first"
        changes = {"attempts": attempts, "status": status}
        if revision is not None:
            changes |= {"error": message, "finished_at": at if done else None}
        else:
            changes |= {"updated_at": at}
        model.objects.filter(pk=row.pk).update(**changes)
        events.error(key=f"not-prepared:{_named(work)}:{attempts}", where="prepare", message=message)
    log.warning("%s", message)
    return message


def _named(work: Task | Revision) -> str:
    return f"revision {work.pk} of task {work.task_id}" if isinstance(work, Revision) else f"task {work.pk}"
