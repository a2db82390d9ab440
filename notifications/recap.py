"""The monthly recap: the facts of a finished period, recorded and announced exactly once.

``budget.jobs.roll_over_periods`` calls ``recap_period`` for every finished period at the first
check of a month; ``send_recap`` calls it by hand. Who announces is decided by the ledger's
conditional update of ``Period.recapped_at`` (``ledger.mark_recapped``), in the same transaction
as the outbox event, so a retry, a second cluster or a crash and rerun never sends a second recap.
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

TOP_EXECUTIONS = 5


def most_expensive_executions(period: Period, *, limit: int = TOP_EXECUTIONS) -> list[dict]:
    """Selector (read-only): the period's costliest executions, most expensive first."""
    from executions.models import Execution

    rows = (
        Execution.objects.filter(period=period, cost_nanos__gt=0)
        .select_related("task")
        .order_by("-cost_nanos", "pk")[:limit]
    )
    return [
        {
            "id": e.pk,
            "task_title": e.task.title,
            "status": e.status,
            "cost": dollars_str(e.cost_nanos),
            "pr_url": e.pr_url or None,
            "branch": e.branch or None,
            "simulated": e.simulated,
        }
        for e in rows
    ]


def simulated_execution_count(period: Period) -> int:
    from executions.models import Execution

    return Execution.objects.filter(period=period, simulated=True).count()


def batch_savings(period: Period) -> dict:
    """Selector: how many executions ran a step in a vendor batch, and what batch mode saved: the
    standard price of the batch calls less what they were charged (both recorded at the charge)."""
    from django.db.models import F, Sum

    from executions.models import Execution, ModelCall

    calls = ModelCall.objects.filter(execution__period=period, batch__isnull=False)
    saved = calls.aggregate(saved=Sum(F("standard_cost_nanos") - F("cost_nanos")))["saved"] or 0
    return {
        "batch_executions": Execution.objects.filter(period=period, batched=True).count(),
        "batch_saved": dollars_str(saved),
    }


def merged_pull_requests(period: Period) -> list[dict]:
    """Selector (read-only): the pull requests the period paid for that were merged, oldest first."""
    from executions.pull_requests import merged_in_period

    return merged_in_period(period.pk)


def recap_facts(period: Period, *, now: dt.datetime | None = None) -> dict:
    """Everything the recap says about ``period``, as JSON (money as decimal-string dollars):
    the status's figures (``PeriodSummary.as_json``) and the recap's own.

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
        "top_executions": most_expensive_executions(p),
        "merged_pull_requests": merged_pull_requests(p),
        "simulated_executions": simulated_execution_count(p),
        **batch_savings(p),
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


def recap_period(period: Period, *, force: bool = False, now: dt.datetime | None = None) -> bool:
    """Record and announce ``period``'s recap. True when this call sent one.

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
                Event.Kind.MONTHLY_RECAP, key=f"recap:{period.pk}", payload=recap_facts(period, now=now)
            )
            return event is not None
        if not force:
            return False
        period.refresh_from_db()
        payload = {**recap_facts(period, now=now), "forced": True, "preview": preview}
        key = f"recap:{period.pk}:{'preview' if preview else 'forced'}:{now.isoformat()}"
        return events.emit(Event.Kind.MONTHLY_RECAP, key=key, payload=payload) is not None
