"""A whole backtest run: the cases read from the repository's history, each measured, each stored
as it is measured (``BacktestCase``), the totals on the run (``BacktestRun``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from budget.money import format_usd
from executions.backtest import model_mode, prompt
from executions.backtest.cases import Case
from executions.errors import ConfigurationError
from executions.models import Applied, BacktestCase, BacktestRun, Repository, Task
from executions.pipeline import steps
from executions.providers import Providers, providers_for_mode
from executions.repositories.base import RepositoryGateway
from executions.repositories.gateways import get_gateway

COUNTED = (
    "files",
    "files_shown",
    "definitions",
    "signatures_shown",
    "bodies_shown",
    "prompt_bytes",
    "plan_hits",
    "file_hits",
    "definition_hits",
    "cost_nanos",
)
# progress(cases done, cases in all)
Progress = Callable[[int, int], None]


def repository_named(name: str) -> Repository:
    """The repository a backtest replays (by its name in the admin); ``ConfigurationError`` else."""
    repository = Repository.objects.filter(name=name.strip()).first()
    if repository is None:
        known = ", ".join(Repository.objects.values_list("name", flat=True)[:10]) or "none yet"
        raise ConfigurationError(f"No repository is named {name!r} (known: {known}); add it in the admin.")
    return repository


def cases_of(
    repository: Repository, gateway: RepositoryGateway, *, last: int, since: dt.date | None = None
) -> list[Case]:
    """The repository's newest ``last`` cases from its own history (newest first)."""
    if repository.kind == Repository.Kind.GITHUB:
        from executions.backtest.github_history import github_cases  # PyGithub: only for GitHub

        return github_cases(gateway, last=last, since=since)
    from executions.backtest.local_history import local_cases

    return local_cases(gateway, last=last, since=since)


def run_context(
    repository: Repository,
    *,
    last: int = 30,
    since: dt.date | None = None,
    gateway: RepositoryGateway | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> BacktestRun:
    """Context mode: each case's analysis prompt, built and measured; nothing sent or spent.
    Raises ``ConfigurationError`` (no analysis model configured), ``PricingError`` or
    ``PublishError`` (the repository could not be read) before anything is stored."""
    gateway = gateway or get_gateway(repository)
    analysis, _codegen = steps.configured_steps(on=timezone.localdate(now))
    cases = cases_of(repository, gateway, last=last, since=since)
    run = BacktestRun.objects.create(
        repository=repository, last=last, since=since, started_at=now or timezone.now()
    )
    if progress:
        progress(0, len(cases))
    for position, case in enumerate(cases, 1):
        try:
            seen = prompt.measure(case, prompt.task_of(case, repository), gateway, analysis)
        except Exception as exc:  # the repository could not be read: the run says where it stopped
            finish(run, now, error=f"Stopped at case {position}: {exc}", failed=True)
            raise
        store_case(run, position, case, seen)
        if progress:
            progress(position, len(cases))
    return finish(run, now)


def run_models(
    repository: Repository,
    *,
    spend_nanos: int,
    last: int = 30,
    since: dt.date | None = None,
    gateway: RepositoryGateway | None = None,
    providers: Providers | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> BacktestRun:
    """Model mode: context mode's figures, and each case run as an execution of kind "backtest"
    (``model_mode``) while its worst case fits what ``spend_nanos`` leaves. Raises
    ``SpendTooHigh`` before anything runs when the month cannot hold ``spend_nanos``, and
    ``BudgetExhausted`` when the month runs out (or what else the pipeline refuses a case with):
    the run is kept, failed, with its cases so far, and the refused case's task is skipped."""
    model_mode.check_spend(spend_nanos, now=now)
    gateway = gateway or get_gateway(repository)
    providers = providers or providers_for_mode()
    analysis, _codegen = steps.configured_steps(on=timezone.localdate(now))
    cases = cases_of(repository, gateway, last=last, since=since)
    run = BacktestRun.objects.create(
        repository=repository,
        mode=BacktestRun.Mode.MODELS,
        last=last,
        since=since,
        spend_cap_nanos=spend_nanos,
        started_at=now or timezone.now(),
    )
    if progress:
        progress(0, len(cases))
    spent = 0
    for position, case in enumerate(cases, 1):
        seen = prompt.measure(case, prompt.task_of(case, repository), gateway, analysis)
        task = model_mode.task_for(case, repository, key=f"backtest:{run.pk}:{position}")
        try:
            execution = model_mode.run_case(
                case, task, gateway=gateway, providers=providers, cap_left=spend_nanos - spent, now=now
            )
        except Exception as exc:  # refused before anything was charged (the month ran out, ...)
            Task.objects.filter(pk=task.pk, status=Task.Status.PENDING).update(status=Task.Status.SKIPPED)
            finish(run, now, error=f"Stopped before case {position}: {exc}", failed=True)
            raise
        if execution is None:
            Task.objects.filter(pk=task.pk).update(status=Task.Status.SKIPPED)
            run.error = (
                f"Stopped before case {position} of {len(cases)}: its worst case does not fit what --spend "
                f"leaves ({format_usd(spend_nanos - spent)})."
            )
            break
        measured = model_mode.outcome(case, execution, gateway)
        store_case(run, position, case, seen, **measured)
        spent += measured["cost_nanos"]
        if progress:
            progress(position, len(cases))
    return finish(run, now, error=run.error)


def store_case(run: BacktestRun, position: int, case: Case, seen: prompt.PromptSeen, **extra) -> BacktestCase:
    return BacktestCase.objects.create(
        run=run,
        position=position,
        number=case.number,
        url=case.url,
        merge_sha=case.merge_sha,
        base_sha=case.base_sha,
        title=case.title,
        description=case.description,
        real_diff=case.diff,
        seen_files=[f.__dict__ for f in seen.files],
        seen_definitions=[d.__dict__ for d in seen.definitions],
        files=len(seen.files),
        files_shown=sum(1 for f in seen.files if f.content),
        definitions=len(seen.definitions),
        signatures_shown=sum(1 for d in seen.definitions if d.signature),
        bodies_shown=sum(1 for d in seen.definitions if d.body),
        prompt_bytes=seen.prompt_bytes,
        **extra,
    )


def finish(
    run: BacktestRun, now: dt.datetime | None, *, error: str = "", failed: bool = False
) -> BacktestRun:
    """The run's totals, summed from its cases (``failed``: the month's budget stopped it)."""
    with transaction.atomic():
        totals = run.cases.aggregate(**{name: Sum(name) for name in COUNTED})
        for name in COUNTED:
            setattr(run, name, totals[name] or 0)
        applied = Counter(run.cases.values_list("applied", flat=True))
        run.applied_first_try = applied[Applied.FIRST_TRY]
        run.applied_after_retry = applied[Applied.AFTER_RETRY]
        run.never_applied = applied[Applied.NEVER]
        run.status = BacktestRun.Status.FAILED if failed else BacktestRun.Status.FINISHED
        run.error, run.finished_at = error, now or timezone.now()
        run.save()
    return run
