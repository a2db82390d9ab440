"""django-q2 entry points: thin wrappers that log expected outcomes instead of raising them."""

from __future__ import annotations

import logging

from budget.ledger import BudgetExhausted
from budget.pricing import PricingError
from executions.errors import ExecutionError
from executions.gateways.base import PublishError
from executions.models import Task

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
