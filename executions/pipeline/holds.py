"""What running work holds: an execution holds what its next calls can cost, no more.

It starts holding its steps' first calls (the analysis, the coder's first try). After each charged
call the pipeline knows more (the plan names the coder's files, so the coder's request and its
bound are known before its first call), and the reservation is cut to what the remaining calls can
still cost: the rest goes back to the month at once, not when the execution ends (``tighten``). A
call decided on the way (a look-up round the analyst asks for, a further coder try after an answer
that did not apply) is held when it is decided, while the month has room for it (``make_room``);
money that may never be spent is not kept from other work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from budget import ledger
from budget.models import Reservation
from budget.money import format_usd
from executions.models import Execution
from executions.pipeline import state

log = logging.getLogger(__name__)


class Bound(Protocol):
    nanos: int  # the most this call (or step, over its tries) can still cost


def tighten(execution: Execution, remaining: Iterable[Bound]) -> int:
    """Hold no more than the ``remaining`` calls can cost; the nanodollars given back."""
    return tighten_to(execution, sum(bound.nanos for bound in remaining))


def tighten_to(execution: Execution, nanos: int) -> int:
    if execution.reservation is None:
        return 0
    released = ledger.shrink(execution.reservation, nanos)
    if released:
        log.debug("execution %s gave back %s nanodollars it no longer needs", execution.pk, released)
    return released


def make_room(execution: Execution, nanos: int, *, exposed_nanos: int = 0) -> None:
    """Hold exactly ``nanos`` for the calls still to come (the one just decided among them), and
    expose ``exposed_nanos`` beside it (a call held at a vendor's estimate: ``ledger.reserve``).
    What the reservation holds beyond that goes back to the month; what it lacks is held now, if
    the month has room for it: else ``BudgetBusy`` / ``BudgetExhausted`` (nothing recorded, the
    call is not made). An execution whose reservation the reaper closed has moved on
    (``state.moved_on``): no call is made for it."""
    reservation = execution.reservation
    open_row = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.OPEN)
    held = open_row.values_list("held_nanos", flat=True).first()
    if held is None:
        raise state.moved_on(execution)
    tighten_to(execution, min(held, nanos))  # also ends an earlier call's exposure
    hold_more(execution, max(nanos - held, 0), exposed_nanos=exposed_nanos)


def hold_more(execution: Execution, nanos: int, *, exposed_nanos: int = 0) -> None:
    """Hold ``nanos`` more (and expose ``exposed_nanos`` more) for a call just decided, if the
    month has room for it (``ledger.extend``: ``BudgetBusy`` / ``BudgetExhausted`` if not)."""
    try:
        ledger.extend(execution.reservation, nanos, exposed_nanos=exposed_nanos)
    except ledger.ReservationClosed:  # the reaper closed it meanwhile
        raise state.moved_on(execution) from None


def why_not(short: ledger.BudgetBusy | ledger.BudgetExhausted) -> str:
    """Why a call decided on the way could not be held, in words."""
    period = short.period
    unspent = format_usd(max(period.limit_nanos - period.spent_nanos, 0))
    if isinstance(short, ledger.BudgetBusy):
        return (
            f"the month has {unspent} unspent, but running work holds "
            f"{format_usd(period.reserved_nanos + period.exposed_nanos)} of it now"
        )
    return f"the month has {unspent} unspent, not enough for it beside what this execution holds"
