"""The monthly recap: the facts of a finished period, recorded and announced exactly once.

``executions.jobs.roll_over_periods`` recaps every finished period at the first check of a month;
``send_recap`` recaps one by hand; both through ``executions.costs.recap.send_recap``, which reads the
period's executions and passes them down. Who announces is decided by the ledger's conditional
update of ``Period.recapped_at`` (``ledger.mark_recapped``), in the same transaction as the outbox
event, so a retry, a second cluster or a crash and rerun never sends a second recap.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from budget import ledger
from budget.models import Period, Reservation
from budget.money import dollars_str
from budget.selectors import period_summary
from notifications import events
from notifications.models import Event


def recap_facts(period: Period, *, executions: dict, now: dt.datetime | None = None) -> dict:
    """Everything the recap says about ``period``, as JSON (money as decimal-string dollars):
    the status's figures (``PeriodSummary.as_json``) and the recap's own. ``executions`` is what
    the executions app, which owns those rows, says of the period's executions (JSON values:
    ``top_executions``, ``merged_pull_requests``, ``simulated_executions``, ``batch_executions``, ``batch_saved``).

    Totals are the ledger's running totals (sums of what was charged), not re-estimates.
    """
    summary = period_summary(period, now=now)
    p = summary.period
    return summary.as_json() | {
        "period_id": p.pk,
        # The recap tells more of each milestone than the status does.
        "milestones": [
            {
                "threshold": dollars_str(m.threshold_nanos),
                "reached_at": m.reached_at.isoformat(),
                "spent": dollars_str(m.spent_nanos),
                "prs": m.prs_count,
                "executions": m.executions_count,
            }
            for m in summary.milestones
        ],
        **executions,
    }


def is_finished(period: Period, *, now: dt.datetime) -> bool:
    return period.closed_at is not None or period.ends_at <= now


def in_flight(period: Period, *, now: dt.datetime) -> int:
    """Selector: executions still holding money in ``period`` (open reservations not yet expired).

    Their charges still land in ``period`` after it ends, so its recap waits for them; a
    reservation past its expiry belongs to an execution that stopped, and does not hold it back.
    """
    return Reservation.objects.filter(
        period=period, status=Reservation.Status.OPEN, expires_at__gt=now
    ).count()


def recap_period(
    period: Period, *, executions: dict, force: bool = False, now: dt.datetime | None = None
) -> bool:
    """Record and announce ``period``'s recap (``recap_facts``). True when this call sent one.

    Without ``force`` only the first caller sends it (later calls: False), and only once no
    execution is in flight in the period (``in_flight``; until then: False); the caller picks
    finished periods (``roll_over_periods``, ``send_recap``). With ``force`` a recap that was
    already sent goes out again as a new event with its own key; a period that is not over yet
    gets a preview that does not count as its recap, so the real one still goes out at month end.
    """
    now = now or timezone.now()
    preview = force and not is_finished(period, now=now)
    if not force and in_flight(period, now=now):
        return False  # its figures are not final yet: a later check sends it
    with transaction.atomic():
        if not preview and ledger.mark_recapped(period, now=now):
            period.refresh_from_db()
            event = events.emit(
                Event.Kind.MONTHLY_RECAP,
                key=f"recap:{period.pk}",
                payload=recap_facts(period, executions=executions, now=now),
            )
            return event is not None
        if not force:
            return False
        period.refresh_from_db()
        payload = {**recap_facts(period, executions=executions, now=now), "forced": True, "preview": preview}
        key = f"recap:{period.pk}:{'preview' if preview else 'forced'}:{now.isoformat()}"
        return events.emit(Event.Kind.MONTHLY_RECAP, key=key, payload=payload) is not None
