"""The values a vendor's usage report may hold, read one row at a time (usage reconciliation).

A report is the vendor's text, and a broken or forged one may say anything: ``1e400`` tokens
(JSON's infinity), ``10**30`` of them, a negative count, a bucket starting in the year 5 million.
Such a value is no count of the product's usage. ``token_count`` and the ``*_day`` readers raise
``Implausible`` for it, so the row holding it is refused (``Refused``) and the rest of the report
still counts: nothing absurd is stored, announced or summed into a figure that no longer fits a
column or a message.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

# The most tokens one count of a day's row may hold (one model, one mode, the product's own key):
# a hundred billion, over a million tokens a second all day long, and small enough that a month of
# such rows, five counts each, priced at $590 per million tokens, is still a bigint of nanodollars.
MAX_TOKENS = 10**11
MAX_SHOWN = 40  # characters of a refused value quoted in a message


class Implausible(ValueError):
    """A value no real usage report holds; the message says which and why, in a few words."""


@dataclass(frozen=True)
class Refused:
    """A row of a report that was not counted: where it stood and why (one line)."""

    where: str
    why: str

    def line(self) -> str:
        return f"{self.where}: {self.why}"


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def token_count(value: object, name: str) -> int:
    """A token count as a report gives it (absent or null: 0); ``Implausible`` for a count that
    is negative, not whole, not finite or above ``MAX_TOKENS``. Another type (a list, a word) is
    the report's shape, not a row's value: ``TypeError`` / ``ValueError`` as ``int`` raises them."""
    if value is None:
        return 0
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise Implausible(f"{name} {shown(value)} is not a whole number of tokens")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name} is a {type(value).__name__}, not a number")
    count = int(value)
    if count < 0:
        raise Implausible(f"{name} {shown(value)} is negative")
    if count > MAX_TOKENS:
        raise Implausible(f"{name} {shown(value)} is more than {MAX_TOKENS:,} tokens in a day")
    return count


def within(day: dt.date, first: dt.date, end: dt.date, value: object) -> dt.date:
    """``day`` when it is one of the UTC days ``[first, end)`` that were asked for."""
    if not first <= day < end:
        raise Implausible(f"a bucket starting at {shown(value)} is outside the days asked for")
    return day


def unix_day(seconds: object, first: dt.date, end: dt.date) -> dt.date:
    """The UTC day a bucket's Unix ``start_time`` falls on, one of ``[first, end)``."""
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise Implausible(f"a bucket starting at {shown(seconds)} is no time")
    start = int(seconds)  # not a number at all: the report's shape (ValueError, TypeError)
    try:
        day = dt.datetime.fromtimestamp(start, dt.UTC).date()
    except (OverflowError, OSError, ValueError):  # out of the calendar's years
        raise Implausible(f"a bucket starting at {shown(seconds)} is no date") from None
    return within(day, first, end, seconds)


def iso_day(text: str, first: dt.date, end: dt.date) -> dt.date:
    """The UTC day of a bucket's ISO 8601 ``starting_at``, one of ``[first, end)``."""
    day = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    return within(day, first, end, text)
