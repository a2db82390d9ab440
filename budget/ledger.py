"""The reservation ledger: the one place money is held, charged and released.

The invariant ``spent + reserved <= limit`` holds because the only write that raises ``reserved``
is one conditional UPDATE that checks it in the database (``reserve``). Charges move money from a
reservation into ``spent``; a real cost never exceeds its reservation's worst case, so ``spent``
never passes the limit. Every function is one short transaction: no lock is ever held across an
HTTP call, and a crash between calls leaves committed, consistent rows. Called inside a caller's
transaction, a function joins it without a savepoint: if it fails, the caller's whole transaction
rolls back, never half of a ledger write.

Every write takes its rows in one order: the reservation, the period, then the per-model and
per-day usage rows. An execution's start reserves (the period row) and then counts itself (the
day's row) in one transaction; a write taking them the other way round could deadlock with it.
"""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
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


@dataclass(frozen=True)
class ChargeResult:
    cost_nanos: int
    milestones: list[Milestone]  # only those this charge created: announce each of them
    # How much the cost exceeded what the reservation still held (0 normally). The vendor billed
    # past the worst case: the charge stands, and the caller must stop spending (issue 20).
    over_nanos: int = 0


PERIOD = Period._meta.db_table
RESERVATION = Reservation._meta.db_table
MODEL_USAGE = ModelUsage._meta.db_table
DAILY_USAGE = DailyUsage._meta.db_table
THRESHOLD = Threshold._meta.db_table
MILESTONE = Milestone._meta.db_table


def _sql(sql: str, params: list) -> tuple[list[tuple], int]:
    """Run one statement; the rows it returned and the number of rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return (cursor.fetchall() if cursor.description else []), cursor.rowcount


def _call(sql: str, params: list) -> tuple:
    """Call one of the ledger's PostgreSQL functions (migrations 0003 to 0006); the row it returns.

    Django's cursors bind parameters in Python and send each call as new SQL text, which the
    server parses and plans again. A server-binding cursor sends the parameters apart from the
    text, so psycopg prepares each of these calls once per connection (``prepare_threshold`` in
    settings) and the server only executes it: the ledger's calls are the most frequent writes
    there are. Each connection keeps one such cursor, and a call makes the checks Django's
    cursor wrapper makes (``CursorWrapper._execute``) with the same error classes, without a new
    cursor and wrapper each time. While anything watches Django's queries (DEBUG or a test
    capturing them, or an ``execute_wrapper``) the call goes through Django's own cursor, so the
    watcher sees it with its values.
    """
    db = connections[DEFAULT_DB_ALIAS]  # what ``connection`` stands for, looked up once, not per use
    if db.queries_logged or db.execute_wrappers:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        cursor = _prepared_cursors.get(db)
        if cursor is None or cursor.connection is not db.connection:  # first call, or reconnected
            from django.db.backends.postgresql.base import ServerBindingCursor  # needs psycopg

            cursor = _prepared_cursors[db] = ServerBindingCursor(db.connection)
        cursor.execute(sql, params)
        return cursor.fetchone()


# Each thread's connection wrapper and the server-binding cursor of its current connection. A
# cursor holds its connection: keyed by the connection, no entry would ever be dropped.
_prepared_cursors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _for_update() -> str:
    # SQLite has no row locks; its IMMEDIATE transactions already serialise every writer.
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _in_database() -> bool:
    """Whether the ledger's writes run as the PostgreSQL functions of migrations 0003 to 0006.

    There, each write is one round trip, so the contended period row is locked for microseconds
    rather than for several round trips; they also commit without waiting for the WAL flush. A
    reservation must be durable before the HTTP call it pays for, so ``reserve`` then waits for
    the flush, with no lock held (``_wait_for_flush``). A charge lost to a database crash is the
    same loss as a worker dying between the vendor's answer and the charge, a window the ledger
    accepts anyway; a lost release only holds money until the reaper frees it. SQLite runs the
    same rules in portable SQL (``_charge``, ``_release``, the second half of ``reserve``); it
    serialises writers anyway.
    """
    return connection.vendor == "postgresql"


def _db_datetime(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _expiry(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.RESERVATION_TIMEOUT_SECONDS)


def reserve(
    amount_nanos: int,
    *,
    label: str = "",
    period: Period | None = None,
    now: dt.datetime | None = None,
) -> Reservation:
    """Hold ``amount_nanos`` in the open period, or raise ``BudgetExhausted`` (nothing written).

    The reservation is on disk when this returns or, inside a caller's transaction, when that
    transaction's commit returns: before the call it pays for (``_wait_for_flush``).
    """
    if amount_nanos <= 0:
        raise ValueError("a reservation must be a positive amount")
    now = now or timezone.now()
    period = period or current_period(now=now)
    if _in_database():
        (reservation_id,) = _call(
            "SELECT budget_reserve(%s, %s, %s, %s, %s)", [period.pk, amount_nanos, label[:200], now, _expiry(now)]
        )
        if reservation_id is not None:
            # Right away in autocommit; inside a caller's transaction, as soon as it commits.
            transaction.on_commit(_wait_for_flush)
    else:
        reservation_id = _reserve(period, amount_nanos, label[:200], now)
    if reservation_id is None:
        period.refresh_from_db()
        raise BudgetExhausted(period, amount_nanos)
    reservation = Reservation(
        pk=reservation_id,
        period=period,
        label=label[:200],
        amount_nanos=amount_nanos,
        held_nanos=amount_nanos,
        created_at=now,
        expires_at=_expiry(now),
    )
    reservation._state.adding = False  # the row exists: a later save() updates it
    return reservation


def _wait_for_flush() -> None:
    """Return once the reservation's commit is on disk, which it must be before the call it pays for.

    ``budget_reserve`` (migration 0006) commits without waiting for the WAL flush, because a
    commit keeps its row locks until the flush is done, and the other ledger calls would queue for
    the period row meanwhile. This waits for it with no lock held: a transaction that takes an id
    commits synchronously, writing its commit record after the reservation's, and returns only
    once the WAL is flushed (and, where configured, replicated) past it.
    """
    _call("SELECT pg_current_xact_id()", [])


def _reserve(period: Period, amount_nanos: int, label: str, now: dt.datetime) -> int | None:
    """``reserve`` in portable SQL (SQLite); ``budget_reserve`` (migration 0006) on PostgreSQL.

    The one write that raises ``reserved`` is the conditional UPDATE. SQLite serialises writers,
    so it can come first: the reservation row is written only when the money fits, and a refusal
    writes nothing (no savepoint to roll back). Returns the new reservation's id, or None.
    """
    with transaction.atomic(savepoint=False):
        _, fits = _sql(
            f"UPDATE {PERIOD} SET reserved_nanos = reserved_nanos + %s "
            "WHERE id = %s AND closed_at IS NULL AND spent_nanos + reserved_nanos + %s <= limit_nanos",
            [amount_nanos, period.pk, amount_nanos],
        )
        if not fits:
            return None
        when = [_db_datetime(now), _db_datetime(_expiry(now))]
        (reservation_id,), *_ = _sql(
            f"INSERT INTO {RESERVATION} (period_id, label, amount_nanos, held_nanos, charged_nanos, status, "
            "created_at, expires_at) VALUES (%s, %s, %s, %s, 0, %s, %s, %s) RETURNING id",
            [period.pk, label, amount_nanos, amount_nanos, Reservation.Status.OPEN, *when],
        )[0]
    return reservation_id


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
    """
    if cost_nanos < 0:
        raise ValueError("a cost cannot be negative")
    now = now or timezone.now()
    period = reservation.period  # its bounds never change: no need to read them again
    expires_at = _expiry(now)  # progress: the reaper leaves a live execution alone
    if _in_database():
        from_held, held, milestone_ids = _call(
            "SELECT * FROM budget_charge(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [reservation.pk, cost_nanos, model_name, provider, *_usage_columns(usage),
             _day_in_period(period, now), now, expires_at],
        )
        milestones = (
            list(Milestone.objects.filter(pk__in=milestone_ids).order_by("threshold_nanos")) if milestone_ids else []
        )
    else:
        from_held, held, milestones = _charge(reservation, period, cost_nanos, model_name, provider, usage,
                                              now, expires_at)
    if from_held < cost_nanos:
        # The vendor billed more than the reservation still held (or after it expired). The
        # money is spent all the same: it is recorded, and a bound was wrong, so say it loudly.
        log.error(
            "charge of %s exceeds what reservation %s still held (%s)",
            format_usd(cost_nanos),
            reservation.pk,
            format_usd(from_held),
        )
    reservation.held_nanos = held - from_held
    reservation.charged_nanos += cost_nanos
    reservation.expires_at = expires_at
    return ChargeResult(cost_nanos=cost_nanos, milestones=milestones, over_nanos=max(cost_nanos - from_held, 0))


def _charge(reservation, period, cost_nanos, model_name, provider, usage, now, expires_at):
    """``charge`` in portable SQL (SQLite); ``budget_charge`` (migration 0005) on PostgreSQL."""
    candidates = _unreached_thresholds(period.pk)
    with transaction.atomic(savepoint=False):
        (status, held), *_ = _sql(
            f"SELECT status, held_nanos FROM {RESERVATION} WHERE id = %s{_for_update()}", [reservation.pk]
        )[0]
        from_held = min(cost_nanos, held) if status == Reservation.Status.OPEN else 0
        _sql(
            f"UPDATE {RESERVATION} SET held_nanos = held_nanos - %s, charged_nanos = charged_nanos + %s, "
            "expires_at = %s WHERE id = %s",
            [from_held, cost_nanos, _db_datetime(expires_at), reservation.pk],
        )
        (spent, prs, executions), *_ = _sql(
            f"UPDATE {PERIOD} SET spent_nanos = spent_nanos + %s, reserved_nanos = reserved_nanos - %s "
            "WHERE id = %s RETURNING spent_nanos, prs_count, executions_count",
            [cost_nanos, from_held, period.pk],
        )[0]
        _add_model_usage(period.pk, model_name, provider, usage, cost_nanos)
        _add_daily(period, now, cost_nanos=cost_nanos, calls=1)
        crossed = [threshold for threshold in candidates if threshold <= spent]
        milestones = _record_milestones(period.pk, crossed, spent, prs, executions, now)
    return from_held, held, milestones


def release(reservation: Reservation, *, now: dt.datetime | None = None, expired: bool = False) -> int | None:
    """Return what the reservation still holds to the period; the nanodollars released.

    Idempotent: releasing a reservation that is no longer open does nothing and returns None.
    """
    now = now or timezone.now()
    status = Reservation.Status.EXPIRED if expired else Reservation.Status.RELEASED
    if _in_database():
        (held,) = _call("SELECT budget_release(%s, %s, %s)", [reservation.pk, status, now])
    else:
        held = _release(reservation, status, now)
    if held is None:
        return None
    reservation.status, reservation.held_nanos, reservation.closed_at = status, 0, now
    return held


def _release(reservation: Reservation, status: str, now: dt.datetime) -> int | None:
    """``release`` in portable SQL (SQLite); ``budget_release`` in migration 0003 on PostgreSQL."""
    with transaction.atomic(savepoint=False):
        rows, _ = _sql(
            f"SELECT period_id, held_nanos FROM {RESERVATION} WHERE id = %s AND status = %s{_for_update()}",
            [reservation.pk, Reservation.Status.OPEN],
        )
        if not rows:
            return None
        (period_id, held), *_ = rows
        _sql(
            f"UPDATE {RESERVATION} SET status = %s, held_nanos = 0, closed_at = %s WHERE id = %s",
            [status, _db_datetime(now), reservation.pk],
        )
        _sql(f"UPDATE {PERIOD} SET reserved_nanos = reserved_nanos - %s WHERE id = %s", [held, period_id])
    return held


def hold_until(reservation: Reservation, expires_at: dt.datetime) -> bool:
    """Keep an open reservation from expiring before ``expires_at`` (an execution waiting in a
    vendor batch makes no progress for hours). True if it was still open. The next ``charge``
    sets the usual expiry again."""
    held = bool(
        Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.OPEN).update(expires_at=expires_at)
    )
    if held:
        reservation.expires_at = expires_at
    return held


def expire_reservations(*, now: dt.datetime | None = None) -> int:
    """Release every open reservation past its expiry (its execution stopped making progress)."""
    now = now or timezone.now()
    stale = Reservation.objects.filter(status=Reservation.Status.OPEN, expires_at__lt=now)
    expired = 0
    for reservation in stale.only("pk"):
        if release(reservation, now=now, expired=True) is not None:
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
        _sql(f"UPDATE {PERIOD} SET executions_count = executions_count + 1 WHERE id = %s", [period.pk])
        _add_daily(period, now, executions=1)


def record_execution_finished(
    period: Period, *, succeeded: bool, pr_opened: bool, now: dt.datetime | None = None
) -> None:
    now = now or timezone.now()
    counts = ["succeeded_count" if succeeded else "failed_count"] + (["prs_count"] if pr_opened else [])
    with transaction.atomic(savepoint=False):
        _sql(f"UPDATE {PERIOD} SET {', '.join(f'{c} = {c} + 1' for c in counts)} WHERE id = %s", [period.pk])
        if pr_opened:
            _add_daily(period, now, prs=1)


def _unreached_thresholds(period_id: int) -> list[int]:
    """Enabled thresholds this period has no milestone for yet.

    Read before the period row is locked, to keep that lock short. A threshold enabled meanwhile
    is picked up by the next charge; one recorded meanwhile is caught by the unique constraint.
    """
    rows, _ = _sql(
        f"SELECT amount_nanos FROM {THRESHOLD} WHERE enabled AND amount_nanos NOT IN "
        f"(SELECT threshold_nanos FROM {MILESTONE} WHERE period_id = %s)",
        [period_id],
    )
    return [amount for (amount,) in rows]


def _record_milestones(
    period_id: int, crossed: list[int], spent: int, prs: int, executions: int, now: dt.datetime
) -> list[Milestone]:
    """One milestone per crossed threshold, created once: only its creator gets it back."""
    created = []
    for threshold in sorted(crossed):
        try:
            with transaction.atomic():
                created.append(
                    Milestone.objects.create(
                        period_id=period_id,
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
    # Clamping the instant and then taking its date is clamping the date (dates only grow with
    # time), with one conversion to local time instead of three: this runs on every charge.
    last = period.ends_at - dt.timedelta(microseconds=1)
    return timezone.localtime(min(max(now, period.starts_at), last)).date()


def _upsert_adding(table: str, key: dict, increments: dict[str, int], other: dict | None = None) -> None:
    """Add ``increments`` to the row at ``key`` (a unique constraint), creating it on first use.

    One INSERT ... ON CONFLICT DO UPDATE: race-free and one round trip, on SQLite and PostgreSQL.
    """
    columns = {**key, **(other or {}), **increments}
    names = ", ".join(columns)
    placeholders = ", ".join(["%s"] * len(columns))
    additions = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in increments)
    _sql(
        f"INSERT INTO {table} ({names}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {additions}",
        list(columns.values()),
    )


def _add_daily(period: Period, now: dt.datetime, **increments: int) -> None:
    zero = {"cost_nanos": 0, "calls": 0, "executions": 0, "prs": 0}
    day = connection.ops.adapt_datefield_value(_day_in_period(period, now))
    _upsert_adding(DAILY_USAGE, {"period_id": period.pk, "day": day}, {**zero, **increments})


def _add_model_usage(period_id: int, model_name: str, provider: str, usage: Usage, cost: int) -> None:
    _upsert_adding(
        MODEL_USAGE,
        {"period_id": period_id, "model_name": model_name},
        {"calls": 1, "cost_nanos": cost, **usage.as_dict()},
        other={"provider": provider},
    )


def _usage_columns(usage: Usage) -> list[int]:
    """The usage in ``budget_charge``'s argument order."""
    return [usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_5m_tokens,
            usage.cache_write_1h_tokens]
