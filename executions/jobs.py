"""django-q2 entry points: thin wrappers that log expected outcomes instead of raising them.

Each returns a one-line outcome that q2 keeps as the task's result. The scheduled ones are
created by ``setup_schedules``; the runner itself is ``executions.scheduling.scheduler.run_next_execution``.
They live in ``executions``, the app that sees the others: each calls the budget's, the
notifications' and the executions' own services.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from budget.catalog import retiring_models
from budget.jobs import expire_reservations
from budget.ledger import BudgetBusy, BudgetExhausted
from budget.models import Period
from budget.periods import current_period, month_start
from budget.pricing import PricingError
from executions.batches.passes import run_batches_pass
from executions.costs.recap import send_recap
from executions.costs.reconcile import reconcile_usage
from executions.errors import ExecutionError
from executions.github import issues
from executions.github.pull_requests import NotConfigured, sync_open_pull_requests
from executions.models import StepConfig, Task
from executions.pipeline.reaper import abandon_stalled_executions
from executions.pipeline.runner import run_execution
from executions.providers.model_check import check_models
from executions.repositories.base import PublishError
from notifications import events
from notifications.recap import in_flight

log = logging.getLogger(__name__)


def run_task(task_id: int) -> str:
    """Run one execution of task ``task_id``; a one-line outcome (kept as the q2 result)."""
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        log.warning("task %s no longer exists; nothing to run", task_id)
        return f"task {task_id} not found"
    try:
        execution = run_execution(task)
    except (BudgetExhausted, BudgetBusy) as exc:  # busy: the task stays pending for a later run
        log.info("task %s not started: %s", task_id, exc)
        return f"not started: {exc}"
    except (ExecutionError, PricingError, PublishError) as exc:
        log.warning("task %s not started: %s", task_id, exc)
        return f"not started: {exc}"
    outcome = f"execution {execution.pk} {execution.status}"
    return f"{outcome}: {execution.error}" if execution.error else outcome


def run_batches() -> str:
    """One pass of batch mode (scheduled every BATCH_POLL_MINUTES); its one-line outcome."""
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
    now = now or timezone.now()
    abandoned = abandon_stalled_executions(now=now)
    released = expire_reservations(now=now)
    return f"abandoned executions: {len(abandoned)}; {released}"


def check_model_retirements(*, now: dt.datetime | None = None) -> str:
    """Announce each configured model retiring within MODEL_RETIREMENT_NOTICE_DAYS, once per date.

    Past its date the pipeline switches to the successor and says so itself (``model_switched``).
    """
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


def check_vendor_models(*, now: dt.datetime | None = None) -> str:
    """The weekly ``check_models``: the vendors' model lists against the configured models."""
    result = check_models(now=now)
    if result.unlisted or result.warnings:
        log.warning("check_models: %s", "; ".join([*result.warnings, *result.lines()[-1:]]))
    return result.summary()


def roll_over_periods(*, now: dt.datetime | None = None) -> str:
    """Open this month's period and send the recap of every finished month's periods, once each.

    Scheduled hourly, it acts at the first check of a month (in TIME_ZONE): the new period opens
    with the current limit (the latest period's) and zero spend. Each recap is recorded exactly
    once (``ledger.mark_recapped`` inside ``notifications.recap.recap_period``), so later checks,
    a second cluster or a rerun after a crash send nothing more.
    """
    now = now or timezone.now()
    period = current_period(now=now)
    # Periods of months that are over, recap not yet recorded: normally just last month's. A
    # month cut by ``reset_budget`` has two, each recapped once its month is over.
    finished = Period.objects.filter(month__lt=month_start(now), recapped_at__isnull=True).order_by(
        "starts_at"
    )
    recapped = [p for p in finished if send_recap(p, now=now)]
    for p in recapped:
        log.info("recap of %s recorded", p)
    # A finished month with executions still in flight is recapped at a later check, once they end.
    waiting = sum(in_flight(p, now=now) for p in finished if p not in recapped)
    outcome = f"open period {period.month:%Y-%m}; recaps recorded: {len(recapped)}"
    return f"{outcome}; waiting for executions in flight: {waiting}" if waiting else outcome


def sync_issues(*, now: dt.datetime | None = None) -> str:
    """Follow the enabled GitHub repositories' issues and post due issue comments (the
    ``sync-issues`` schedule)."""
    try:
        report = issues.sync_issues(now=now)
    except NotConfigured as exc:
        log.warning("issues not synced: %s", exc)
        return f"not synced: {exc}"
    for error in report.errors:
        log.warning("issues not synced: %s", error)
    return "; ".join([*report.lines, *report.errors, f"{report.comments_posted} comment(s) posted"])


def sync_pull_requests(*, now: dt.datetime | None = None) -> str:
    """Refresh open pull requests from GitHub (the ``sync-pull-requests`` schedule)."""
    try:
        report = sync_open_pull_requests(now=now)
    except (NotConfigured, PublishError) as exc:
        log.warning("pull requests not synced: %s", exc)
        return f"not synced: {exc}"
    for error in report.errors:
        log.warning("pull request not synced: %s", error)
    return (
        f"checked {report.checked} open pull requests: {report.changed} changed, {len(report.errors)} failed"
    )


def reconcile_vendor_usage(*, now: dt.datetime | None = None) -> str:
    """The daily ``reconcile_usage``: the month of yesterday (UTC), whose last closed day is then
    final; announced differences go out once. Off (and quiet) without admin keys."""
    now = now or timezone.now()
    yesterday = now.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    outcome = reconcile_usage(month=yesterday.replace(day=1), now=now)
    if outcome.exit_code:
        log.warning("reconcile_usage: %s", " | ".join(outcome.lines))
    if outcome.record is None:
        return outcome.lines[0]
    verdict = "matched" if outcome.record.matched else "differs"
    return f"usage {outcome.record.month:%Y-%m}: {verdict}; newly announced days: {outcome.announced}"
