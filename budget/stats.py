"""Exact summaries of measured figures (tokens, nanodollars): the mean and the 90th percentile.

Integers in, integers out: the mean is rounded to the nearest whole unit (half up), so a mean of
nanodollars is exact to the nanodollar; the percentile is one of the values (nearest rank).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def nearest(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` to the nearest integer, halves rounded up (both ≥ 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class Spread:
    count: int
    total: int
    mean: int  # total / count, to the nearest unit
    p90: int  # the 90th percentile by nearest rank: 90 % of the values are at most this

    def as_json(self, unit=int) -> dict:
        """``{"mean", "p90"}`` in ``unit`` (``int`` for tokens, ``dollars_str`` for nanodollars)."""
        return {"mean": unit(self.mean), "p90": unit(self.p90)}


def spread(values: Iterable[int]) -> Spread | None:
    """The spread of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    n, total = len(ordered), sum(ordered)
    rank = -(-9 * n // 10)  # ceil(0.9 n), at least 1
    return Spread(count=n, total=total, mean=nearest(total, n), p90=ordered[rank - 1])
