"""Budget periods: a calendar month in TIME_ZONE, opened on demand by the first call that needs it."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from budget.models import Period
from budget.money import MoneyError, format_usd, to_nanos


class LimitError(ValueError):
    """A limit that cannot be applied (negative, malformed, or below what is already committed)."""


def month_start(value: dt.date | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return value.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of ``month`` and of the next one, aware, in TIME_ZONE."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(month, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(next_month(month), dt.time.min, tzinfo=tz)
    return start, end


def part_of_month(starts_at: dt.datetime, ends_at: dt.datetime) -> str | None:
    """``Oct 1–11`` for a period that covers only part of its month (``reset_budget`` cut the month
    in two), or None for a whole month: two recaps of one month must say which part each is."""
    if (starts_at, ends_at) == month_bounds(month_start(starts_at)):
        return None
    first = timezone.localtime(starts_at)
    last = timezone.localtime(ends_at - dt.timedelta(microseconds=1))
    return f"{first:%b} {first.day}–{last.day}"


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` to the first day of that month, or ``ValueError`` with a readable message."""
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except (TypeError, ValueError):
        raise ValueError(f"month must look like 2026-11, not {text!r}") from None


def default_limit_nanos() -> int:
    """The limit a new period opens with: the latest period's, or MONTHLY_BUDGET for the first."""
    latest = Period.objects.order_by("-starts_at").values_list("limit_nanos", flat=True).first()
    if latest is not None:
        return latest
    try:
        return to_nanos(settings.MONTHLY_BUDGET, what="MONTHLY_BUDGET")
    except MoneyError as exc:
        raise LimitError(str(exc)) from None


def current_period(*, now: dt.datetime | None = None) -> Period:
    """The period open at ``now``, creating the month's period if this is its first call."""
    now = now or timezone.now()
    found = Period.objects.filter(starts_at__lte=now, ends_at__gt=now, closed_at__isnull=True).first()
    return found or _open_month(now)


def _open_month(now: dt.datetime) -> Period:
    month = month_start(now)
    starts_at, ends_at = month_bounds(month)
    try:
        with transaction.atomic():
            return Period.objects.create(
                month=month, starts_at=starts_at, ends_at=ends_at, limit_nanos=default_limit_nanos()
            )
    except IntegrityError:
        # Another worker opened it first; starts_at is unique, so there is exactly one.
        return Period.objects.get(starts_at=starts_at)


def periods_for_month(month: dt.date) -> list[Period]:
    return list(Period.objects.filter(month=month).order_by("starts_at"))


def set_limit(period: Period, dollars: str, *, now: dt.datetime | None = None) -> Period:
    """Change a period's limit. Refused below what is already spent and reserved."""
    try:
        new_limit = to_nanos(dollars, what="limit")
    except MoneyError as exc:
        raise LimitError(str(exc)) from None
    updated = Period.objects.filter(pk=period.pk, spent_nanos__lte=new_limit - F("reserved_nanos")).update(
        limit_nanos=new_limit
    )
    if not updated:
        period.refresh_from_db()
        raise LimitError(
            f"limit ${dollars} is below what this period has already spent and reserved "
            f"({format_usd(period.spent_nanos + period.reserved_nanos)})"
        )
    # A raised limit may make room again: the next exhaustion deserves its own announcement.
    Period.objects.filter(pk=period.pk, exhausted_at__isnull=False).filter(
        limit_nanos__gt=F("spent_nanos") + F("reserved_nanos")
    ).update(exhausted_at=None)
    period.refresh_from_db()
    return period


@transaction.atomic
def reset_period(*, now: dt.datetime | None = None) -> tuple[Period, Period]:
    """Close the open period now and open a fresh one, with the same limit, to the end of the month.

    Open reservations stay with the closed period: their charges still land where they were reserved.
    """
    now = now or timezone.now()
    old = current_period(now=now)
    Period.objects.filter(pk=old.pk).update(closed_at=now, ends_at=now)
    old.refresh_from_db()
    _, month_end = month_bounds(month_start(now))
    new = Period.objects.create(
        month=month_start(now), starts_at=now, ends_at=month_end, limit_nanos=old.limit_nanos
    )
    return old, new
