"""The monthly recap's facts about executions, passed down to ``notifications.recap``.

The recap is recorded and announced by ``notifications.recap.recap_period``; what it says about
the month's executions is read here, in the app that owns those rows.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Sum

from budget.models import Period
from budget.money import dollars_str
from executions.github.pull_requests import merged_in_period
from executions.models import Execution, ModelCall
from notifications import recap

TOP_EXECUTIONS = 5


def send_recap(period: Period, *, force: bool = False, now: dt.datetime | None = None) -> bool:
    """Record and announce ``period``'s recap with its executions; True when this call sent one
    (the rules of ``notifications.recap.recap_period``: once per period, ``force`` to resend)."""
    return recap.recap_period(period, executions=period_facts(period), force=force, now=now)


def period_facts(period: Period) -> dict:
    """Selector (read-only): what the recap says of ``period``'s executions, as JSON."""
    return {
        "top_executions": most_expensive_executions(period),
        "merged_pull_requests": merged_in_period(period.pk),
        "simulated_executions": Execution.objects.filter(period=period, simulated=True).count(),
        **batch_savings(period),
    }


def most_expensive_executions(period: Period, *, limit: int = TOP_EXECUTIONS) -> list[dict]:
    """The period's costliest executions, most expensive first."""
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


def batch_savings(period: Period) -> dict:
    """How many executions ran a step in a vendor batch, and what batch mode saved: the standard
    price of the batch calls less what they were charged (both recorded at the charge)."""
    calls = ModelCall.objects.filter(execution__period=period, batch__isnull=False)
    saved = calls.aggregate(saved=Sum(F("standard_cost_nanos") - F("cost_nanos")))["saved"] or 0
    return {
        "batch_executions": Execution.objects.filter(period=period, batched=True).count(),
        "batch_saved": dollars_str(saved),
    }
