"""What an execution tells the outbox when it starts, completes or fails (and, for a task from a
GitHub issue that failed for good, the issue).

The executions app owns these rows, so it turns them into the event's facts (JSON, money as
decimal-string dollars) and passes them down to ``notifications.events.execution_event``. Call
these inside the transaction of the change they report.
"""

from __future__ import annotations

from budget.money import dollars_str
from executions.models import Execution
from executions.repositories import comments
from notifications.events import execution_event
from notifications.models import Event

Kind = Event.Kind


def execution_started(execution: Execution) -> Event | None:
    return execution_event(
        Kind.EXECUTION_STARTED, execution=execution_facts(execution), period=execution.period
    )


def execution_completed(execution: Execution) -> Event | None:
    return execution_event(
        Kind.EXECUTION_COMPLETED, execution=execution_facts(execution), period=execution.period
    )


def execution_failed(execution: Execution) -> Event | None:
    """Also the issue of a task that failed for good: it hears why, once (``comments.task_failed``)."""
    comments.task_failed(execution)
    return execution_event(
        Kind.EXECUTION_FAILED, execution=execution_facts(execution), period=execution.period
    )


def execution_facts(execution: Execution) -> dict:
    """The execution as the message shows it: task, outcome, cost, and each call's tokens and cost."""
    return {
        "id": execution.pk,
        "status": execution.status,
        "simulated": execution.simulated,
        "task_id": execution.task_id,
        "task_title": execution.task.title,
        "cost": dollars_str(execution.cost_nanos),
        "branch": execution.branch,
        "commit_sha": execution.commit_sha,
        "pr_number": execution.pr_number,
        "pr_url": execution.pr_url,
        "revision": execution.revision_id is not None,  # a follow-up commit on its pull request
        "error": execution.error,
        "calls": [
            {
                "step": call.step,
                "model": call.model,
                "input_tokens": call.input_tokens
                + call.cache_read_tokens
                + call.cache_write_5m_tokens
                + call.cache_write_1h_tokens,
                "output_tokens": call.output_tokens,
                "cost": dollars_str(call.cost_nanos),
            }
            for call in execution.calls.all()
        ],
    }
