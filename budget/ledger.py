"""The reservation ledger: the one place money is held, charged and released.

The invariant ``spent + reserved + exposed <= limit`` holds because the only write that raises
``reserved`` or ``exposed`` is one conditional UPDATE that checks it in the database (``reserve``:
the row count decides). Charges move money from a reservation into ``spent``; a real cost never
exceeds what its reservation holds plus its exposure (the part of its byte-bound worst case held
only at a vendor's estimate), so ``spent`` never passes the limit. Every function is one short transaction in the
ORM, the same on SQLite and PostgreSQL: no lock is ever held across an HTTP call, and a crash
between calls leaves committed, consistent rows. Called inside a caller's transaction, a function
joins it without a savepoint: if it fails, the caller's whole transaction rolls back, never half
of a ledger write.

Lock order. Every write takes its rows in one order: the caller's own row that owns the
reservation (an execution), the reservation, the model's usage row, the period, then the day's
usage row. A caller that changes such a row in the same transaction as a ledger write (the pipeline
recording a charge, the reaper abandoning an execution) changes or locks it *before* calling the
ledger; two writers taking them the other way round could deadlock on PostgreSQL. (SQLite has no
row locks: its IMMEDIATE transactions serialise every writer.)

Every ledger write takes the period's row and keeps it until its commit, so the others queue
there: a charge takes the model's usage row before it (only charges write that row, so no other
path is affected) to keep the period locked one statement shorter. The day's row comes after the
period: an execution's start and end count themselves on it after the period's counters.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from budget.models import DailyUsage, Milestone, ModelUsage, Period, Reservation, Threshold
from budget.money import format_usd
from budget.periods import current_period
from budget.pricing import Usage

log = logging.getLogger(__name__)


class BudgetExhausted(Exception):
    """The worst case does not fit in what is left of the period."""

    def __init__(self, period: Period, needed_nanos: int):
        self.period = period
        self.needed_nanos = needed_nanos
        super().__init__(
            f"Budget exhausted for {period.month:%Y-%m}: the next execution needs up to "
            f"{format_usd(needed_nanos)}, only {format_usd(period.remaining_nanos)} of "
            f"{format_usd(period.limit_nanos, places=2)} is left."
        )


class BudgetBusy(Exception):
    """The worst case would fit what the month has not spent, but not beside what running work
    holds now: the work waits for the next try (nothing is recorded or announced)."""

    def __init__(self, period: Period, needed_nanos: int):
        self.period = period
        self.needed_nanos = needed_nanos
        super().__init__(
            f"Busy: the next execution needs up to {format_usd(needed_nanos)}; running work holds "
            f"{format_usd(period.reserved_nanos + period.exposed_nanos)} of the "
            f"{format_usd(max(period.limit_nanos - period.spent_nanos, 0))} left in "
            f"{period.month:%Y-%m}. It waits until that work has finished."
        )


class ReservationClosed(ValueError):
    """The reservation was released or expired: nothing more is held for its work."""


@dataclass(frozen=True)
class ChargeResult:
    cost_nanos: int
    milestones: list[Milestone]  # only those this charge created: announce each of them
    # How much the cost exceeded what the reservation still held (0 normally). The vendor billed
    # past the worst case: the charge stands, and the caller must stop spending (issue 20).
    over_nanos: int = 0


def _expiry(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.RESERVATION_TIMEOUT_SECONDS)


def reserve(
    amount_nanos: int,
    *,
    label: str = "",
    period: Period | None = None,
    now: dt.datetime | None = None,
    admit_nanos: int = 0,
    exposed_nanos: int = 0,
) -> Reservation:
    """Hold ``amount_nanos`` in the open period (nothing written if it does not fit).

    ``exposed_nanos``: what a call held at a vendor's estimate could be billed beyond it (up to
    its byte bound). It is not held, but kept out of other work's reach (``spent + reserved +
    exposed <= limit``) until ``shrink`` says that call is behind it, so a bill past the estimate
    cannot take ``spent`` over the limit however many executions run at once.
    ``admit_nanos``: the most the work could ever be billed (every call it may make, at its byte
    bound): it is admitted only while the month could absorb that too. Nothing is admitted in a
    period already recorded as exhausted (a raised limit clears that record).

    Raises ``BudgetBusy`` when ``limit - spent`` would hold it (other work's holds are in the
    way), else ``BudgetExhausted``.
    """
    if amount_nanos <= 0:
        raise ValueError("a reservation must be a positive amount")
    exposed = max(exposed_nanos, 0)
    admit = max(admit_nanos, amount_nanos + exposed)
    now = now or timezone.now()
    period = period or current_period(now=now)
    with transaction.atomic(savepoint=False):
        fits = (
            Period.objects.filter(pk=period.pk, closed_at__isnull=True, exhausted_at__isnull=True)
            .alias(committed=F("spent_nanos") + F("reserved_nanos") + F("exposed_nanos") + admit)
            .filter(committed__lte=F("limit_nanos"))
            .update(
                reserved_nanos=F("reserved_nanos") + amount_nanos, exposed_nanos=F("exposed_nanos") + exposed
            )
        )
        if fits:
            return Reservation.objects.create(
                period=period,
                label=label[:200],
                amount_nanos=amount_nanos,
                held_nanos=amount_nanos,
                exposed_nanos=exposed,
                created_at=now,
                expires_at=_expiry(now),
            )
    period.refresh_from_db()
    if (
        period.exhausted_at is None
        and period.closed_at is None
        and period.spent_nanos + admit <= period.limit_nanos
    ):
        raise BudgetBusy(period, admit)
    raise BudgetExhausted(period, admit)


def extend(reservation: Reservation, amount_nanos: int, *, exposed_nanos: int = 0) -> None:
    """Hold ``amount_nanos`` more (and expose ``exposed_nanos`` more, as ``reserve`` does) for a
    call decided on the way, such as a further try: only while ``spent + reserved + exposed``
    stays within the limit. Raises ``BudgetBusy`` when ``limit - spent`` would hold it beside
    what this reservation holds (other work's holds are in the way), else ``BudgetExhausted`` (nothing is recorded: the caller does
    without the call); ``ReservationClosed`` for a reservation that is not open."""
    amount, exposed = max(amount_nanos, 0), max(exposed_nanos, 0)
    if not amount and not exposed:
        return
    with transaction.atomic(savepoint=False):
        row = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.OPEN)
        if not row.select_for_update().exists():
            raise ReservationClosed(f"reservation {reservation.pk} is not open")
        fits = (
            Period.objects.filter(pk=reservation.period_id, closed_at__isnull=True)
            .alias(committed=F("spent_nanos") + F("reserved_nanos") + F("exposed_nanos") + amount + exposed)
            .filter(committed__lte=F("limit_nanos"))
            .update(reserved_nanos=F("reserved_nanos") + amount, exposed_nanos=F("exposed_nanos") + exposed)
        )
        if fits:
            row.update(
                held_nanos=F("held_nanos") + amount,
                amount_nanos=F("amount_nanos") + amount,
                exposed_nanos=F("exposed_nanos") + exposed,
            )
    if fits:
        reservation.refresh_from_db(fields=["held_nanos", "amount_nanos", "exposed_nanos"])
        return
    period = Period.objects.get(pk=reservation.period_id)
    own = Reservation.objects.filter(pk=reservation.pk).values_list("held_nanos", "exposed_nanos").get()
    if period.closed_at is None and period.spent_nanos + sum(own) + amount + exposed <= period.limit_nanos:
        raise BudgetBusy(period, amount + exposed)
    raise BudgetExhausted(period, amount + exposed)


def charge(
    reservation: Reservation,
    cost_nanos: int,
    *,
    model_name: str,
    provider: str,
    usage: Usage,
    now: dt.datetime | None = None,
) -> ChargeResult:
    """Record one finished call's real cost against its reservation's period.

    Run it inside the caller's transaction to write the call's own row atomically with the charge.
    Returns the milestones this charge crossed (created here, so announced by this caller only).
    Raises ``Reservation.DoesNotExist`` for a reservation that is not in the database.
    """
    if cost_nanos < 0:
        raise ValueError("a cost cannot be negative")
    now = now or timezone.now()
    period = reservation.period  # its bounds never change: no need to read them again
    expires_at = _expiry(now)  # progress: the reaper leaves a live execution alone
    candidates = _unreached_thresholds(period.pk)  # read before the period row is locked
    with transaction.atomic(savepoint=False):
        reservation_row = Reservation.objects.filter(pk=reservation.pk)
        charged = {"charged_nanos": F("charged_nanos") + cost_nanos, "expires_at": expires_at}
        # The usual case, one statement: the reservation is open and holds the whole cost.
        from_held = cost_nanos
        covered = reservation_row.filter(status=Reservation.Status.OPEN, held_nanos__gte=cost_nanos).update(
            held_nanos=F("held_nanos") - cost_nanos, **charged
        )
        from_exposed = 0
        if not covered:  # closed, or holding less than the cost: take what it holds, under its lock
            status, held, exposed = (
                reservation_row.select_for_update().values_list("status", "held_nanos", "exposed_nanos").get()
            )
            from_held = min(cost_nanos, held) if status == Reservation.Status.OPEN else 0
            # The rest of the bill was kept out of other work's reach as exposure: it is spent now.
            from_exposed = min(cost_nanos - from_held, exposed) if status == Reservation.Status.OPEN else 0
            reservation_row.update(
                held_nanos=F("held_nanos") - from_held,
                exposed_nanos=F("exposed_nanos") - from_exposed,
                **charged,
            )
        _add_model_usage(period, model_name, provider, usage, cost_nanos)
        Period.objects.filter(pk=period.pk).update(
            spent_nanos=F("spent_nanos") + cost_nanos,
            reserved_nanos=F("reserved_nanos") - from_held,
            exposed_nanos=F("exposed_nanos") - from_exposed,
        )
        _add_daily(period, now, cost_nanos=cost_nanos, calls=1)
        milestones = _record_milestones(period, candidates, now) if candidates else []
    if from_held < cost_nanos:
        # The vendor billed more than the reservation still held (or after it expired). The
        # money is spent all the same: it is recorded, and a bound was wrong, so say it loudly.
        log.error(
            "charge of %s exceeds what reservation %s still held (%s)",
            format_usd(cost_nanos),
            reservation.pk,
            format_usd(from_held),
        )
    reservation.held_nanos = reservation.held_nanos - cost_nanos if covered else held - from_held
    reservation.exposed_nanos = reservation.exposed_nanos if covered else exposed - from_exposed
    reservation.charged_nanos += cost_nanos
    reservation.expires_at = expires_at
    return ChargeResult(
        cost_nanos=cost_nanos, milestones=milestones, over_nanos=max(cost_nanos - from_held, 0)
    )


def release(reservation: Reservation, *, now: dt.datetime | None = None, expired: bool = False) -> int | None:
    """Return what the reservation still holds to the period; the nanodollars released.

    Idempotent: releasing a reservation that is no longer open (or not in the database) does
    nothing and returns None.
    """
    now = now or timezone.now()
    status = Reservation.Status.EXPIRED if expired else Reservation.Status.RELEASED
    closing = {"status": status, "held_nanos": 0, "exposed_nanos": 0, "closed_at": now}
    with transaction.atomic(savepoint=False):
        # The usual case, one statement: the reservation is open and holds what this instance says
        # (``charge`` and ``shrink`` keep it up to date). The row count decides.
        held, exposed = reservation.held_nanos, reservation.exposed_nanos
        open_row = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.OPEN)
        if not open_row.filter(held_nanos=held, exposed_nanos=exposed).update(**closing):
            # Closed already, or this instance is out of date: read what it holds under its lock.
            row = open_row.select_for_update().values_list("held_nanos", "exposed_nanos").first()
            if row is None:
                return None
            held, exposed = row
            open_row.update(**closing)
        Period.objects.filter(pk=reservation.period_id).update(
            reserved_nanos=F("reserved_nanos") - held, exposed_nanos=F("exposed_nanos") - exposed
        )
    reservation.status, reservation.held_nanos, reservation.exposed_nanos, reservation.closed_at = (
        status,
        0,
        0,
        now,
    )
    return held


def shrink(reservation: Reservation, to_nanos: int) -> int:
    """Hold at most ``to_nanos`` from now on (what the remaining calls can still cost, each at a
    true bound: the call held at an estimate is behind it, so its exposure ends too): the rest
    goes back to the period at once. Returns the nanodollars it no longer holds (0 if it already
    held no more, or is closed). Never raises what it holds."""
    to_nanos = max(to_nanos, 0)
    with transaction.atomic(savepoint=False):
        row = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.OPEN)
        current = row.select_for_update().values_list("held_nanos", "exposed_nanos").first()
        if current is None:
            return 0
        held, exposed = current
        released = max(held - to_nanos, 0)
        if not released and not exposed:
            return 0
        row.update(held_nanos=held - released, exposed_nanos=0)
        Period.objects.filter(pk=reservation.period_id).update(
            reserved_nanos=F("reserved_nanos") - released, exposed_nanos=F("exposed_nanos") - exposed
        )
    reservation.held_nanos, reservation.exposed_nanos = held - released, 0
    return released


def hold_until(reservation: Reservation, expires_at: dt.datetime) -> bool:
    """Keep an open reservation from expiring before ``expires_at`` (an execution waiting in a
    vendor batch makes no progress for hours). True if it was still open. The next ``charge``
    sets the usual expiry again."""
    held = bool(
        Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.OPEN).update(
            expires_at=expires_at
        )
    )
    if held:
        reservation.expires_at = expires_at
    return held


def expire_reservations(*, now: dt.datetime | None = None) -> int:
    """Release every open reservation past its expiry (its execution stopped making progress).

    Each is released in its own transaction (the reservation, then its period), after a check under
    the reservation's lock: one that a charge renewed meanwhile is left alone.
    """
    now = now or timezone.now()
    stale = Reservation.objects.filter(status=Reservation.Status.OPEN, expires_at__lt=now)
    expired = 0
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            reservation = stale.select_for_update().filter(pk=pk).first()
            if reservation is not None and release(reservation, now=now, expired=True) is not None:
                expired += 1
    return expired


def mark_exhausted(period: Period, *, now: dt.datetime | None = None) -> bool:
    """Record that ``period`` is exhausted. True only for the one caller that recorded it."""
    now = now or timezone.now()
    return bool(Period.objects.filter(pk=period.pk, exhausted_at__isnull=True).update(exhausted_at=now))


def mark_recapped(period: Period, *, now: dt.datetime | None = None) -> bool:
    """Record that ``period``'s recap is sent. True only for the one caller that recorded it."""
    now = now or timezone.now()
    return bool(Period.objects.filter(pk=period.pk, recapped_at__isnull=True).update(recapped_at=now))


def record_execution_started(period: Period, *, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        Period.objects.filter(pk=period.pk).update(executions_count=F("executions_count") + 1)
        _add_daily(period, now, executions=1)


def record_execution_finished(
    period: Period, *, succeeded: bool, pr_opened: bool, now: dt.datetime | None = None
) -> None:
    now = now or timezone.now()
    counts = ["succeeded_count" if succeeded else "failed_count"] + (["prs_count"] if pr_opened else [])
    with transaction.atomic(savepoint=False):
        Period.objects.filter(pk=period.pk).update(**{count: F(count) + 1 for count in counts})
        if pr_opened:
            _add_daily(period, now, prs=1)


def _unreached_thresholds(period_id: int) -> list[int]:
    """Enabled thresholds this period has no milestone for yet.

    Read before the period row is locked, to keep that lock short. A threshold enabled meanwhile
    is picked up by the next charge; one recorded meanwhile is caught by the unique constraint.
    """
    reached = Milestone.objects.filter(period_id=period_id).values("threshold_nanos")
    return list(
        Threshold.objects.filter(enabled=True)
        .exclude(amount_nanos__in=reached)
        .values_list("amount_nanos", flat=True)
    )


def _record_milestones(period: Period, candidates: list[int], now: dt.datetime) -> list[Milestone]:
    """One milestone per threshold the period's spend has crossed, created once: only its creator
    gets it back. Runs with the period row locked, so the spend read is this charge's."""
    spent, prs, executions = Period.objects.values_list("spent_nanos", "prs_count", "executions_count").get(
        pk=period.pk
    )
    created = []
    for threshold in sorted(t for t in candidates if t <= spent):
        try:
            with transaction.atomic():
                created.append(
                    Milestone.objects.create(
                        period=period,
                        threshold_nanos=threshold,
                        reached_at=now,
                        spent_nanos=spent,
                        prs_count=prs,
                        executions_count=executions,
                    )
                )
        except IntegrityError:
            pass  # another writer recorded it first, and announces it
    return created


def _day_in_period(period: Period, now: dt.datetime) -> dt.date:
    """Today in TIME_ZONE, kept inside the period: a run crossing midnight counts where it began."""
    last = period.ends_at - dt.timedelta(microseconds=1)
    return timezone.localtime(min(max(now, period.starts_at), last)).date()


def _add_daily(period: Period, now: dt.datetime, **increments: int) -> None:
    day = _day_in_period(period, now)
    added = {name: F(name) + amount for name, amount in increments.items()}
    if not DailyUsage.objects.filter(period=period, day=day).update(**added):
        DailyUsage.objects.create(period=period, day=day, **increments)


def _add_model_usage(period: Period, model_name: str, provider: str, usage: Usage, cost: int) -> None:
    increments = {"calls": 1, "cost_nanos": cost, **usage.as_dict()}
    added = {name: F(name) + amount for name, amount in increments.items() if amount}
    row = ModelUsage.objects.filter(period=period, model_name=model_name)
    if row.update(**added):
        return
    # The model's first charge this period. Its row is written before the period's is locked, so
    # two first charges can both get here: the second insert fails on the unique constraint, in a
    # savepoint of its own, and adds to the row the first one created.
    try:
        with transaction.atomic():
            ModelUsage.objects.create(period=period, model_name=model_name, provider=provider, **increments)
    except IntegrityError:
        row.update(**added)
