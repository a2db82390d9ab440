"""Repositories as data: which tasks may run now, why a repository's tasks wait, and what each
repository spent.

- ``runnable_tasks()``: the pending tasks of enabled repositories GitHub has not refused; the
  scheduler and batch mode pick from them, by priority then age, across repositories.
- ``mark_unavailable`` / ``mark_available``: a repository GitHub answers 404 or 403 for is marked
  with the reason (its tasks wait, the others go on) until it answers again.
- ``count_execution``, ``count_spend``, ``count_pull_request``: the running totals per period and
  repository (``RepositoryUsage``), each called in the transaction that changes the period's own
  count, so a period's rows add up to its figures.
- ``figures``: those totals as JSON; the budget shows them without importing this app
  (``budget.selectors.register_repository_figures``, in ``ExecutionsConfig.ready``).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from budget.money import dollars_str
from budget.selectors import UnknownRepository
from budget.stats import nearest
from executions.models import Execution, Repository, RepositoryUsage, Task

log = logging.getLogger(__name__)


ISSUE_GONE = [Task.IssueState.CLOSED, Task.IssueState.UNLABELED, Task.IssueState.DELETED]


def runnable_tasks() -> QuerySet[Task]:
    """Pending tasks that may run now: their repository is enabled and reachable, and a task from
    an issue only while its issue is open and labelled."""
    return (
        Task.objects.filter(status=Task.Status.PENDING, repository__enabled=True, repository__problem="")
        .exclude(source=Task.Source.GITHUB_ISSUE, issue_state__in=ISSUE_GONE)
        .exclude(source=Task.Source.BACKTEST)  # run by ``backtest --models`` alone, never published
        .order_by("-priority", "created_at", "pk")
    )


def why_not_runnable(task: Task) -> str:
    """Why ``task``'s repository keeps it waiting; empty when it does not."""
    repository = task.repository
    if not repository.enabled:
        return f"Repository {repository.name} is disabled: its tasks wait until it is enabled in the admin."
    if repository.problem:
        return f"Repository {repository.name} is unavailable: {repository.problem}"
    return ""


# --- marking -------------------------------------------------------------------------------------


def mark_unavailable(repository_id: int, reason: str, *, now: dt.datetime | None = None) -> None:
    """GitHub answered 404 or 403 for the repository: its tasks wait, with ``reason`` in the admin."""
    changed = (
        Repository.objects.filter(pk=repository_id)
        .exclude(problem=reason[:2000])
        .update(problem=reason[:2000], problem_at=now or timezone.now())
    )
    if changed:
        log.warning("repository %s marked unavailable: %s", repository_id, reason)


def mark_available(repository: Repository) -> bool:
    """GitHub answers for the repository again; True when it was marked."""
    cleared = (
        Repository.objects.filter(pk=repository.pk).exclude(problem="").update(problem="", problem_at=None)
    )
    repository.problem, repository.problem_at = "", None
    if cleared:
        log.info("repository %s is available again", repository.name)
    return bool(cleared)


# --- running totals ---------------------------------------------------------------------------------


def count_execution(task: Task, period_id: int) -> None:
    """An execution of ``task`` started in the period (``ledger.record_execution_started``'s twin)."""
    _add(period_id, task.repository_id, executions=1)


def count_spend(execution: Execution, cost_nanos: int) -> None:
    """A charge of ``execution`` (``ledger.charge``'s twin, in its transaction)."""
    if cost_nanos:
        _add(execution.period_id, execution.task.repository_id, spent_nanos=cost_nanos)


def count_pull_request(execution: Execution, *, opened: bool = False, merged: bool = False) -> None:
    """A pull request of ``execution`` was opened or merged, counted in the execution's period (as
    ``ledger.record_execution_finished`` and ``budget.outcomes`` count them)."""
    increments = {"prs": int(opened), "merged_prs": int(merged)}
    if any(increments.values()):
        _add(execution.period_id, execution.task.repository_id, **increments)


def _add(period_id: int, repository_id: int, **increments: int) -> None:
    """Add to the (period, repository) row, created by the first increment. Callers hold the
    period's row (every writer of a period locks it first), so two first increments queue there;
    the savepoint covers the one that would not."""
    added = {name: F(name) + amount for name, amount in increments.items() if amount}
    row = RepositoryUsage.objects.filter(period_id=period_id, repository_id=repository_id)
    if row.update(**added):
        return
    try:
        with transaction.atomic():
            RepositoryUsage.objects.create(period_id=period_id, repository_id=repository_id, **increments)
    except IntegrityError:
        row.update(**added)


# --- figures -------------------------------------------------------------------------------------


def figures(period_ids: list[int], *, repository: str | None = None) -> dict[int, list[dict]]:
    """{period id: its repositories' figures, costliest first}. With ``repository`` (``owner/name``
    or a local path), that repository's only (zeros in a period it did not work in); raises
    ``UnknownRepository`` for a name no repository has."""
    rows = RepositoryUsage.objects.filter(period_id__in=period_ids).select_related("repository")
    only = None
    if repository is not None:
        only = Repository.objects.filter(name=repository).first()
        if only is None:
            raise UnknownRepository(f"There is no repository {repository!r}.")
        rows = rows.filter(repository=only)
    found: dict[int, list[dict]] = {pk: [] for pk in period_ids}
    for row in rows.order_by("-spent_nanos", "repository__name"):
        found[row.period_id].append(_as_json(row.repository, row))
    if only is not None:
        for listed in found.values():
            listed[:] = listed or [_as_json(only, RepositoryUsage())]
    return found


def _as_json(repository: Repository, row: RepositoryUsage) -> dict:
    per_merged = nearest(row.spent_nanos, row.merged_prs) if row.merged_prs else None
    return {
        "repository": repository.name,
        "kind": repository.kind,
        "spent": dollars_str(row.spent_nanos),
        "executions": row.executions,
        "prs": row.prs,
        "merged_prs": row.merged_prs,
        "cost_per_merged_pr": None if per_merged is None else dollars_str(per_merged),
    }
