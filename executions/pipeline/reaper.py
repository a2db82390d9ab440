"""Crash recovery: executions whose worker died are closed as abandoned and their task runs again.

An execution records progress (``heartbeat_at``) at every step and every charge. One that made none
for RESERVATION_TIMEOUT_SECONDS has no live worker: q2 kills a worker after Q_TIMEOUT_SECONDS,
which settings require to be shorter. Abandoning it releases what its reservation still holds,
keeps every call it was charged for (that money was spent), and puts its task back to pending
(failed once its attempts are used up, as after any failed execution); a revision's run puts its
revision back instead (``executions.revisions.lifecycle``).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from budget import ledger
from executions.models import Batch, Execution, Task
from executions.pipeline import announce
from executions.revisions import lifecycle

log = logging.getLogger(__name__)


def stalled_before(now: dt.datetime) -> dt.datetime:
    """Executions with no progress since this moment are abandoned."""
    return now - dt.timedelta(seconds=settings.RESERVATION_TIMEOUT_SECONDS)


def waiting_in_batch(now: dt.datetime) -> Q:
    """Executions waiting in a vendor batch make no progress for hours: they are left alone for
    the batch window plus a margin after they joined it (``executions.batches.passes``)."""
    patience = dt.timedelta(seconds=settings.BATCH_WINDOW_SECONDS + settings.BATCH_MARGIN_SECONDS)
    return Q(batch__status__in=Batch.IN_FLIGHT, heartbeat_at__gte=now - patience)


def abandon_stalled_executions(*, now: dt.datetime | None = None) -> list[Execution]:
    """Close every stalled execution as abandoned; the ones this call closed."""
    now = now or timezone.now()
    cutoff = stalled_before(now)
    stalled = Execution.objects.filter(status__in=Execution.ACTIVE, heartbeat_at__lt=cutoff).exclude(
        waiting_in_batch(now)
    )
    abandoned = [e for pk in stalled.values_list("pk", flat=True) if (e := _abandon(pk, cutoff, now))]
    for execution in abandoned:
        log.warning("execution %s abandoned: %s", execution.pk, execution.error)
    return abandoned


def _abandon(pk: int, cutoff: dt.datetime, now: dt.datetime) -> Execution | None:
    """Abandon one execution if it is still stalled. One transaction: all of it or none of it."""
    with transaction.atomic():
        # Conditional: an execution that made progress (or finished) meanwhile is left alone, and
        # of two reapers only one closes it. Its row is locked first, then the ledger's rows: the
        # order a live charge takes them in (``budget.ledger``), so the two never deadlock.
        execution = (
            Execution.objects.select_for_update(of=("self",))
            .select_related("task", "period", "reservation")
            .filter(pk=pk, status__in=Execution.ACTIVE, heartbeat_at__lt=cutoff)
            .exclude(waiting_in_batch(now))
            .first()
        )
        if execution is None:
            return None
        task = execution.task
        retry = task.attempts < task.max_attempts
        since = timezone.localtime(execution.heartbeat_at)
        error = f"The worker stopped (no progress since {since:%Y-%m-%d %H:%M:%S %Z}); its reservation was released"
        revised = None  # a revision's run: its revision, not its task, takes the outcome
        if execution.revision_id is not None:
            revised = lifecycle.after_failure(execution, error)
            error = revised.error
        elif retry:
            error += " and the task will be retried"
        else:
            error += f"; no attempts left ({task.attempts} of {task.max_attempts}), the task has failed"
        execution.status, execution.error, execution.finished_at = Execution.Status.ABANDONED, error, now
        execution.save(update_fields=["status", "error", "finished_at"])
        if execution.reservation is not None:
            ledger.release(execution.reservation, now=now, expired=True)  # no-op if already expired
        ledger.record_execution_finished(execution.period, succeeded=False, pr_opened=False, now=now)
        if revised is not None:
            lifecycle.failed(execution, revised, now=now)
        else:
            Task.objects.filter(pk=task.pk, status=Task.Status.RUNNING).update(
                status=Task.Status.PENDING if retry else Task.Status.FAILED, claimed_at=None, updated_at=now
            )
        announce.execution_failed(execution)
    return execution
