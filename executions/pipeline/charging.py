"""Charging a vendor's answer: the call's row, its charge in the ledger and the execution's cost,
once per vendor result, then the state change the answer leads to."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from budget import ledger, outcomes, overruns
from budget.models import Reservation
from budget.money import format_usd
from budget.pricing import cost_nanos
from executions.errors import ExecutionAbandoned, ExecutionMovedOn, UsageOverrun
from executions.models import Batch, Execution, ModelCall
from executions.pipeline import state, steps
from executions.providers import Completion, CompletionRequest, Provider
from executions.repositories import standing
from notifications import events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    completion: Completion
    duration_ms: int
    simulated: bool
    batch: Batch | None = None  # the vendor batch it came from: charged at the batch price
    # Which vendor result it is (a batch's: "<vendor batch id>/<custom id>"), when it can be read
    # again by a later pass: an execution's step is charged once per result (``ModelCall``).
    result_key: str = ""


def ask(provider: Provider, request: CompletionRequest) -> Answer:
    """One vendor call, timed. Nothing is written: ``charge`` records it."""
    started = time.monotonic()
    completion = provider.complete(request)
    return Answer(completion, int((time.monotonic() - started) * 1000), provider.simulated)


def charge(
    execution: Execution,
    step: steps.Step,
    answer: Answer,
    now: dt.datetime | None,
    *,
    failure: str = "",
    applied: bool = False,
    bound_nanos: int | None = None,
    **advance,
) -> ModelCall:
    """The call's row, its charge and the execution's new cost in one transaction of their own;
    then the state change the answer leads to (``advance``). The call's row: which try of its step
    it is, and ``failure``, why its answer could not be used (a further try may follow: then, as
    with ``advance``, no further call is made after a call billed past what it allowed).
    ``applied``: the answer's change applied, counted in the month with the state change (on the
    first try, or after a retry). ``bound_nanos``: what was held for this call (its input counted
    by the vendor, plus a margin): a bill past it is an overrun even when the rest of the
    reservation covers it.

    The charge commits first, on its own: it is what the vendor billed, and nothing derived from
    the answer (a plan, a change that cannot be written) may roll it back. A crash between the two
    leaves the money charged and the execution in its previous state: a result that can be read
    again (``answer.result_key``, batch mode) is then not charged a second time by the next pass
    (the database refuses a second row for it), which goes on to the state change; any other is
    ended by the reaper.

    The execution's row is written first: the ledger's lock order (execution, reservation,
    period), which the reaper follows too.
    """
    completion = answer.completion
    cost = cost_nanos(step.resolved.price, completion.usage, batch=answer.batch is not None)
    # A batch call also records its standard price: what batch mode saved is read from charges.
    standard = cost_nanos(step.resolved.price, completion.usage) if answer.batch is not None else None
    goes_on = bool(advance or failure)
    if (before := _call_of(execution, step, answer)) is not None:
        return _charged_already(
            execution, step, before, answer, now, advance, goes_on=goes_on, applied=applied
        )
    try:
        with transaction.atomic():
            live = Execution.objects.filter(pk=execution.pk, status__in=Execution.ACTIVE).update(
                cost_nanos=F("cost_nanos") + cost, heartbeat_at=now or timezone.now()
            )
            if not live:  # the reaper closed it during the call, which was billed all the same
                Execution.objects.filter(pk=execution.pk).update(cost_nanos=F("cost_nanos") + cost)
            call = ModelCall.objects.create(
                batch=answer.batch,
                standard_cost_nanos=standard,
                execution=execution,
                step=step.name,
                provider=step.resolved.model.provider,
                requested_model=step.resolved.requested,
                model=step.model_name,
                price=step.resolved.price,
                cost_nanos=cost,
                request_id=completion.request_id[:200],
                result_key=answer.result_key,
                duration_ms=answer.duration_ms,
                simulated=answer.simulated,
                reasoning_tokens=completion.reasoning_tokens,
                try_number=ModelCall.objects.filter(execution=execution, step=step.name).count() + 1,
                failure=failure,
                **completion.usage.as_dict(),
            )
            charged = ledger.charge(
                execution.reservation,
                cost,
                model_name=step.model_name,
                provider=step.resolved.model.provider,
                usage=completion.usage,
                now=now,
            )
            standing.count_spend(execution, cost)
            for milestone in charged.milestones:
                events.milestone_reached(milestone)
            overrun = None  # a closed execution's reservation holds nothing: its late charge is no overrun
            past_hold = max(cost - bound_nanos, 0) if bound_nanos is not None else 0
            if live and (charged.over_nanos or past_hold or completion.usage.output_tokens > step.max_tokens):
                overrun = _record_overrun(execution, step, call, charged.over_nanos, now, past_hold=past_hold)
    except IntegrityError:
        if (before := _call_of(execution, step, answer)) is None:
            raise
        # Another pass, just now.
        return _charged_already(
            execution, step, before, answer, now, advance, goes_on=goes_on, applied=applied
        )
    execution.cost_nanos += cost
    if not live:
        raise state.moved_on(execution)  # the reaper, or another worker, closed it
    if overrun is not None:
        raise overrun
    if advance:
        _advance(execution, now, advance, call if applied else None)
    return call


def _advance(execution: Execution, now: dt.datetime | None, fields: dict, applied: ModelCall | None) -> None:
    """The state change an answer leads to; with the month's count of a change that ``applied``
    (on that call's try), in the same transaction."""
    if applied is None:
        state.save(execution, now, **fields)
        return
    first = applied.try_number == 1
    with transaction.atomic():
        state.save(execution, now, **fields)
        outcomes.record_edit_outcome(
            period_id=execution.period_id,
            outcome=outcomes.APPLIED_FIRST_TRY if first else outcomes.APPLIED_AFTER_RETRY,
        )


def charge_billed(execution: Execution, step: steps.Step, answer: Answer, now: dt.datetime | None) -> None:
    """Charge a result the vendor billed whatever became of its execution since (the reaper
    closed it while it waited in a batch, say): counted in its month, nothing else changes. A
    result charged before is not charged again."""
    try:
        charge(execution, step, answer, now)
    except (ExecutionAbandoned, ExecutionMovedOn):
        pass  # closed: the charge stands, and the execution stays as it is


def _call_of(execution: Execution, step: steps.Step, answer: Answer) -> ModelCall | None:
    if not answer.result_key:
        return None
    return ModelCall.objects.filter(execution=execution, step=step.name, result_key=answer.result_key).first()


def _charged_already(
    execution: Execution,
    step: steps.Step,
    call: ModelCall,
    answer: Answer,
    now: dt.datetime | None,
    advance: dict,
    *,
    goes_on: bool,
    applied: bool,
) -> ModelCall:
    """The result was charged before (by a pass that stopped before its state change, or by one
    running now): nothing is charged; the state change is made if the execution still waits for
    it. ``goes_on``: the caller makes that change or a further call."""
    log.warning(
        "%s result %s of execution %s was charged before; not charging it again",
        step.name,
        answer.result_key,
        execution.pk,
    )
    execution.cost_nanos = Execution.objects.values_list("cost_nanos", flat=True).get(pk=execution.pk)
    if not goes_on:
        return call
    overran = Reservation.objects.filter(  # its charge went past what was held (recorded then)
        pk=execution.reservation_id, status=Reservation.Status.OPEN, charged_nanos__gt=F("amount_nanos")
    )
    if answer.completion.usage.output_tokens > step.max_tokens or overran.exists():
        raise UsageOverrun(  # recorded when it was charged; still, no further paid call
            f"{step.resolved.model.provider} reported more than the request allowed for the "
            f"{step.name} call; the execution stopped before any further paid call"
        )
    if advance:
        _advance(execution, now, advance, call if applied else None)
    return call


def _record_overrun(
    execution: Execution,
    step: steps.Step,
    call: ModelCall,
    over_nanos: int,
    now: dt.datetime | None,
    *,
    past_hold: int = 0,
) -> UsageOverrun:
    """The vendor billed past what the request allowed (charged all the same): record a warning
    naming the call and mark the month exhausted if the charge went past its reservation
    (announced once), in the charge's transaction; the ``UsageOverrun`` to raise once it commits,
    so that no further paid call is made."""
    usage = (
        f"{call.output_tokens:,} output tokens on a {step.max_tokens:,}-token cap "
        f"({call.input_tokens + call.cache_read_tokens + call.cache_write_5m_tokens + call.cache_write_1h_tokens:,}"
        " input tokens)"
    )
    which = f"The {step.name} call {call.pk} of execution {execution.pk} ({call.model}, request {call.request_id or '?'})"
    overruns.record_overrun(
        period=execution.period,
        call=which,
        usage=usage,
        charged_nanos=call.cost_nanos,
        excess_nanos=max(over_nanos, past_hold),
        now=now,
    )
    if over_nanos and ledger.mark_exhausted(execution.period, now=now):
        execution.period.refresh_from_db()
        events.budget_exhausted(execution.period, needed_nanos=execution.reserved_nanos)
    return UsageOverrun(
        f"{step.resolved.model.provider} reported {usage} for the {step.name} call, more than the request "
        f"allowed; it was charged {format_usd(call.cost_nanos)} and the execution stopped before any further paid call"
    )
