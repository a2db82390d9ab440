"""django-q2 entry points of the budget (scheduled by ``setup_schedules``). Thin: they call the ledger,
the periods and the recap, and return a one-line outcome that q2 keeps as the task's result."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from budget import ledger
from budget.models import Period
from budget.periods import current_period, month_start

log = logging.getLogger(__name__)


def roll_over_periods(*, now: dt.datetime | None = None) -> str:
    """Open this month's period and send the recap of every finished month's periods, once each.

    Scheduled hourly, it acts at the first check of a month (in TIME_ZONE): the new period opens
    with the current limit (the latest period's) and zero spend. Each recap is recorded exactly
    once (``ledger.mark_recapped`` inside ``recap_period``), so later checks, a second cluster or a
    rerun after a crash send nothing more.
    """
    from notifications.recap import in_flight, recap_period

    now = now or timezone.now()
    period = current_period(now=now)
    # Periods of months that are over, recap not yet recorded: normally just last month's. A
    # month cut by ``reset_budget`` has two, each recapped once its month is over.
    finished = Period.objects.filter(month__lt=month_start(now), recapped_at__isnull=True).order_by("starts_at")
    recapped = [p for p in finished if recap_period(p, now=now)]
    for p in recapped:
        log.info("recap of %s recorded", p)
    # A finished month with executions still in flight is recapped at a later check, once they end.
    waiting = sum(in_flight(p, now=now) for p in finished if p not in recapped)
    outcome = f"open period {period.month:%Y-%m}; recaps recorded: {len(recapped)}"
    return f"{outcome}; waiting for executions in flight: {waiting}" if waiting else outcome


def expire_reservations(*, now: dt.datetime | None = None) -> str:
    """Release every open reservation past its expiry (its execution stopped making progress)."""
    expired = ledger.expire_reservations(now=now)
    if expired:
        log.warning("released %s expired reservation(s)", expired)
    return f"expired reservations released: {expired}"
