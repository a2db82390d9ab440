"""An execution's state changes, each conditional on the state its worker last saw: of two
workers (or a worker and the reaper) making a change, one makes it and the other learns it lost."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from executions.errors import ExecutionAbandoned, ExecutionError, ExecutionMovedOn
from executions.models import Execution

log = logging.getLogger(__name__)


def save(execution: Execution, now: dt.datetime | None, **fields) -> None:
    """Commit a state change at once, with a heartbeat (the reaper leaves live executions alone).

    Conditional on the state this worker last saw (``execution.status`` and ``batch_id`` as it
    holds them): of two workers making the same change, one does it and the other learns that it
    lost (``ExecutionMovedOn``; ``ExecutionAbandoned`` when the reaper closed it). Nothing is
    changed then."""
    fields.setdefault("heartbeat_at", now or timezone.now())
    seen = Execution.objects.filter(pk=execution.pk, status=execution.status, batch_id=execution.batch_id)
    if not seen.update(**fields):
        raise moved_on(execution)
    for name, value in fields.items():
        setattr(execution, name, value)


def moved_on(execution: Execution) -> ExecutionError:
    status = Execution.objects.filter(pk=execution.pk).values_list("status", flat=True).first()
    if status == Execution.Status.ABANDONED:
        return abandoned(execution)
    return ExecutionMovedOn(
        f"Execution {execution.pk} is no longer {execution.status} (it is {status}): another worker "
        "moved it on, and this one leaves it to that worker"
    )


def abandoned(execution: Execution) -> ExecutionAbandoned:
    return ExecutionAbandoned(
        f"Execution {execution.pk} was abandoned by the reaper while this worker still ran it (it made "
        f"no progress for RESERVATION_TIMEOUT_SECONDS, {settings.RESERVATION_TIMEOUT_SECONDS} s); what "
        "was billed stays charged and nothing more is spent"
    )


def left_as_is(execution: Execution, exc: ExecutionAbandoned | ExecutionMovedOn) -> Execution:
    """The execution as the reaper closed it, or as another worker moved it on: its task,
    reservation and counts are theirs."""
    log.warning("%s", exc)
    execution.refresh_from_db()
    execution.task.refresh_from_db()
    return execution
