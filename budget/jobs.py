"""The budget's own background job (run by ``executions.jobs.recover_stalled``). Thin: it calls the
ledger and returns a one-line outcome that q2 keeps as the task's result."""

from __future__ import annotations

import datetime as dt
import logging

from budget import ledger

log = logging.getLogger(__name__)


def expire_reservations(*, now: dt.datetime | None = None) -> str:
    """Release every open reservation past its expiry (its execution stopped making progress)."""
    expired = ledger.expire_reservations(now=now)
    if expired:
        log.warning("released %s expired reservation(s)", expired)
    return f"expired reservations released: {expired}"
