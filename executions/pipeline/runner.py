"""The pipeline: one execution of one task, from claim to published change.

claim the task → resolve the models → reserve the worst case → analysis → charge → code
generation → charge → validate → publish → release the rest. Each step commits as it happens (a
crash leaves an honest record: charges stay, the reaper frees the reservation). A vendor, validation
or publishing failure ends the execution as failed with a readable ``error``; it is not raised.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from budget import ledger, outcomes
from budget.money import dollars_str, format_usd
from budget.pricing import PricingError, check_input_bound
from executions.analysis import analyst
from executions.changes import edits
from executions.changes.coder import failures_message, parse_change
from executions.changes.proposal import EditFailure, Proposal
from executions.changes.validation import MAX_FILE_BYTES, show
from executions.context import repoindex, repomap
from executions.errors import (
    ChangeRejected,
    ExecutionAbandoned,
    ExecutionError,
    ExecutionMovedOn,
    ProviderError,
    RepositoryDisabled,
    TaskBusy,
    UsageOverrun,
)
from executions.github import pull_requests
from executions.models import Execution, Revision, Task
from executions.pipeline import announce, charging, forms, holds, lookup_rounds, state, steps
from executions.pipeline.preparation import preparing
from executions.pipeline.steps import try_nanos
from executions.providers import Completion, CompletionRequest, Provider, Providers, providers_for_mode
from executions.providers.base import InputCount, count_input
from executions.repositories import standing
from executions.repositories.base import (
    Change,
    PublishError,
    PublishResult,
    RepositoryGateway,
    Snapshot,
)
from executions.repositories.gateways import get_gateway
from executions.repositories.pr_body import pr_body_for
from executions.revisions import lifecycle
from notifications import events
from notifications.secrets import mask_secrets
from notifications.text import storable

log = logging.getLogger(__name__)

MAX_FAILURE_CHARS = 4_000  # of a call's failure, as stored for the admin

# Failures that end an execution as failed (with their message) instead of being raised. An
# execution the reaper abandoned, or another worker moved on, is left as it is (``finish_failed``
# finds it no longer in the state this worker saw).
EXPECTED_FAILURES = (
    ProviderError,
    ChangeRejected,
    PublishError,
    PricingError,
    UsageOverrun,
    ExecutionAbandoned,
    ExecutionMovedOn,
)


@dataclass(frozen=True)
class Base:
    """The repository at the execution's base commit: what both prompts show, and what the
    change is applied to and committed on."""

    snapshot: Snapshot
    index: repoindex.RepoIndex
    overview: str  # the commit-stable part of both prompts

    @property
    def commit_sha(self) -> str:
        return self.snapshot.commit_sha


def base_of(gateway: RepositoryGateway, commit_sha: str = "") -> Base:
    """The base branch's head (or ``commit_sha``, an execution's recorded base) with its index."""
    snapshot = gateway.snapshot()
    if commit_sha:
        snapshot = replace(snapshot, commit_sha=commit_sha)
    index = repoindex.index_for(snapshot, gateway)
    return Base(snapshot, index, repomap.overview(snapshot, index))


@dataclass(frozen=True)
class StepBound:
    """The most one step can cost: its input bound and output cap, on every try it may make."""

    step: str
    model: str
    input_tokens: int  # a true upper bound on each try's input
    output_tokens: int  # the step's max_tokens
    tries: int
    batch: bool  # bounded at the vendor's batch price
    nanos: int  # the worst case of all its tries
    first_nanos: int = 0  # the worst case of its first call: what is held for it from the start

    def as_json(self) -> dict:
        return {
            "step": self.step,
            "model": self.model,
            "max_input_tokens": self.input_tokens,
            "max_output_tokens": self.output_tokens,
            "tries": self.tries,
            "batch": self.batch,
            "worst_case": dollars_str(self.nanos),
            "held_at_start": dollars_str(self.first_nanos),
        }


@dataclass(frozen=True)
class WorstCase:
    """What an execution holds before its first paid call (``nanos``: each step's first call; a
    look-up round or a further coder try is held when it is decided, ``holds.make_room``), what
    it exposes (``exposed_nanos``: the analysis input held at Anthropic's count could be billed up
    to its byte bound), and the most it could ever be billed (``admit_nanos``: every call it may
    make, each input at its byte bound), which the month must be able to absorb for it to start
    in this form."""

    analysis: StepBound
    codegen: StepBound
    analysis_bound_nanos: int = 0  # every analysis call at its byte bound (0: the same as ``analysis``)
    analysis_first_bound_nanos: int = 0  # its first call at its byte bound (0: as held)

    @property
    def nanos(self) -> int:
        return self.analysis.first_nanos + self.codegen.first_nanos

    @property
    def exposed_nanos(self) -> int:
        return max(self.analysis_first_bound_nanos - self.analysis.first_nanos, 0)

    @property
    def admit_nanos(self) -> int:
        return max(self.analysis_bound_nanos, self.analysis.nanos) + self.codegen.nanos


@dataclass(frozen=True)
class Prepared:
    """Everything decided before money is held: the steps, the context and the worst case."""

    analysis: steps.Step
    codegen: steps.Step
    base: Base
    analysis_request: CompletionRequest
    worst_case: WorstCase
    revision: Revision | None = None  # a follow-up commit on the task's pull request (or branch)
    form: forms.Form | None = None  # None: the full form
    full: forms.Form | None = None
    analysis_input: InputCount | None = None  # how the analysis input is held
    ranking: str = ""  # what ranks the repository's files, and a revision's part of the prompt:
    asked: str = ""  # kept to build the smaller forms (``smaller``)
    gateway: RepositoryGateway | None = None

    @property
    def worst_case_nanos(self) -> int:
        return self.worst_case.nanos

    @property
    def codegen_tries(self) -> int:
        return 1 + (self.form.reflections if self.form else settings.CODEGEN_REFLECTIONS)


def run_execution(
    work: Task | Revision,
    *,
    now: dt.datetime | None = None,
    providers: Providers | None = None,
    gateway: RepositoryGateway | None = None,
) -> Execution:
    """Run one execution of a task, or of a revision of its pull request, now, synchronously, and
    return it (succeeded or failed).

    Raises before anything is charged: ``TaskBusy`` (running elsewhere, or not pending;
    ``RevisionCancelled``: a revision that can no longer run), ``BudgetBusy`` (running work holds
    the money its worst case needs: nothing recorded), ``BudgetExhausted`` (not even its smallest
    form fits what the month has not spent; recorded and announced once), ``PricingError`` / ``ConfigurationError`` (a model
    or key problem; ``RepositoryDisabled``), ``PublishError`` (the repository context could not be
    read). The task (or revision) is left as it was in each of those cases. ``gateway``: by default
    the task's repository's. A revision whose branch moved while it ran starts again at once, from
    the new head (``executions.revisions.lifecycle``): the execution returned is the second one.
    """
    revision = work if isinstance(work, Revision) else None
    task = work.task if revision is not None else work
    providers = providers or providers_for_mode()
    task.refresh_from_db(from_queryset=Task.objects.select_related("repository"))
    if revision is not None:
        revision.refresh_from_db()
        if revision.status != Revision.Status.PENDING:
            raise TaskBusy(lifecycle.why_not_pending(revision))
    elif task.status != Task.Status.PENDING:
        raise TaskBusy(_why_not_pending(task))  # early and cheap; the claim below is what decides
    if not task.repository.enabled:
        raise RepositoryDisabled(standing.why_not_runnable(task))
    gateway = gateway or get_gateway(task.repository)
    with preparing(work, now=now):  # a failure of the work's own sets it aside (``WorkSetAside``)
        prepared = prepare(task, providers=providers, gateway=gateway, now=now, revision=revision)
    execution, prepared = start(task, prepared, providers, now)
    execution = _run(execution, prepared, providers, gateway, now)
    if revision is not None and lifecycle.restarting(revision):
        try:
            return run_execution(revision, now=now, providers=providers, gateway=gateway)
        except (ExecutionError, PricingError, PublishError, ledger.BudgetExhausted, ledger.BudgetBusy) as exc:
            log.warning("revision %s waits to start again: %s", revision.pk, exc)
    return execution


def prepare(
    task: Task,
    *,
    providers: Providers,
    gateway: RepositoryGateway,
    now: dt.datetime | None = None,
    batch: bool = False,
    revision: Revision | None = None,
    base_sha: str = "",
) -> Prepared:
    """Resolve both steps' models and bound the whole execution's cost from the real prompts
    (refusing a request that could pass its model's input limit, ``InputTooLong``).

    With ``batch`` (``run_batches``), the steps flagged for batch mode are bounded at their batch
    price; without it every step runs (and is bounded) at the standard price. A ``revision``
    starts from its branch's head, and its analyst also sees the feedback and the pull request's
    diff (``lifecycle.context_for``), which the worst case bounds as the rest of the prompt.
    """
    analysis, codegen = steps.configured_steps(on=timezone.localdate(now) if now else timezone.localdate())
    if not batch:
        analysis, codegen = replace(analysis, batch=False), replace(codegen, batch=False)
    ranking, asked = steps.task_text(task), ""
    if revision is None:
        base = base_of(gateway, base_sha)  # ``base_sha``: a backtest's case, at its pull request's base
    else:
        base = base_of(gateway, lifecycle.start_from(revision, gateway, now=now))
        extra = lifecycle.context_for(revision, gateway, base.commit_sha)
        ranking, asked = f"{ranking}\n\n{extra.ranking}", extra.prompt
    full = forms.full_form(analysis.max_tokens, lookups=lookup_rounds.allowed(analysis))
    shell = Prepared(analysis, codegen, base, None, None, revision, None, full, None, ranking, asked, gateway)
    return in_form(task, shell, full, providers)


def in_form(task: Task, prepared: Prepared, form: forms.Form, providers: Providers) -> Prepared:
    """``prepared`` (its steps at their configuration, its base) in ``form``: the analysis request
    with that form's context and output cap, and its worst case. The context and its count are
    reused from ``prepared`` when the form shows as much."""
    analysis = replace(prepared.analysis, max_tokens=form.analysis_max_tokens)
    shown = prepared.form or prepared.full
    same_context = prepared.analysis_request is not None and (shown.context_share, shown.lookups) == (
        form.context_share,
        form.lookups,
    )
    if same_context:
        request = replace(prepared.analysis_request, max_tokens=analysis.max_tokens)
        counted = prepared.analysis_input
    else:
        request = analysis_request_at(
            prepared.base,
            prepared.gateway,
            analysis,
            task,
            prepared.ranking,
            asked=prepared.asked,
            map_tokens=form.map_tokens(),
            file_bytes=form.file_bytes(),
            lookups=form.lookups,
        )
        counted = None
    counted = counted or count_input(providers.analysis, request)
    worst = worst_case(
        task,
        analysis,
        prepared.codegen,
        base=prepared.base,
        analysis_request=request,
        providers=providers,
        reflections=form.reflections,
        analysis_input=counted,
    )
    return replace(
        prepared,
        analysis=analysis,
        analysis_request=request,
        worst_case=worst,
        form=form,
        analysis_input=counted,
    )


def smaller(task: Task, prepared: Prepared, providers: Providers):
    """``prepared`` in each reduced form (``forms.smaller_forms``) whose worst case is smaller
    than the last one's, smallest last."""
    last = prepared.worst_case.admit_nanos
    for form in forms.smaller_forms(prepared.full):
        candidate = in_form(task, prepared, form, providers)
        if candidate.worst_case.admit_nanos < last:
            last = candidate.worst_case.admit_nanos
            yield candidate


def analysis_request_at(
    base: Base,
    gateway: RepositoryGateway,
    analysis: steps.Step,
    task: Task,
    ranking: str,
    *,
    asked: str = "",
    map_tokens: int | None = None,
    file_bytes: int | None = None,
    lookups: int | None = None,
) -> CompletionRequest:
    """The analyst's request for ``task`` at ``base``: the map ranked for ``ranking`` (the task's
    words, ``steps.task_text``, and a revision's feedback) with the best files, and ``asked`` (a
    revision's part), within the context caps, offering ``lookups`` rounds of ``show`` (by default
    the configured ones: the full form).
    The one place it is built: ``prepare`` sends it, ``executions.backtest`` measures it."""
    context = repomap.task_context(
        base.index,
        gateway,
        ranking,
        map_tokens=settings.CONTEXT_MAP_TOKENS if map_tokens is None else map_tokens,
        file_bytes=settings.CONTEXT_FILE_BYTES if file_bytes is None else file_bytes,
    )
    lookups = lookup_rounds.allowed(analysis) if lookups is None else lookups
    return steps.analysis_request(analysis, task, base.overview, context, revision=asked, lookups=lookups)


def worst_case(
    task: Task,
    analysis: steps.Step,
    codegen: steps.Step,
    *,
    base: Base,
    analysis_request: CompletionRequest,
    providers: Providers,
    reflections: int | None = None,
    analysis_input: InputCount | None = None,
) -> WorstCase:
    """The whole execution's worst case: the one computation of what an execution reserves
    (``prepare`` for the pipeline and batch mode; ``budget costs`` shows it for the next task).

    Each step: its input as held (the analysis: Anthropic's count plus a margin, or the byte
    bound: ``analysis_input``, counted here by default) at the dearest input rate, plus
    ``max_tokens`` at the output rate, for every try it may make (``reflections`` further coder
    tries, ``CODEGEN_REFLECTIONS`` by default; a step in batch mode at its batch price, refused
    here if that is not exact). Raises ``InputTooLong`` for a request that could pass its model's
    input limit.
    """
    counted = analysis_input or count_input(providers.analysis, analysis_request)
    lookups = lookup_rounds.allowed(analysis, analysis_request)
    lookup_tokens = (
        providers.analysis.input_token_bound(steps.lookup_at_caps(analysis_request, lookups))
        if lookups
        else 0
    )
    # The plan and the files it names are not known yet: bound the coder's input by its known
    # part plus the plan's cap and the files' cap, so a large repository can never overspend.
    codegen_template = steps.codegen_request(codegen, task, base.overview, plan="", files={})
    return WorstCase(
        # Each look-up round is one more analysis call, bounded as its last (and largest) one: its
        # request is not known yet, so at its byte bound.
        analysis=_step_bound(analysis, counted.tokens, further_tokens=lookup_tokens, further_tries=lookups),
        codegen=codegen_bound(
            codegen,
            providers.codegen,
            codegen_template,
            unknown_bytes=steps.plan_byte_cap(analysis) + steps.codegen_files_bound(),
            reflections=reflections,
        ),
        analysis_bound_nanos=try_nanos(analysis, counted.bound)
        + lookups * try_nanos(analysis, lookup_tokens),
        analysis_first_bound_nanos=try_nanos(analysis, counted.bound),
    )


def codegen_bound(
    step: steps.Step,
    provider: Provider,
    request: CompletionRequest,
    *,
    unknown_bytes: int = 0,
    reflections: int | None = None,
) -> StepBound:
    """The coder's worst case over every try it may make, ``request`` being its first: that
    try's input bound, and ``CODEGEN_REFLECTIONS`` times a further try's (the same request plus
    the previous answer and the failures at their caps: ``steps.reflection_at_caps``).
    ``unknown_bytes``: what the request will hold that it does not hold yet (before the analysis:
    the plan's and the files' caps). Further tries whose input could pass the model's input limit
    are not reserved (so not made). ``reflections``: the further tries allowed (by default
    ``CODEGEN_REFLECTIONS``; a reduced form allows fewer)."""
    first = provider.input_token_bound(request) + unknown_bytes
    further = provider.input_token_bound(steps.reflection_at_caps(step, request)) + unknown_bytes
    limit = step.resolved.model.max_input_tokens
    allowed = settings.CODEGEN_REFLECTIONS if reflections is None else reflections
    reflections = allowed if limit is None or further <= limit else 0
    return _step_bound(step, first, further_tokens=further, further_tries=reflections)


def _step_bound(
    step: steps.Step, input_tokens: int, *, further_tokens: int = 0, further_tries: int = 0
) -> StepBound:
    check_input_bound(step.resolved.model, input_tokens)
    return StepBound(
        step=step.name,
        model=step.model_name,
        input_tokens=max(input_tokens, further_tokens if further_tries else 0),
        output_tokens=step.max_tokens,
        tries=1 + further_tries,
        batch=step.batch,
        nanos=try_nanos(step, input_tokens) + further_tries * try_nanos(step, further_tokens),
        first_nanos=try_nanos(step, input_tokens),
    )


# --- claiming and starting ----------------------------------------------------------------------


class _NotClaimed(Exception):
    """Rolls back a start whose task another process claimed first."""


def start(
    task: Task, prepared: Prepared, providers: Providers, now: dt.datetime | None
) -> tuple[Execution, Prepared]:
    """Start ``prepared`` in the fullest form the month can hold (``_start``): the execution, and
    the form it runs in.

    When what the month has not spent (``limit - spent``) cannot hold the full form, the smaller
    forms are tried in turn (``smaller``; the execution records how it was reduced, and why).
    ``BudgetBusy`` (nothing recorded) when a form would fit what is unspent but running work
    holds the money: the work waits. ``BudgetExhausted``, recorded and announced once, only when
    even the smallest form does not fit what is unspent (or the month is recorded exhausted).
    """
    try:
        return _start(task, prepared, providers, now), prepared
    except ledger.BudgetExhausted as exc:
        exhausted = exc
    if exhausted.period.exhausted_at is None:
        for candidate in smaller(task, prepared, providers):
            why = (
                f"{candidate.form.changes_from(candidate.full)}: the month had "
                f"{format_usd(exhausted.period.limit_nanos - exhausted.period.spent_nanos)} unspent, less than the "
                f"full form's worst case of {format_usd(prepared.worst_case.admit_nanos)}"
            )
            try:
                return _start(task, candidate, providers, now, reduced=why), candidate
            except ledger.BudgetExhausted as exc:
                exhausted = exc
                if exc.period.exhausted_at is not None:
                    break
    task.refresh_from_db()
    _record_exhaustion(exhausted, now)
    raise exhausted


def _start(
    task: Task, prepared: Prepared, providers: Providers, now: dt.datetime | None, *, reduced: str = ""
) -> Execution:
    """Reserve the worst case, claim the task and record the execution, all in one transaction.

    The claim is one conditional UPDATE (pending → running): of two processes exactly one wins.
    Reservation, claim and execution commit together, so a crash or a refusal leaves no claimed
    task without an execution and no reservation without an owner. The period's row is locked
    before the task's, as every other writer of both does (a pull request's outcome, a finish, the
    reaper): a start taking the task first could deadlock with a webhook for its old PR.
    """
    at = now or timezone.now()
    revision = prepared.revision
    try:
        with transaction.atomic():
            reservation = ledger.reserve(
                prepared.worst_case_nanos,
                admit_nanos=prepared.worst_case.admit_nanos,
                exposed_nanos=prepared.worst_case.exposed_nanos,
                label=f"task {task.pk}: {task.title}" + (f" (revision {revision.pk})" if revision else ""),
                now=now,
            )
            if revision is not None:  # a revision claims itself: its task stays as its PR left it
                claimed = lifecycle.claim(revision, at)
            else:
                claimed = Task.objects.filter(pk=task.pk, status=Task.Status.PENDING).update(
                    status=Task.Status.RUNNING, attempts=F("attempts") + 1, claimed_at=at, updated_at=at
                )
            if not claimed:
                raise _NotClaimed  # rolls the reservation back
            execution = Execution.objects.create(
                task=task,
                revision=revision,
                period=reservation.period,
                reservation=reservation,
                status=Execution.Status.RESERVED,
                simulated=providers.simulated,
                kind=Execution.Kind.BACKTEST if task.source == Task.Source.BACKTEST else Execution.Kind.TASK,
                reserved_nanos=prepared.worst_case_nanos,
                reduced=reduced,
                codegen_tries=prepared.codegen_tries,
                input_bound=prepared.analysis_input.how[:300] if prepared.analysis_input else "",
                base_sha=prepared.base.commit_sha,
                started_at=at,
                heartbeat_at=at,
            )
            ledger.record_execution_started(reservation.period, now=now)
            standing.count_execution(task, reservation.period_id)
            announce.execution_started(execution)
    except _NotClaimed:
        if revision is not None:
            revision.refresh_from_db()
            raise TaskBusy(lifecycle.why_not_pending(revision)) from None
        task.refresh_from_db()
        raise TaskBusy(_why_not_pending(task)) from None
    except (ledger.BudgetExhausted, ledger.BudgetBusy):
        task.refresh_from_db()
        raise
    except IntegrityError:
        # The database's one-active-execution-per-task constraint: another one is live.
        task.refresh_from_db()
        raise TaskBusy(
            f"Task {task.pk} already has an execution in progress; not starting a second."
        ) from None
    if revision is not None:
        revision.status, revision.attempts = Revision.Status.RUNNING, revision.attempts + 1
    else:
        task.status, task.attempts, task.claimed_at = Task.Status.RUNNING, task.attempts + 1, at
    return execution


def _why_not_pending(task: Task) -> str:
    if task.status == Task.Status.RUNNING:
        since = f" since {timezone.localtime(task.claimed_at):%Y-%m-%d %H:%M:%S}" if task.claimed_at else ""
        return f"Task {task.pk} is already running in another process{since}; not starting it twice."
    return f"Task {task.pk} is {task.status}, not pending: requeue it to run it again."


def _record_exhaustion(exc: ledger.BudgetExhausted, now: dt.datetime | None) -> None:
    with transaction.atomic():
        if ledger.mark_exhausted(exc.period, now=now):
            exc.period.refresh_from_db()
            events.budget_exhausted(exc.period, needed_nanos=exc.needed_nanos)


# --- running -------------------------------------------------------------------------------------


def _run(
    execution: Execution,
    prepared: Prepared,
    providers: Providers,
    gateway: RepositoryGateway,
    now: dt.datetime | None,
) -> Execution:
    try:
        change = produce_change(execution, prepared, providers, gateway, now)
        published = publish(execution, change, gateway)
    except EXPECTED_FAILURES as exc:
        return finish_failed_on(execution, exc, now)
    except Exception as exc:
        log.exception("execution %s stopped on an unexpected error", execution.pk)
        finish_failed(execution, f"Unexpected error ({type(exc).__name__}); see the worker log", now)
        raise
    return finish_succeeded(execution, published, now)


def produce_change(
    execution: Execution,
    prepared: Prepared,
    providers: Providers,
    gateway: RepositoryGateway,
    now: dt.datetime | None,
) -> Change:
    """The execution's paid part: the analysis (charged, its plan kept), then the code generation
    and its further tries until a change applies to the base (``generate_change``). Raises what
    those steps raise; ``_run`` publishes the change, a backtest keeps it (``executions.backtest``)."""
    analyse(execution, prepared, providers, gateway, now)
    request = codegen_request_for(execution, prepared.analysis, prepared.codegen, prepared.base, gateway)
    # The plan names the coder's files: hold only what its first try can cost (a further try is
    # held when it is needed: ``next_try``).
    holds.tighten(execution, [codegen_bound(prepared.codegen, providers.codegen, request, reflections=0)])
    return generate_change(execution, prepared.codegen, request, prepared.base, gateway, providers, now)


def analyse(
    execution: Execution,
    prepared: Prepared,
    providers: Providers,
    gateway: RepositoryGateway,
    now: dt.datetime | None,
) -> str:
    """The analysis, synchronously: asked, its look-up rounds answered (``lookup_rounds``), each
    call charged, and its plan kept (``take_plan``); the execution moves on to code generation."""
    state.save(execution, now, status=Execution.Status.ANALYSING)
    answer = charging.ask(providers.analysis, prepared.analysis_request)
    answer, held = lookup_rounds.look_again(
        execution,
        prepared.analysis,
        prepared.analysis_request,
        answer,
        index=prepared.base.index,
        gateway=gateway,
        provider=providers.analysis,
        now=now,
    )
    held = prepared.worst_case.analysis.first_nanos if held is None else held
    return take_plan(execution, prepared.analysis, answer, now, base=prepared.base, bound_nanos=held)


def take_plan(
    execution: Execution,
    step: steps.Step,
    analysis: charging.Answer,
    now: dt.datetime | None,
    *,
    base: Base,
    bound_nanos: int | None = None,
) -> str:
    """Charge the analysis and keep its plan and the files it named (paths the base commit does
    not hold are dropped and noted); the execution moves on to code generation. ``bound_nanos``:
    what was held for the call (a bill past it is an overrun: ``charging.charge``)."""
    try:
        plan = analyst.plan_from(analysis.completion, base.index.tree)
    except ChangeRejected:
        charging.charge(execution, step, analysis, now, bound_nanos=bound_nanos)
        raise  # the money spent stays charged
    text = storable(plan.text)
    charging.charge(
        execution,
        step,
        analysis,
        now,
        bound_nanos=bound_nanos,
        plan=text,
        plan_files=[storable(p) for p in plan.files],
        plan_definitions=[storable(d) for d in plan.definitions],
        plan_notes=storable(plan.note),
        status=Execution.Status.GENERATING,
    )
    return text


def codegen_request_for(
    execution: Execution, analysis: steps.Step, codegen: steps.Step, base: Base, gateway: RepositoryGateway
) -> CompletionRequest:
    """The coder's request: the execution's plan and the base content of the files it named, each
    whole or as its excerpt (only those a change may touch are read: their sizes come from the
    index)."""
    forwarded = steps.cut_plan(execution.plan, steps.plan_byte_cap(analysis))
    sizes = {path: base.index.tree[path] for path in execution.plan_files if path in base.index.tree}
    wanted = steps.files_to_read(sizes)
    named = _texts(gateway.read_files(base.commit_sha, wanted), wanted)
    return steps.codegen_request(
        codegen,
        execution.task,
        base.overview,
        forwarded,
        named,
        sizes,
        definitions=execution.plan_definitions,
    )


# --- code generation: ask, apply, and ask again when the answer does not apply -------------------


class AnswerMissed(ChangeRejected):
    """A coder's answer that did not parse, apply or pass the syntax check (charged, with its
    ``failures``): the coder may be asked again (``next_try``)."""

    def __init__(self, failures: list[EditFailure], try_number: int):
        self.failures, self.try_number = failures, try_number
        super().__init__(str(edits.EditsFailed(failures)))


class EditsGaveUp(ChangeRejected):
    """No answer of the coder applied, and no further try is allowed or fits: the execution fails
    on its edits (counted as an edit failure of the month)."""


def generate_change(
    execution: Execution,
    step: steps.Step,
    request: CompletionRequest,
    base: Base,
    gateway: RepositoryGateway,
    providers: Providers,
    now: dt.datetime | None,
) -> Change:
    """Ask the coder for ``request``'s change and apply it to ``base``: the applied change, with
    the execution moved on to publishing. An answer that does not parse, apply or pass the syntax
    check is charged with its failure, and the coder is asked again (``next_try``: the same
    request, its previous answer and what failed) up to ``CODEGEN_REFLECTIONS`` more times, while
    a try fits what the reservation still holds. Each try is its own charged call. Raises
    ``EditsGaveUp`` when no answer applied, ``ProviderError`` when a call fails (today's rules:
    the execution fails), and any failure ``take_change`` raises."""
    prompt = request
    while True:
        answer = charging.ask(providers.codegen, request)
        try:
            return take_change(execution, step, answer, gateway, now, base=base)
        except AnswerMissed as missed:
            request = next_try(execution, step, prompt, answer, missed, providers.codegen)


def take_change(
    execution: Execution,
    step: steps.Step,
    answer: charging.Answer,
    gateway: RepositoryGateway,
    now: dt.datetime | None,
    *,
    base: Base | None = None,
) -> Change:
    """Charge one coder answer and apply its change to the base content: the change, with the
    execution moved on to publishing (the diff and the change recorded). ``AnswerMissed`` when it
    does not parse, apply or pass the syntax check (charged with that failure); any other problem
    (a refusal, an answer cut at max_tokens, a file too large to change) is raised as it is,
    charged. ``base``: the execution's base when the caller has it (else read at its recorded sha)."""
    completion = answer.completion
    failures: list[EditFailure] = []
    try:
        proposal = _proposal_from(completion, step)
        base = base or base_of(gateway, execution.base_sha)
        touched = [f.path for f in proposal.files if f.path in base.index.tree]
        _refuse_oversized(proposal, base.index.tree)
        before = _texts(gateway.read_files(base.commit_sha, touched), touched)
        change = edits.apply(proposal, before, base_sha=base.commit_sha)
    except edits.EditsFailed as exc:
        failures = exc.failures
    except _Unreadable as exc:
        failures = [EditFailure("", str(exc))]
    except Exception:
        charging.charge(execution, step, answer, now)
        raise  # the money spent stays charged, whatever went wrong after the answer came
    if failures:
        failure = mask_secrets(storable("\n".join(f.line() for f in failures)))[:MAX_FAILURE_CHARS]
        call = charging.charge(execution, step, answer, now, failure=failure)
        raise AnswerMissed(failures, call.try_number)
    published_as = {
        "change": change.as_json(),
        "summary": change.summary,
        "publisher": gateway.name,
        "diff": edits.unified_diff(change, before),
    }
    charging.charge(
        execution, step, answer, now, applied=True, status=Execution.Status.PUBLISHING, **published_as
    )
    return change


def next_try(
    execution: Execution,
    step: steps.Step,
    prompt: CompletionRequest,
    answer: charging.Answer,
    missed: AnswerMissed,
    provider: Provider,
) -> CompletionRequest:
    """The coder's next try after ``missed``: ``prompt`` (the first try's request) with the
    previous answer and what failed (``coder.failures_message``, the file's actual lines
    included). ``EditsGaveUp`` when the execution has had all its tries (1 + CODEGEN_REFLECTIONS),
    or when the next one would not fit what the reservation still holds (it is not made)."""
    allowed = execution.codegen_tries or 1 + settings.CODEGEN_REFLECTIONS
    if missed.try_number >= allowed:
        tried = (
            "" if allowed == 1 else f"; the coder was asked {missed.try_number} times and no answer applied"
        )
        raise EditsGaveUp(f"{missed}{tried}")
    request = steps.reflection_request(
        step, prompt, answer.completion.text, failures_message(missed.failures)
    )
    input_tokens = provider.input_token_bound(request)
    needed = try_nanos(step, input_tokens)
    limit = step.resolved.model.max_input_tokens
    attempt = f"a further try ({missed.try_number + 1} of {allowed}, up to {format_usd(needed)})"
    if limit is not None and input_tokens > limit:
        raise EditsGaveUp(f"{missed}; {attempt} could pass the model's input limit, so it was not made")
    # Now this try's request is known: hold what it can cost, no more and no less.
    try:
        holds.make_room(execution, needed)
    except (ledger.BudgetBusy, ledger.BudgetExhausted) as short:
        raise EditsGaveUp(f"{missed}; {attempt} was not made: {holds.why_not(short)}") from None
    return request


def publish(execution: Execution, change: Change, gateway: RepositoryGateway) -> PublishResult:
    """A task's change: one commit on its branch (and a pull request on GitHub). A revision's: one
    more commit on the branch it revises, a fast-forward (``lifecycle.commit``)."""
    if execution.revision_id is not None:
        return lifecycle.commit(execution, change, gateway)
    return gateway.publish(execution, change, pr_body=pr_body_for(execution, change))


def _refuse_oversized(proposal: Proposal, sizes: dict[str, int]) -> None:
    """A file larger than a change may write is not changed (the coder was never shown it): refused
    from its size in the index, before it is read (a 50 MB file is never read whole to be refused)."""
    for proposed in proposal.files:
        size = sizes.get(proposed.path, 0)
        if size > MAX_FILE_BYTES:
            raise ChangeRejected(
                f"The change wants to {proposed.action} {show(proposed.path)} ({size:,} bytes), larger "
                f"than the {MAX_FILE_BYTES:,} bytes a generated change may touch."
            )


def _texts(contents: dict[str, bytes], paths: list[str]) -> dict[str, str | None]:
    """Each path that exists, with its text (``None`` for a binary file), in ``paths``' order."""
    return {path: repomap.decoded(contents[path]) for path in paths if path in contents}


class _Unreadable(ChangeRejected):
    """A whole answer that is not a change as the schema has it: the coder may be asked again."""


def _proposal_from(completion: Completion, step: steps.Step) -> Proposal:
    """The answer's proposal: ``_Unreadable`` when a whole answer does not parse, and
    ``ChangeRejected`` for a refusal or an answer cut at max_tokens (asking again would not help)."""
    if completion.refusal:
        raise ChangeRejected(f"The code generation model declined the task: {completion.refusal[:300]}")
    try:
        return parse_change(completion.text)
    except ChangeRejected as exc:
        if completion.truncated:
            raise ChangeRejected(
                f"The code generation stopped at max_tokens ({step.max_tokens}) before its answer was "
                "complete: raise max_tokens of the codegen step in the admin"
            ) from exc
        raise _Unreadable(str(exc)) from None


# --- finishing ----------------------------------------------------------------------------------


def finish_succeeded(execution: Execution, published: PublishResult, now: dt.datetime | None) -> Execution:
    at = now or timezone.now()
    try:
        with transaction.atomic():
            state.save(
                execution,
                now,
                status=Execution.Status.SUCCEEDED,
                branch=published.branch,
                commit_sha=published.commit_sha,
                pr_number=published.pr_number,
                pr_url=published.pr_url,
                finished_at=at,
                heartbeat_at=at,
            )
            ledger.release(execution.reservation, now=now)
            ledger.record_execution_finished(
                execution.period, succeeded=True, pr_opened=published.opened_pr, now=now
            )
            pull_requests.record_published(execution, published, now=now)
            if execution.revision_id is not None:  # the task stays as its pull request left it
                lifecycle.succeeded(execution, published, now=at)
            else:
                Task.objects.filter(pk=execution.task_id).update(
                    status=Task.Status.DONE, claimed_at=None, updated_at=at
                )
            announce.execution_completed(execution)
    except (ExecutionAbandoned, ExecutionMovedOn) as exc:
        # Published all the same; the task's retry publishes on the same branch (and reuses the PR).
        log.error(
            "execution %s published %s after it was closed (abandoned, or finished by another worker)",
            execution.pk,
            published.pr_url or published.branch,
        )
        return state.left_as_is(execution, exc)
    if execution.revision_id is None:
        execution.task.status, execution.task.claimed_at = Task.Status.DONE, None
    return execution


def finish_failed_on(execution: Execution, exc: Exception, now: dt.datetime | None) -> Execution:
    """``finish_failed`` with ``exc``'s message; an execution whose coder's answers never applied
    (``EditsGaveUp``) counts as an edit failure of its month."""
    return finish_failed(execution, str(exc), now, edits_failed=isinstance(exc, EditsGaveUp))


def finish_failed(
    execution: Execution,
    reason: str,
    now: dt.datetime | None,
    *,
    task_at_fault: bool = True,
    edits_failed: bool = False,
) -> Execution:
    """Failed: the reservation's rest released, the charges kept, the task pending again or failed.

    ``task_at_fault=False``: the execution never reached a model for a reason that is not its
    task's (the vendor refused its whole batch): the task is pending again with its attempt given
    back, and the caller announces the reason once for all such executions. ``edits_failed``: no
    answer of the coder applied (counted in the month's ``edit_failures``)."""
    at = now or timezone.now()
    task = execution.task
    retry = task.attempts < task.max_attempts or not task_at_fault
    reason = mask_secrets(storable(reason)).strip().rstrip(".")  # it may quote a vendor's text
    revised = None  # a revision's run: its revision, not its task, takes the outcome
    if execution.revision_id is not None:
        revised = lifecycle.after_failure(execution, reason, task_at_fault=task_at_fault)
        error = revised.error
    elif not task_at_fault:
        error = f"{reason}; the batch cost nothing, and the task keeps its attempts"
    elif retry:
        error = f"{reason}; the task will be retried"
    else:
        error = f"{reason}; no attempts left ({task.attempts} of {task.max_attempts}), the task has failed"
    outcome = Task.Status.PENDING if retry else Task.Status.FAILED
    given_back = {} if task_at_fault else {"attempts": F("attempts") - 1}
    try:
        with transaction.atomic():
            state.save(
                execution, now, status=Execution.Status.FAILED, error=error, finished_at=at, heartbeat_at=at
            )
            ledger.release(execution.reservation, now=now)
            ledger.record_execution_finished(execution.period, succeeded=False, pr_opened=False, now=now)
            if edits_failed:
                outcomes.record_edit_outcome(period_id=execution.period_id, outcome=outcomes.EDIT_FAILURE)
            if revised is not None:
                lifecycle.failed(execution, revised, now=at)
            else:
                Task.objects.filter(pk=task.pk).update(
                    status=outcome, claimed_at=None, updated_at=at, **given_back
                )
            if task_at_fault:
                announce.execution_failed(execution)
    except (ExecutionAbandoned, ExecutionMovedOn) as exc:
        return state.left_as_is(execution, exc)
    if revised is None:
        task.status, task.claimed_at = outcome, None
        if not task_at_fault:
            task.attempts -= 1
    log.warning("execution %s of task %s failed: %s", execution.pk, task.pk, error)
    return execution
