"""The scheduled runner: every SCHEDULE_MINUTES the worker considers starting the next execution.

``run_next_execution`` starts the next pending work — a pending task, or a queued revision of a
pull request (``executions.revisions.lifecycle``) — highest priority, then oldest, across repositories (a
disabled or unavailable repository's tasks wait), only when:

- a run slot is free: at most MAX_CONCURRENT_EXECUTIONS executions at once, across every
  cluster and machine (``run_slot``), and no more than that already running;
- the month is on pace (PACING_ENABLED): spend, counting the execution about to start, stays
  within one worst case of the even-spend line (``pacing.may_start``), so the budget lasts the month;
- the worst case fits, or the month is not yet known to be exhausted (the pipeline records and
  announces an exhaustion once; later runs skip it quietly). When only running work's holds are
  in the way (busy), it waits for the next tick, saying so, and nothing is recorded.

Otherwise it does nothing and says why in one line, which q2 keeps as the task's result. It never
raises for an expected outcome: a scheduled job that raised would only fill the failure list.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from budget import pacing
from budget.ledger import BudgetBusy, BudgetExhausted
from budget.money import format_usd
from budget.periods import current_period
from budget.pricing import PricingError
from executions.backlog.services import next_pending_work
from executions.errors import ExecutionError, RevisionCancelled, TaskBusy, WorkSetAside
from executions.models import Execution, Revision, Task
from executions.pipeline.runner import run_execution
from executions.pipeline.steps import batch_mode
from executions.providers import Providers, providers_for_mode
from executions.repositories.base import PublishError, RepositoryGateway, RepositoryUnavailable
from executions.repositories.gateways import get_gateway
from executions.revisions import lifecycle
from executions.scheduling.slots import run_slot

log = logging.getLogger(__name__)

SCHEDULE_NAME = "run-next-execution"  # the q2 schedule that calls ``run_next_execution`` (setup_schedules)


def run_next_execution(
    *,
    now: dt.datetime | None = None,
    providers: Providers | None = None,
    gateway: RepositoryGateway | None = None,
) -> str:
    """Start and run the next pending task if the gates allow; a one-line outcome either way."""
    with run_slot() as slot:
        if slot is None:
            return _skip(f"all {settings.MAX_CONCURRENT_EXECUTIONS} run slot(s) are busy")
        running = Execution.objects.filter(status__in=Execution.ACTIVE).count()
        if running >= settings.MAX_CONCURRENT_EXECUTIONS:
            return _skip(
                f"{running} execution(s) running; at most {settings.MAX_CONCURRENT_EXECUTIONS} at once"
            )
        providers = providers or providers_for_mode()
        tried: list[Task | Revision] = []
        for _ in range(CLAIM_ATTEMPTS):
            try:
                return _run_next(now, providers, gateway, tried)
            except _Claimed:
                continue  # another worker took that task between our pick and our claim
            except (RevisionCancelled, WorkSetAside) as exc:
                log.warning("%s", exc)
                continue  # it cannot run (now): the next work goes on
            except RepositoryUnavailable as exc:
                log.warning("next execution not started: %s", exc)
                continue  # its repository is marked now: the others' tasks go on
        return _skip(
            "the next pending tasks were claimed by other workers or their repository is unavailable"
        )


# Picking the next task and claiming it are two steps: a runner that loses the claim to another
# worker picks again, a few times, rather than letting its slot go unused; so does one whose
# task's repository turns out to be gone or refused (GitHub's 404 or 403 marks it).
CLAIM_ATTEMPTS = 3


class _Claimed(Exception):
    """The picked task was claimed by another worker first."""


def _run_next(
    now: dt.datetime | None, providers: Providers, gateway: RepositoryGateway | None, tried: list
) -> str:
    if batch_mode():
        return _skip("batch mode is on: run_batches takes the pending tasks")
    work = next_pending_work(exclude=tried)
    if work is None:
        return _skip("no pending task")
    tried.append(work)  # set aside or claimed elsewhere: not picked again in this run
    task, revision = (work.task, work) if isinstance(work, Revision) else (work, None)
    at = now or timezone.now()
    period = current_period(now=at)
    # Pacing first: it needs no worst case, so a runner that waits reads no repository context.
    if settings.PACING_ENABLED and not pacing.may_start(period, at):
        return _skip(
            f"ahead of pace: {format_usd(period.spent_nanos + period.reserved_nanos, places=4)} spent or "
            f"held, even-spend line {format_usd(pacing.even_spend_nanos(period, at), places=4)}"
        )
    if period.exhausted_at is not None:  # nothing starts after an exhaustion (a raised limit clears it)
        return _skip(f"the budget for {period.month:%Y-%m} is exhausted")
    try:
        gateway = gateway or get_gateway(task.repository)
    except RepositoryUnavailable:
        raise
    except (ExecutionError, PublishError) as exc:
        log.warning("next execution not started: %s", exc)
        return f"not started: {exc}"
    try:
        execution = run_execution(work, now=now, providers=providers, gateway=gateway)
    except BudgetExhausted as exc:  # recorded and announced once by the pipeline
        log.info("next execution not started: %s", exc)
        return f"not started: {exc}"
    except BudgetBusy as exc:  # running work holds the money: the next tick tries again
        return _skip(str(exc))
    except (RevisionCancelled, WorkSetAside, RepositoryUnavailable):
        raise  # this work cannot run (now): the next one goes on
    except TaskBusy:
        raise _Claimed from None
    except (ExecutionError, PricingError, PublishError) as exc:
        log.warning("task %s not started: %s", task.pk, exc)
        return f"not started: {exc}"
    what = f"task {task.pk}" + (
        f" (revision {revision.pk} of {lifecycle.label(revision)})" if revision else ""
    )
    outcome = f"execution {execution.pk} of {what} {execution.status}"
    return f"{outcome}: {execution.error}" if execution.error else outcome


def _skip(reason: str) -> str:
    log.debug("scheduled run skipped: %s", reason)
    return f"skipped: {reason}"
