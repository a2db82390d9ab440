"""Calls a vendor billed past what the request allowed: recorded, and shown as warnings.

The ledger charges what the vendor reports, even past the reservation (``ChargeResult.over_nanos``):
that is what was billed. The pipeline then stops the execution, marks the month exhausted and
records the overrun here, so that ``budget status``, ``/api/v1/usage/current/`` and the dashboard
say which call it was and what the vendor reported.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from budget.models import Overrun, Period
from budget.money import format_usd


def record_overrun(
    *,
    period: Period,
    call: str,
    usage: str,
    charged_nanos: int,
    excess_nanos: int,
    now: dt.datetime | None = None,
) -> Overrun:
    """Record one call's overrun: ``call`` names it, ``usage`` says what the vendor reported."""
    return Overrun.objects.create(
        period=period,
        call=call[:300],
        usage=usage[:300],
        charged_nanos=charged_nanos,
        excess_nanos=max(excess_nanos, 0),
        created_at=now or timezone.now(),
    )


def overrun_warning(overrun: Overrun) -> str:
    excess = (
        f", {format_usd(overrun.excess_nanos)} more than its reservation held" if overrun.excess_nanos else ""
    )
    return (
        f"{overrun.call}: the vendor reported {overrun.usage}; charged {format_usd(overrun.charged_nanos)}"
        f"{excess}. The execution was stopped; check the vendor's usage report."
    )


def overrun_warnings(period: Period) -> list[str]:
    """Selector: one line per overrun of ``period``, oldest first."""
    return [overrun_warning(o) for o in Overrun.objects.filter(period=period)]
