"""Batch mode: executions whose model steps go through the vendors' batch APIs at half price.

``run_batches_pass`` is one idempotent pass (``python manage.py run_batches``, and a q2 schedule
every BATCH_POLL_MINUTES). In order:

1. **Reconcile** every batch row left in ``submitting`` by a pass that died between writing the
   row and saving the vendor's id: the vendor is asked whether the batch exists (OpenAI by its
   metadata, Anthropic by its ``custom_id``s). Found: it is polled like any other. Not there: its
   executions fail and their reservations are released (nothing was spent).
2. **Poll** every batch in progress. An ended one's results are charged at the batch price, one
   transaction per result (``charging.charge``), each at most once (keyed by the vendor batch and
   the ``custom_id``: a pass that stops between a charge and the state change it leads to leaves
   that change to the next pass, which does not charge again). An analysis result that is the
   analyst's look-up is answered and asked again in a follow-up analysis batch
   (``lookup_rounds.batched``); any other moves its execution on to code generation (one OpenAI
   batch for all of them, or synchronously when codegen is not in batch mode); a codegen result
   is validated and published, and the execution finishes as today. A result billed for an
   execution that is closed meanwhile (the reaper abandoned it) is charged all the same, and
   changes nothing else.
3. **Submit** one batch of new tasks: up to BATCH_MAX_TASKS pending tasks (and queued revisions of
   pull requests, in the same order) that the budget and pacing allow, each claimed and reserved at
   batch prices exactly as the synchronous path does (``runner.prepare`` and ``runner.start``).

A result that failed (errored, expired, canceled, a line of the error file) fails only its own
execution, with the vendor's reason: its reservation's rest is released and its task is pending
again within its attempts (``runner.finish_failed``). A batch the vendor refused as a whole (a
4xx on submit) is a configuration problem, not the tasks': it fails, its tasks keep their
attempts, the reason is announced once, and no new batch is submitted for an hour unless a step's
configuration changes.

Claims are conditional updates: a batch row is worked on by the pass that moved its lease, and
only one batch of new tasks can be in ``submitting`` at a time (a unique constraint), so two passes
at once submit one batch, not two. The lease is renewed before each result, and every state change
of an execution is conditional on the state the pass last saw (``state.save``): a pass that
stalled past its lease stops before its next paid call, and an execution another pass took over is
left to it. An execution that goes on to a synchronous codegen call first leaves its batch (a
conditional change), so no other pass calls the coder for it again. Reservations of executions
waiting in a batch are held for the batch window plus a margin (``ledger.hold_until``), and the
reaper leaves those executions alone until then.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from budget import ledger, pacing
from budget.catalog import ResolvedModel
from budget.models import Reservation
from budget.money import format_usd
from budget.periods import current_period
from budget.pricing import PricingError
from executions.backlog.services import next_pending_work
from executions.errors import (
    BatchRefused,
    BatchUndecided,
    ChangeRejected,
    ExecutionError,
    ExecutionMovedOn,
    ProviderError,
    TaskBusy,
    WorkSetAside,
)
from executions.models import Batch, Execution, Revision, StepConfig, Task
from executions.pipeline import charging, holds, lookup_rounds, runner, state, steps
from executions.pipeline.preparation import preparing
from executions.providers import CompletionRequest, Providers, providers_for_mode
from executions.repositories.base import PublishError, RepositoryGateway
from executions.repositories.gateways import get_gateway
from executions.repositories.standing import runnable_tasks
from executions.revisions.lifecycle import runnable_revisions
from notifications import events
from notifications.secrets import mask_secrets

log = logging.getLogger(__name__)

# After a vendor refused a whole batch, no new batch is submitted for this long (unless a step's
# configuration changes): the same request would be refused again.
REFUSAL_PAUSE_MINUTES = 60


@dataclass
class PassReport:
    """What one pass did, for the command's one line and q2's result."""

    submitted: list[str] = field(default_factory=list)  # "analysis batch 3 (12 requests)"
    polled: int = 0
    finished: int = 0  # executions that succeeded or failed in this pass
    exhausted: bool = False
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        submitted = ", ".join(self.submitted) or "nothing"
        text = f"submitted {submitted}; polled {self.polled} batch(es); finished {self.finished} execution(s)"
        if self.exhausted:
            text += "; the month's budget is exhausted"
        return text + "".join(f"; {note}" for note in self.notes)


def run_batches_pass(
    *,
    now: dt.datetime | None = None,
    providers: Providers | None = None,
    gateway: RepositoryGateway | None = None,
) -> PassReport:
    """One pass of batch mode: reconcile, poll, submit. Raises ``ConfigurationError`` for a
    missing key; every vendor or task problem is reported in the result instead. ``gateway``:
    by default each task's repository's (``_gateways``)."""
    providers = providers or providers_for_mode()
    report = PassReport()
    gateway_of = _gateways(gateway)
    rows = Batch.objects.select_related("price__model").order_by("pk")
    for row in rows.filter(status=Batch.Status.SUBMITTING):
        _reconcile(row, providers, report, now)
    for row in rows.filter(status=Batch.Status.IN_PROGRESS):
        _poll(row, providers, gateway_of, report, now)
    _submit_new_tasks(providers, gateway_of, report, now)
    return report


# --- claims ---------------------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _lease(row: Batch, now: dt.datetime | None) -> bool:
    """Take ``row`` for this pass: one conditional update, of two passes exactly one wins it."""
    at = _now(now)
    until = at + dt.timedelta(seconds=settings.Q_TIMEOUT_SECONDS)
    won = Batch.objects.filter(pk=row.pk, status=row.status, lease_until__lte=at).update(lease_until=until)
    row.lease_until = until
    return bool(won)


def _renew(row: Batch, now: dt.datetime | None) -> bool:
    """Extend this pass's lease on ``row``; False if the lease was lost (another pass reconciles the
    row, so this one must not submit it)."""
    until = _now(now) + dt.timedelta(seconds=settings.Q_TIMEOUT_SECONDS)
    kept = Batch.objects.filter(pk=row.pk, status=row.status, lease_until=row.lease_until).update(
        lease_until=until
    )
    if kept:
        row.lease_until = until
    return bool(kept)


def _unlease(row: Batch, now: dt.datetime | None, **fields) -> bool:
    """Let go of ``row`` (with ``fields`` changed) if this pass still holds its lease; False if
    another pass took it over meanwhile (then nothing is changed: the row is that pass's)."""
    fields["lease_until"] = _now(now)
    if "error" in fields:  # it may quote a vendor's text
        fields["error"] = mask_secrets(fields["error"])[:500]
    if not Batch.objects.filter(pk=row.pk, lease_until=row.lease_until).update(**fields):
        log.warning("%s batch %s was taken over by another pass; this one leaves it", row.step, row.pk)
        return False
    for name, value in fields.items():
        setattr(row, name, value)
    return True


def _hold_expiry(now: dt.datetime | None) -> dt.datetime:
    """Until when an execution waiting in a batch keeps its reservation (and the reaper's patience)."""
    return _now(now) + dt.timedelta(seconds=settings.BATCH_WINDOW_SECONDS + settings.BATCH_MARGIN_SECONDS)


def _provider(providers: Providers, step: str):
    return providers.analysis if step == steps.ANALYSIS else providers.codegen


def _members(row: Batch, *statuses: str):
    return (
        Execution.objects.filter(batch=row, status__in=statuses or Execution.ACTIVE)
        .select_related("task__repository", "period", "reservation")
        .order_by("pk")
    )


GatewayOf = Callable[[Task], RepositoryGateway]


def _gateways(given: RepositoryGateway | None) -> GatewayOf:
    """Each task's gateway for one pass: the one the pass was given, else its repository's (where
    its base commit is and its change goes), made once per pass (a GitHub gateway keeps the trees
    it has read)."""
    if given is not None:
        return lambda task: given
    made: dict[int, RepositoryGateway] = {}

    def of(task: Task) -> RepositoryGateway:
        if task.repository_id not in made:
            made[task.repository_id] = get_gateway(task.repository)
        return made[task.repository_id]

    return of


# --- submitting -----------------------------------------------------------------------------------


def _submit_new_tasks(providers: Providers, gateway_of: GatewayOf, report: PassReport, now) -> None:
    """Claim up to BATCH_MAX_TASKS pending tasks and submit their first batched step as one batch."""
    at = _now(now)
    try:
        analysis, codegen = steps.configured_steps(on=timezone.localdate(at))
    except (ExecutionError, PricingError) as exc:
        report.notes.append(f"nothing submitted: {exc}")
        return
    if not (analysis.batch or codegen.batch):
        return  # batch mode is off: the synchronous scheduler runs the tasks
    first = analysis if analysis.batch else codegen
    if not (runnable_tasks().exists() or runnable_revisions().exists()):
        return
    if (refused := _paused_by_refusal(at)) is not None:
        report.notes.append(
            f"nothing submitted: {refused.get_provider_display()} refused {refused.step} batch {refused.pk} "
            f"at {timezone.localtime(refused.ended_at):%H:%M} (see the batch); change the step's "
            f"configuration, or wait {REFUSAL_PAUSE_MINUTES} minutes from then"
        )
        return
    try:
        with transaction.atomic():
            row = _new_row(first, providers, at, new_tasks=True)
    except IntegrityError:
        report.notes.append("another pass is submitting a batch of new tasks")
        return
    requests: dict[str, CompletionRequest] = {}
    tried: list[Task | Revision] = []
    while len(requests) < settings.BATCH_MAX_TASKS:
        work = next_pending_work(exclude=tried)  # a pending task or a queued revision, in one order
        if work is None or not _renew(row, now):
            break
        tried.append(work)
        period = current_period(now=at)
        if settings.PACING_ENABLED and not pacing.may_start(period, at):
            report.notes.append("pacing holds the other pending tasks")
            break
        try:
            joined = _claim(work, row, first, providers, gateway_of, report, now)
        except ledger.BudgetExhausted:
            report.exhausted = True  # recorded and announced once by the pipeline
            break
        except ledger.BudgetBusy:
            report.notes.append("running work holds the rest of the budget: the other pending tasks wait")
            break
        except (PricingError, ExecutionError, PublishError) as exc:
            if isinstance(exc, WorkSetAside):
                report.notes.append(str(exc))
            elif not isinstance(exc, TaskBusy):
                report.notes.append(f"{_named(work)} not started: {exc}")
            if isinstance(exc, PricingError):
                break  # a price problem is every task's problem
            continue
        if joined is not None:
            requests[str(joined[0].pk)] = joined[1]
    if not requests:
        Batch.objects.filter(pk=row.pk).delete()
        return
    _submit(row, requests, providers, report, now)


def _new_row(step: steps.Step, providers: Providers, at: dt.datetime, *, new_tasks: bool) -> Batch:
    return Batch.objects.create(
        step=step.name,
        new_tasks=new_tasks,
        provider=step.resolved.model.provider,
        simulated=_provider(providers, step.name).simulated,
        requested_model=step.resolved.requested,
        model=step.model_name,
        price=step.resolved.price,
        max_tokens=step.max_tokens,
        lease_until=at + dt.timedelta(seconds=settings.Q_TIMEOUT_SECONDS),
        created_at=at,
    )


def _named(work: Task | Revision) -> str:
    return f"revision {work.pk} of task {work.task_id}" if isinstance(work, Revision) else f"task {work.pk}"


def _claim(
    work, row, first, providers, gateway_of, report, now
) -> tuple[Execution, CompletionRequest] | None:
    """Claim and reserve ``work`` (a task, or a revision of its pull request) at batch prices; its
    request for ``row``, or None if it failed."""
    revision = work if isinstance(work, Revision) else None
    task = work.task if revision is not None else work
    gateway = gateway_of(task)
    with preparing(work, now=now):  # a failure of the work's own sets it aside (``WorkSetAside``)
        prepared = runner.prepare(
            task, providers=providers, gateway=gateway, now=now, batch=True, revision=revision
        )
    execution, prepared = runner.start(task, prepared, providers, now)
    if first.name == steps.ANALYSIS:
        # Kept when a look-up round may follow: the next batch's request is built on it.
        request = prepared.analysis_request
        _join(execution, row, now, status=Execution.Status.ANALYSING, **lookup_rounds.kept(request))
        return execution, request
    # Only codegen is in batch mode: the analysis runs now, synchronously, at the standard price.
    try:
        runner.analyse(execution, prepared, providers, gateway, now)
        request = _codegen_request(
            execution, prepared.analysis, prepared.codegen, providers, gateway, prepared.base
        )
    except runner.EXPECTED_FAILURES as exc:
        runner.finish_failed(execution, str(exc), now)
        report.finished += 1
        return None
    _join(execution, row, now)
    return execution, request


def _join(execution: Execution, row: Batch, now, **fields) -> None:
    """The execution waits in ``row``: its reservation is held for the batch window."""
    with transaction.atomic():
        state.save(execution, now, batch_id=row.pk, batched=True, **fields)
        ledger.hold_until(execution.reservation, _hold_expiry(now))


def _submit(row: Batch, requests: dict[str, CompletionRequest], providers: Providers, report, now) -> None:
    """Send ``row``'s requests; the vendor's id is saved right after the call returns."""
    Batch.objects.filter(pk=row.pk).update(request_count=len(requests))
    row.request_count = len(requests)
    provider = _provider(providers, row.step)
    if not _renew(row, now):
        log.error("%s batch %s was taken over before its submit; not submitting it", row.step, row.pk)
        return
    try:
        vendor_id = provider.submit_batch(requests, marker=_marker(row))
    except BatchRefused as exc:
        _refused(row, str(exc), report, now)
        return
    except ProviderError as exc:
        # Unknown whether the batch exists: the next pass asks the vendor (``_reconcile``).
        _unlease(row, now, error=str(exc))
        report.notes.append(f"{row.step} batch {row.pk} not confirmed ({exc}): the next pass reconciles it")
        return
    _started(row, vendor_id, now)
    report.submitted.append(f"{row.step} batch {row.pk} ({len(requests)} requests)")


def _started(row: Batch, vendor_id: str, now) -> None:
    """Record the vendor's id. Whoever learnt it writes it (the submitting pass, or one that
    reconciled the row meanwhile: the same id), so it is conditional on the row only."""
    at = _now(now)
    fields = {
        "status": Batch.Status.IN_PROGRESS,
        "vendor_batch_id": vendor_id,
        "submitted_at": at,
        "error": "",
    }
    if not Batch.objects.filter(pk=row.pk, status=Batch.Status.SUBMITTING).update(lease_until=at, **fields):
        log.error(
            "%s batch %s is at the vendor as %s, but another pass closed the row", row.step, row.pk, vendor_id
        )
        return
    for name, value in fields.items():
        setattr(row, name, value)
    row.lease_until = at


def _marker(row: Batch) -> dict[str, str]:
    """What the OpenAI batch carries as metadata, to be found again after a lost answer."""
    return {"orchestrator_batch": str(row.pk), "created_at": row.created_at.isoformat()}


def _fail_row(row: Batch, reason: str, report: PassReport, now) -> None:
    for execution in _members(row):
        runner.finish_failed(execution, reason, now)
        report.finished += 1
    _unlease(row, now, status=Batch.Status.FAILED, error=reason, ended_at=_now(now))


def _refused(row: Batch, reason: str, report: PassReport, now) -> None:
    """The vendor refused the whole batch (a 4xx on create): nothing reached a model, and the
    cause is the configuration (the model, a key, a size), not the tasks. Its executions end without
    using an attempt (unless one was charged already), and the reason is said once, for the batch."""
    vendor = row.get_provider_display()
    members = list(_members(row))
    for execution in members:
        runner.finish_failed(
            execution,
            f"Not run: {vendor} refused its whole {row.step} batch {row.pk} ({reason})",
            now,
            # One already charged (its analysis, before a refused codegen batch) uses its attempt:
            # else every refusal would pay for its analysis again, without end.
            task_at_fault=execution.cost_nanos > 0,
        )
        report.finished += 1
    charged = sum(1 for execution in members if execution.cost_nanos)
    attempts = (
        f"{charged} task(s) whose analysis was charged use an attempt, the others keep theirs"
        if charged
        else "the tasks keep their attempts"
    )
    _unlease(row, now, status=Batch.Status.FAILED, refused=True, error=reason, ended_at=_now(now))
    report.notes.append(f"{vendor} refused {row.step} batch {row.pk}: {reason}")
    digest = hashlib.sha256(f"{row.step}:{row.model}:{reason}".encode()).hexdigest()[:16]
    with transaction.atomic():
        events.error(
            key=f"batch-refused:{timezone.localdate(_now(now))}:{digest}",  # once a day per reason
            where="batch mode",
            message=f"{vendor} refused {row.step} batch {row.pk} ({len(members)} request(s)) as a whole: "
            f"{reason}. The batch cost nothing and {attempts}; no new batch is submitted "
            f"for {REFUSAL_PAUSE_MINUTES} minutes unless a step's configuration changes.",
        )


def _paused_by_refusal(at: dt.datetime) -> Batch | None:
    """The batch a vendor refused within the pause, when no step's configuration changed since."""
    since = at - dt.timedelta(minutes=REFUSAL_PAUSE_MINUTES)
    refused = Batch.objects.filter(refused=True, ended_at__gt=since).order_by("-ended_at").first()
    if refused is None or StepConfig.objects.filter(updated_at__gt=refused.ended_at).exists():
        return None
    return refused


# --- reconciling ------------------------------------------------------------------------------------


def _reconcile(row: Batch, providers: Providers, report: PassReport, now) -> None:
    """A row left in ``submitting`` by a pass that stopped: does the vendor have the batch?"""
    if not _lease(row, now):
        return  # its pass is still at work (or another pass reconciles it)
    members = list(_members(row))
    if not members:
        _unlease(row, now, status=Batch.Status.FAILED, error="no execution joined it", ended_at=_now(now))
        return
    provider = _provider(providers, row.step)
    known = set(
        Batch.objects.filter(provider=row.provider)
        .exclude(vendor_batch_id="")
        .values_list("vendor_batch_id", flat=True)
    )
    try:
        vendor_id = provider.find_batch(
            marker=_marker(row),
            custom_ids={str(e.pk) for e in members},
            since=row.created_at - dt.timedelta(minutes=5),
            known=known,
        )
    except BatchUndecided as exc:
        _unlease(row, now)
        report.notes.append(f"{row.step} batch {row.pk} still unconfirmed: {exc}")
        return
    except ProviderError as exc:
        _unlease(row, now)
        report.notes.append(f"{row.step} batch {row.pk} not reconciled: {exc}")
        return
    if vendor_id is None:
        vendor = row.get_provider_display()
        _fail_row(row, f"The batch never reached {vendor} (its submitting pass stopped)", report, now)
        return
    log.warning("%s batch %s found at the vendor as %s after a lost answer", row.step, row.pk, vendor_id)
    _started(row, vendor_id, now)
    report.notes.append(f"{row.step} batch {row.pk} found at the vendor as {vendor_id}")


# --- polling and results ------------------------------------------------------------------------------


def _poll(row: Batch, providers: Providers, gateway_of: GatewayOf, report: PassReport, now) -> None:
    if not _lease(row, now):
        return
    provider = _provider(providers, row.step)
    report.polled += 1
    try:
        state = provider.batch_state(row.vendor_batch_id)
        Batch.objects.filter(pk=row.pk).update(polls=row.polls + 1, vendor_status=state.status)
        row.polls += 1
        items = (
            {item.custom_id: item for item in provider.batch_results(row.vendor_batch_id)}
            if state.ended
            else None
        )
    except ProviderError as exc:
        _unlease(row, now)
        report.notes.append(f"{row.step} batch {row.pk} not polled: {exc}")
        return
    if items is None:
        _unlease(row, now)
        return
    vendor = row.get_provider_display()
    missing = f"{vendor} returned no result for it (batch {state.status}{': ' + state.detail if state.detail else ''})"
    if row.step == steps.ANALYSIS:
        kept = _analysis_results(row, items, missing, providers, gateway_of, report, now)
    else:
        kept = _codegen_results(row, items, missing, providers, gateway_of, report, now)
    if kept:
        _unlease(row, now, status=Batch.Status.ENDED, ended_at=_now(now))


def _step_of(row: Batch) -> steps.Step:
    """The step as it was when the batch was submitted: its results are charged at that price."""
    resolved = ResolvedModel(requested=row.requested_model, model=row.price.model, price=row.price)
    return steps.Step(name=row.step, resolved=resolved, max_tokens=row.max_tokens, batch=True)


def _answer(row: Batch, execution: Execution, items: dict, now) -> charging.Answer | None:
    """``execution``'s result in ``row`` as an answer to charge (keyed: charged once), or None
    when the vendor billed nothing for it (no line, or a failed one)."""
    item = items.get(str(execution.pk))
    if item is None or item.completion is None:
        return None
    waited = (_now(now) - (row.submitted_at or row.created_at)).total_seconds()
    return charging.Answer(
        item.completion,
        int(max(waited, 0) * 1000),
        row.simulated,
        batch=row,
        result_key=f"{row.vendor_batch_id}/{execution.pk}"[:200],
    )


def _failure(execution: Execution, items: dict, missing: str) -> ProviderError:
    item = items.get(str(execution.pk))
    return ProviderError(item.failure if item else missing)


def _still_ours(row: Batch, report: PassReport, now) -> bool:
    """Renew the lease before the next result; False (and a note) when another pass has the batch."""
    if _renew(row, now):
        return True
    report.notes.append(f"{row.step} batch {row.pk} was taken over by another pass, which finishes it")
    return False


Followup = tuple[steps.Step, CompletionRequest]  # a request for the next batch of that step


def _results(row, items, missing, providers, gateway_of, report, now, *, asked, still_open, take) -> bool:
    """The one loop over a batch's results, for either step: charge every result, and move each
    execution on with ``take(execution, step, answer, gateway)``, which answers the request to send
    in the next batch of a step (the coder's, or the analyst's after a look-up: a ``Followup``), or
    None when the execution finished. An execution no longer in ``still_open`` (the reaper closed
    it) is charged all the same; one in ``asked`` with no result fails. One bad result never holds
    up the others. False if the lease was lost."""
    step = _step_of(row)
    waiting: dict[str, dict[str, tuple[Execution, CompletionRequest]]] = {}  # by step
    follows: dict[str, steps.Step] = {}
    for execution in _members(row, *Execution.Status.values):
        if not _still_ours(row, report, now):
            return False
        answer = _answer(row, execution, items, now)
        if execution.status not in still_open:
            if answer is not None:  # closed meanwhile (the reaper): billed all the same
                charging.charge_billed(execution, step, answer, now)
            continue
        try:
            if execution.status == asked and answer is None:
                raise _failure(execution, items, missing)
            followup = take(execution, step, answer, gateway_of(execution.task))
        except ExecutionMovedOn as exc:
            log.info("%s", exc)  # another pass took it over: it is that pass's now
            continue
        except runner.EXPECTED_FAILURES as exc:
            runner.finish_failed_on(execution, exc, now)
            followup = None
        except Exception as exc:  # one bad result must not hold up the batch's others
            _failed_unexpectedly(execution, exc, now)
            followup = None
        if followup is None:
            report.finished += 1
        else:
            follow, request = followup
            follows[follow.name] = follow
            waiting.setdefault(follow.name, {})[str(execution.pk)] = (execution, request)
    for name, group in waiting.items():
        if _still_ours(row, report, now):
            _follow_with(group, follows[name], providers, report, now)
    return True


def _analysis_results(row, items, missing, providers, gateway_of, report, now) -> bool:
    """Charge every analysis result and move each execution on: a ``show`` call answered and the
    analyst asked again in the next analysis batch (``lookup_rounds.batched``, at this batch's
    step and price), or its plan taken, then its coder asked in the next codegen batch (or at
    once, when the codegen step is not batched)."""
    try:
        codegen = steps.configured_steps(on=timezone.localdate(_now(now)))[1]
    except (ExecutionError, PricingError) as exc:
        codegen, codegen_error = None, str(exc)

    def take(execution, analysis, answer, gateway) -> Followup | None:
        base = runner.base_of(gateway, execution.base_sha)
        # GENERATING: charged and planned by a pass that stopped before its coder was asked.
        if execution.status == Execution.Status.ANALYSING:
            again = lookup_rounds.batched(
                execution, analysis, answer, index=base.index, gateway=gateway, now=now
            )
            if again is not None:
                # Held before it goes out (again after a pass that stopped between the two:
                # more held for a while, never less).
                lookup_rounds.hold_round(execution, analysis, providers.analysis, again)
                return analysis, again
            # The charge commits (even when the plan is empty and the execution fails); the
            # hold keeps the money for the coder if this pass stops before the codegen batch.
            runner.take_plan(execution, analysis, answer, now, base=base)
            ledger.hold_until(execution.reservation, _hold_expiry(now))
        if execution.analysis_request is not None:  # the plan came: no round is built on it now
            state.save(execution, now, analysis_request=None)
        if codegen is None:
            raise ProviderError(codegen_error)
        request = _codegen_request(execution, analysis, codegen, providers, gateway, base)
        if codegen.batch:
            return codegen, request
        # It leaves the batch before the paid call: no other pass asks the coder again.
        state.save(execution, now, batch_id=None)
        change = runner.generate_change(execution, codegen, request, base, gateway, providers, now)
        runner.finish_succeeded(execution, runner.publish(execution, change, gateway), now)
        return None

    return _results(
        row, items, missing, providers, gateway_of, report, now,
        asked=Execution.Status.ANALYSING,
        still_open=(Execution.Status.ANALYSING, Execution.Status.GENERATING),
        take=take,
    )  # fmt: skip


def _follow_with(waiting, step: steps.Step, providers: Providers, report, now) -> None:
    """One batch of ``step`` for the executions whose previous result asked for it (a codegen
    batch after their analysis or a coder's miss, an analysis batch after a look-up): each joins
    it only if it is still where this pass saw it (another pass may have taken it on)."""
    requests = {}
    with transaction.atomic():
        follow = _new_row(step, providers, _now(now), new_tasks=False)
        for custom_id, (execution, request) in waiting.items():
            try:
                _join(execution, follow, now)
            except ExecutionMovedOn as exc:
                log.info("%s", exc)
                continue
            requests[custom_id] = request
        if not requests:
            follow.delete()
            return
    _submit(follow, requests, providers, report, now)


def _codegen_request(execution, analysis, codegen, providers, gateway, base) -> CompletionRequest:
    """The coder's request after a batched analysis, held at its first try's worst case
    (``runner.codegen_bound``): the rest goes back to the month now, and what is missing (the
    step may have been edited while the analysis waited in its batch) is held if the month has
    room for it, else the request is refused (a further try is held when it is needed)."""
    request = runner.codegen_request_for(execution, analysis, codegen, base, gateway)
    worst = runner.codegen_bound(codegen, providers.codegen, request, reflections=0).nanos
    reservation = execution.reservation
    reservation.refresh_from_db()
    if reservation.status != Reservation.Status.OPEN:
        raise ChangeRejected("The execution's reservation was closed while its analysis waited in its batch")
    try:
        holds.make_room(execution, worst)
    except (ledger.BudgetBusy, ledger.BudgetExhausted) as short:
        raise ChangeRejected(
            f"The code generation (up to {format_usd(worst)}) was not submitted: {holds.why_not(short)}"
        ) from None
    return request


def _codegen_results(row, items, missing, providers, gateway_of, report, now) -> bool:
    """Charge every codegen result and publish each change; an answer that does not apply is
    asked again (``runner.next_try``) in a follow-up codegen batch, at the codegen step's
    configuration now (as after a batched analysis) and the batch price."""
    try:
        analysis, again = steps.configured_steps(on=timezone.localdate(_now(now)))
        again = replace(again, batch=True)
    except (ExecutionError, PricingError) as exc:
        analysis = again = None
        again_error = str(exc)

    def take(execution, codegen, answer, gateway) -> Followup | None:
        base = runner.base_of(gateway, execution.base_sha)
        try:
            change = runner.take_change(execution, codegen, answer, gateway, now, base=base)
        except runner.AnswerMissed as missed:
            if again is None:
                raise ProviderError(again_error) from None
            prompt = runner.codegen_request_for(execution, analysis, again, base, gateway)
            return again, runner.next_try(execution, again, prompt, answer, missed, providers.codegen)
        runner.finish_succeeded(execution, runner.publish(execution, change, gateway), now)
        return None

    return _results(
        row, items, missing, providers, gateway_of, report, now,
        asked=Execution.Status.GENERATING,
        still_open=(Execution.Status.GENERATING,),
        take=take,
    )  # fmt: skip


def _failed_unexpectedly(execution: Execution, exc: Exception, now) -> None:
    log.exception("execution %s stopped on an unexpected error in batch mode", execution.pk, exc_info=exc)
    runner.finish_failed(execution, f"Unexpected error ({type(exc).__name__}); see the worker log", now)
