"""What running work holds: an execution's reservation shrinks as it goes.

After each charged call the pipeline knows more (the plan names the coder's files, so the coder's
request and its bound are known before its first call; a coder try that missed leaves fewer tries),
and the reservation is cut to what the remaining calls can still cost: the rest goes back to the
month at once, not when the execution ends. The remaining calls are a list of bounds, one per
step still to run (a step of several tries bounds all of them), so a further call slots in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from budget import ledger
from executions.models import Execution

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
