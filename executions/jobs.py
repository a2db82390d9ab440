"""django-q2 entry points: thin wrappers that log expected outcomes instead of raising them.

Each returns a one-line outcome that q2 keeps as the task's result. The scheduled ones are
created by ``setup_schedules``; the runner itself is ``executions.scheduler.run_next_execution``.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from budget.catalog import retiring_models
from budget.ledger import BudgetExhausted
from budget.pricing import PricingError
from executions.errors import ExecutionError
from executions.gateways.base import PublishError
from executions.models import StepConfig, Task

log = logging.getLogger(__name__)


def run_task(task_id: int) -> str:
    """Run one execution of task ``task_id``; a one-line outcome (kept as the q2 result)."""
    from executions.pipeline import run_execution

    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        log.warning("task %s no longer exists; nothing to run", task_id)
        return f"task {task_id} not found"
    try:
        execution = run_execution(task)
    except BudgetExhausted as exc:
        log.info("task %s not started: %s", task_id, exc)
        return f"not started: {exc}"
    except (ExecutionError, PricingError, PublishError) as exc:
        log.warning("task %s not started: %s", task_id, exc)
        return f"not started: {exc}"
    outcome = f"execution {execution.pk} {execution.status}"
    return f"{outcome}: {execution.error}" if execution.error else outcome


def run_batches() -> str:
    """One pass of batch mode (scheduled every BATCH_POLL_MINUTES); its one-line outcome."""
    from executions.batches import run_batches_pass

    try:
        return run_batches_pass().line()
    except ExecutionError as exc:
        log.warning("batch pass not run: %s", exc)
        return f"not run: {exc}"


def recover_stalled(*, now: dt.datetime | None = None) -> str:
    """Abandon executions whose worker died, then release every other expired reservation.

    Abandoning first releases each dead execution's reservation together with its task's return
    to pending; what is left expired (an owner-less hold) is released by the budget's own job.
    """
    from budget.jobs import expire_reservations
    from executions.reaper import abandon_stalled_executions

    now = now or timezone.now()
    abandoned = abandon_stalled_executions(now=now)
    released = expire_reservations(now=now)
    return f"abandoned executions: {len(abandoned)}; {released}"


def check_model_retirements(*, now: dt.datetime | None = None) -> str:
    """Announce each configured model retiring within MODEL_RETIREMENT_NOTICE_DAYS, once per date.

    Past its date the pipeline switches to the successor and says so itself (``model_switched``).
    """
    from notifications import events

    today = timezone.localdate(now or timezone.now())
    configured = set(StepConfig.objects.values_list("model_name", flat=True))
    soon = [
        model
        for model in retiring_models(on=today, within_days=settings.MODEL_RETIREMENT_NOTICE_DAYS)
        if model.name in configured and model.retires_on >= today
    ]
    announced = [model.name for model in soon if events.model_retiring(model, on=today)]
    if announced:
        log.warning("models retiring soon: %s", ", ".join(announced))
    return f"retiring soon: {', '.join(m.name for m in soon) or 'none'}; newly announced: {len(announced)}"


def sync_pull_requests(*, now: dt.datetime | None = None) -> str:
    """Refresh open pull requests from GitHub (the ``sync-pull-requests`` schedule)."""
    from executions.pull_requests import NotConfigured, sync_open_pull_requests

    try:
        report = sync_open_pull_requests(now=now)
    except (NotConfigured, PublishError) as exc:
        log.warning("pull requests not synced: %s", exc)
        return f"not synced: {exc}"
    for error in report.errors:
        log.warning("pull request not synced: %s", error)
    return f"checked {report.checked} open pull requests: {report.changed} changed, {len(report.errors)} failed"
