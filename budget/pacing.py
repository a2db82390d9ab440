"""Pacing: spend the month evenly instead of in its first days.

The even-spend line at a moment is ``limit × elapsed fraction of the period``.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from budget.models import Period

# Within this share of the limit of the even-spend line counts as "on pace".
ON_PACE_TOLERANCE = Fraction(2, 100)


def elapsed_fraction(period: Period, now: dt.datetime) -> Fraction:
    total = (period.ends_at - period.starts_at).total_seconds()
    done = (min(max(now, period.starts_at), period.ends_at) - period.starts_at).total_seconds()
    return Fraction(int(done * 1_000_000), int(total * 1_000_000)) if total > 0 else Fraction(1)


def even_spend_nanos(period: Period, now: dt.datetime) -> int:
    """What an evenly spent budget would have spent by ``now``."""
    return int(period.limit_nanos * elapsed_fraction(period, now))


def pace(period: Period, now: dt.datetime) -> str:
    """``ahead`` (spending faster than even), ``on``, or ``behind``."""
    gap = period.spent_nanos - even_spend_nanos(period, now)
    tolerance = int(period.limit_nanos * ON_PACE_TOLERANCE)
    if gap > tolerance:
        return "ahead"
    if gap < -tolerance:
        return "behind"
    return "on"


def projected_spend_nanos(period: Period, now: dt.datetime) -> int:
    """Month-end spend at the pace so far; never above the limit, which is never overspent."""
    fraction = elapsed_fraction(period, now)
    if fraction <= 0:
        return period.spent_nanos
    return min(int(period.spent_nanos / fraction), period.limit_nanos)


def may_start(period: Period, now: dt.datetime) -> bool:
    """Pacing's gate: whether the next execution may start now.

    The month's spend counting the new execution's worst case must stay at or below the
    even-spend line plus that worst case; equivalently, what is spent and held already is at or
    below the line. Spend then never runs more than one execution ahead of the line.
    """
    return period.spent_nanos + period.reserved_nanos <= even_spend_nanos(period, now)
