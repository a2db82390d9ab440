"""The analyst's look-up rounds: before its plan, it may call ``show`` (``ANALYSIS_LOOKUPS``
times) and is answered from the base commit's index (``executions.context.lookups``).

Each round is a call like any other, held when the analyst asks for it (``room_for``: its request
is known then, counted as the first one was; the month must have room for it, or the execution
stops before its plan), charged when it returns, before anything is derived from it, and recorded
on the execution (``Execution.lookups``: what was asked, what was shown). The execution is admitted
only while the month could absorb every round at its caps (``pipeline.worst_case``:
``steps.lookup_at_caps``), so a round is refused only when other work spent the room meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings

from executions.analysis import analyst
from executions.context import lookups
from executions.errors import ChangeRejected
from executions.pipeline import charging, steps
from notifications.text import storable

if TYPE_CHECKING:
    from executions.context.repoindex import RepoIndex
    from executions.models import Execution
    from executions.providers.base import CompletionRequest, Provider
    from executions.repositories.base import RepositoryGateway


def allowed(step: steps.Step) -> int:
    """How many look-up rounds the analysis may make (none in batch mode yet: docs/context.md)."""
    return 0 if step.batch else settings.ANALYSIS_LOOKUPS


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
    room_for: Callable[[CompletionRequest], None],
) -> charging.Answer:
    """While the analyst's answer is a ``show`` call: charge it, answer it from the base commit,
    record it, hold the next round (``room_for`` its request) and ask again; the answer that is
    not a look-up (the plan) is returned uncharged (``pipeline.take_plan`` charges it). A ``show``
    call past the allowed rounds is charged and refused (``ChangeRejected``), as is one the month
    has no room for now (``ChangeRejected`` from ``room_for``)."""
    rounds = allowed(step)
    while (items := analyst.lookup_from(answer.completion)) is not None:
        done = len(request.lookups)
        if done >= rounds:
            charging.charge(execution, step, answer, now)
            raise ChangeRejected(
                f"The analysis asked to look again after its {rounds} look-up(s) instead of calling submit_plan"
            )
        shown = lookups.answer(index, gateway, items, last=done + 1 >= rounds)
        record = {"asked": [storable(i) for i in items], "shown": [storable(s) for s in shown.shown]}
        charging.charge(execution, step, answer, now, lookups=[*execution.lookups, record])
        request = steps.lookup_request(request, answer.completion.tool_call_id, items, shown.text)
        room_for(request)
        answer = charging.ask(provider, request)
    return answer
