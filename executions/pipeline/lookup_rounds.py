"""The analyst's look-up rounds: before its plan, it may call ``show`` (``ANALYSIS_LOOKUPS``
times) and is answered from the base commit's index (``executions.context.lookups``).

Each round is a call like any other, held when the analyst asks for it (``hold_round``: its
request is known then, counted as the first one was; the month must have room for it, or the
execution stops before its plan), charged when it returns, before anything is derived from it, and
recorded on the execution (``Execution.lookups``: what was asked, what was shown). The execution is
admitted only while the month could absorb every round at its caps (``pipeline.worst_case``:
``steps.lookup_at_caps``), so a round is refused only when other work took the room meanwhile.
Synchronously the next round is asked at once (``look_again``); in batch mode it goes out in the
next analysis batch (``batched``), built on the request the execution keeps
(``Execution.analysis_request``: ``kept``), so a pass that stops between batches loses nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings

from budget import ledger
from budget.money import format_usd
from executions.analysis import analyst
from executions.context import lookups
from executions.errors import ChangeRejected
from executions.pipeline import charging, holds, steps
from executions.providers.base import CompletionRequest, count_input
from notifications.text import storable

if TYPE_CHECKING:
    from executions.context.repoindex import RepoIndex
    from executions.models import Execution
    from executions.providers.base import Provider
    from executions.repositories.base import RepositoryGateway


def allowed(step: steps.Step, request: CompletionRequest | None = None) -> int:
    """How many look-up rounds the analysis may make (in batch mode too: one batch per round):
    none for a ``request`` that does not offer ``show`` (a reduced form's: ``pipeline.forms``)."""
    return 0 if request is not None and request.lookup_tool is None else settings.ANALYSIS_LOOKUPS


def look_again(
    execution: Execution,
    step: steps.Step,
    request: CompletionRequest,
    answer: charging.Answer,
    *,
    index: RepoIndex,
    gateway: RepositoryGateway,
    provider: Provider,
    now: dt.datetime | None,
) -> tuple[charging.Answer, int | None]:
    """While the analyst's answer is a ``show`` call: answer it (``answer_round``), hold the next
    round (``hold_round``) and ask again. Returns the answer that is not a look-up (the plan,
    uncharged: ``pipeline.take_plan`` charges it) and what was held for its call (None: the first
    call's hold)."""
    held = None
    while following := answer_round(execution, step, request, answer, index=index, gateway=gateway, now=now):
        request = following
        held = hold_round(execution, step, provider, request)
        answer = charging.ask(provider, request)
    return answer, held


def hold_round(execution: Execution, step: steps.Step, provider: Provider, request: CompletionRequest) -> int:
    """Hold the round ``request`` asks, before it is sent: its input counted as the first call's
    was (``count_input``: the vendor's count plus a margin, its byte bound exposed beside it), on
    top of what the execution holds. Returns what is held for the call; ``ChangeRejected`` (the
    round is not made) when the month has no room for it now."""
    counted = count_input(provider, request)
    held = steps.try_nanos(step, counted.tokens)
    try:
        holds.hold_more(execution, held, exposed_nanos=steps.try_nanos(step, counted.bound) - held)
    except (ledger.BudgetBusy, ledger.BudgetExhausted) as short:
        raise ChangeRejected(
            f"The analysis asked to look again (up to {format_usd(held)}), but the round was not made: "
            f"{holds.why_not(short)}"
        ) from None
    return held


def batched(
    execution: Execution,
    step: steps.Step,
    answer: charging.Answer,
    *,
    index: RepoIndex,
    gateway: RepositoryGateway,
    now: dt.datetime | None,
) -> CompletionRequest | None:
    """A batched analysis's result: when it is a ``show`` call, the request for the next analysis
    batch (answered by ``answer_round`` and kept on the execution for the round after it); None
    when it is not (the plan: ``pipeline.take_plan``)."""
    if execution.analysis_request is None:
        return None  # sent without the show tool: its answer is the plan
    request = CompletionRequest.from_json(execution.analysis_request)
    called = answer.completion.tool_call_id
    if called and request.lookups and request.lookups[-1].call_id == called:
        return request  # answered (and charged) by a pass that stopped before the next batch
    return answer_round(execution, step, request, answer, index=index, gateway=gateway, now=now, keep=True)


def kept(request: CompletionRequest) -> dict:
    """The fields that keep ``request`` on its execution while it waits in a batch, when a
    look-up round may be built on it (``batched``)."""
    return {"analysis_request": request.as_json()} if request.lookup_tool is not None else {}


def answer_round(
    execution: Execution,
    step: steps.Step,
    request: CompletionRequest,
    answer: charging.Answer,
    *,
    index: RepoIndex,
    gateway: RepositoryGateway,
    now: dt.datetime | None,
    keep: bool = False,
) -> CompletionRequest | None:
    """When ``answer`` (to ``request``) is a ``show`` call: charge it, answer it from the base
    commit and record it, and return the next round's request (with ``keep``, kept on the
    execution in the charge's state change). None when it is not a look-up. A ``show`` call past
    the allowed rounds is charged and refused (``ChangeRejected``)."""
    items = analyst.lookup_from(answer.completion)
    if items is None:
        return None
    items = [storable(item) for item in items]  # kept on the execution, sent again as they are
    rounds, done = allowed(step, request), len(request.lookups)
    if done >= rounds:
        charging.charge(execution, step, answer, now)
        raise ChangeRejected(
            f"The analysis asked to look again after its {rounds} look-up(s) instead of calling submit_plan"
        )
    shown = lookups.answer(index, gateway, items, last=done + 1 >= rounds)
    record = {"asked": items, "shown": [storable(s) for s in shown.shown]}
    following = steps.lookup_request(request, answer.completion.tool_call_id, items, shown.text)
    charging.charge(
        execution,
        step,
        answer,
        now,
        lookups=[*execution.lookups, record],
        **(kept(following) if keep else {}),
    )
    return following
