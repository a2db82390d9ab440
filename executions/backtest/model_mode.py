"""Model mode (``backtest --models --spend DOLLARS``): each case also runs the analysis and the
code generation as an execution of kind "backtest": its worst case reserved from the month like
any execution (the hard cap holds), each call charged, the change applied to the case's base and
published nowhere. ``--spend`` caps the run's own total: a case starts only while its worst case
fits what the cap leaves, and a cap above what the month has left is refused.

Measured per case: the files the plan named against the real ones; whether the coder's answer
applied (first try, after a retry, never); the files and definitions the produced change touched
against the real ones; the cost.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging

from budget.money import format_usd
from budget.periods import current_period
from executions.backtest.cases import Case, changed_definitions, touched_lines
from executions.errors import ExecutionError
from executions.models import Applied, Execution, ModelCall, Repository, Task
from executions.pipeline import runner
from executions.providers import Providers
from executions.repositories.base import Change, PublishResult, RepositoryGateway

log = logging.getLogger(__name__)


class SpendTooHigh(ExecutionError):
    """``--spend`` is above what the month has left."""


def check_spend(spend_nanos: int, *, now: dt.datetime | None = None) -> None:
    """Refuse a cap the month cannot hold: ``limit − spent − reserved``."""
    period = current_period(now=now)
    left = period.limit_nanos - period.spent_nanos - period.reserved_nanos
    if spend_nanos > left:
        raise SpendTooHigh(
            f"--spend {format_usd(spend_nanos)} is above what the month has left ({format_usd(max(left, 0))} of "
            f"{format_usd(period.limit_nanos, places=2)}): lower it, or raise the month's limit."
        )


def task_for(case: Case, repository: Repository, key: str) -> Task:
    """The case's task, saved for its execution (``source`` backtest: the scheduler never runs it)."""
    return Task.objects.create(
        title=case.title,
        description=case.description,
        repository=repository,
        source=Task.Source.BACKTEST,
        source_key=key,
        max_attempts=1,
    )


def run_case(
    case: Case,
    task: Task,
    *,
    gateway: RepositoryGateway,
    providers: Providers,
    cap_left: int,
    now: dt.datetime | None = None,
) -> Execution | None:
    """Run the case's execution at its base, or None when its worst case does not fit ``cap_left``
    (nothing reserved). Raises ``BudgetExhausted`` (and the pipeline's other refusals) before
    anything is charged."""
    prepared = runner.prepare(task, providers=providers, gateway=gateway, now=now, base_sha=case.base_sha)
    if prepared.worst_case.admit_nanos > cap_left:  # what it could ever be billed, not only what it holds
        return None
    execution, prepared = runner.start(task, prepared, providers, now)
    try:
        runner.produce_change(execution, prepared, providers, gateway, now)
    except runner.EXPECTED_FAILURES as exc:
        return runner.finish_failed_on(execution, exc, now)
    except Exception:
        log.exception("backtest execution %s stopped on an unexpected error", execution.pk)
        runner.finish_failed(execution, "Unexpected error; see the log", now)
        raise
    # Published nowhere: the execution ends with its change recorded, no branch, no pull request.
    return runner.finish_succeeded(execution, PublishResult(branch="", commit_sha=""), now)


def outcome(case: Case, execution: Execution, gateway: RepositoryGateway) -> dict:
    """What the execution did against the real change: the ``BacktestCase`` fields of model mode."""
    execution.refresh_from_db()
    tries = ModelCall.objects.filter(execution=execution, step=ModelCall.Step.CODEGEN).count()
    if execution.change is None:
        applied = Applied.NEVER
    else:
        applied = Applied.FIRST_TRY if tries == 1 else Applied.AFTER_RETRY
    change = Change.from_json(execution.change) if execution.change else Change(summary="", files=[])
    produced = [f.path for f in change.files]
    base = gateway.read_files(case.base_sha, produced)
    definitions = []
    for f in change.files:
        if f.path in base:
            before = base[f.path].decode("utf-8", "replace")
            after = "" if f.deleted else f.content
            patch = "\n".join(difflib.unified_diff(before.split("\n"), after.split("\n"), n=0, lineterm=""))
            definitions += [d.key for d in changed_definitions(f.path, base[f.path], touched_lines(patch))]
    real_definitions = {d.key for d in case.definitions}
    return {
        "execution": execution,
        "plan_files": list(execution.plan_files),
        "plan_hits": len(set(case.files) & set(execution.plan_files)),
        "applied": applied,
        "produced_files": produced,
        "produced_definitions": definitions,
        "file_hits": len(set(case.files) & set(produced)),
        "definition_hits": len(real_definitions & set(definitions)),
        "cost_nanos": execution.cost_nanos,
    }
