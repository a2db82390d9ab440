"""Writing events to the outbox. Call these inside the transaction of the change they report.

Each event carries a snapshot of the facts at that moment (``payload``), so a message delivered
an hour later still says what was true when it happened. Money in payloads is a decimal string
in dollars. The ``key`` makes each event exactly-once: a second emit with the same key is a no-op.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from budget.money import dollars_str
from budget.selectors import period_figures, period_summary
from notifications.delivery import fan_out
from notifications.models import Event
from notifications.secrets import mask_data

if TYPE_CHECKING:
    from budget.models import LanguageModel, Milestone, Period

Kind = Event.Kind


def emit(kind: str, *, key: str, payload: dict) -> Event | None:
    """Record an event once per ``key``, with one delivery per enabled channel that wants it, all
    in the caller's transaction (they commit or roll back with the change they report). Delivery
    is triggered after commit. Returns None when the key was already recorded. Every text in the
    payload is stored (and so sent) with the configured secrets masked."""
    with transaction.atomic(savepoint=False):  # inside the caller's transaction: its fate is theirs
        try:
            with transaction.atomic():
                event = Event.objects.create(kind=kind, key=key, payload=mask_data(payload))
        except IntegrityError:
            return None
        fan_out(event)
    return event


def budget_snapshot(period: Period) -> dict:
    """The period's figures now (``PeriodSummary.as_json()``): spend, limit, counts, per model.
    The last usage reconciliation (a month of per-day differences) is not a fact of the event."""
    snapshot = period_summary(period).as_json()
    snapshot.pop("reconciliation", None)
    return snapshot


def execution_event(kind: str, *, execution: dict, period: Period) -> Event | None:
    """An execution started, completed or failed. ``execution`` is its facts as JSON, from the
    executions app (``executions.pipeline.announce``); ``period`` is the month it is charged to."""
    # The month's own figures only: an execution's message shows its own calls per model, and the
    # month's per-model totals and milestones belong to the milestone and exhaustion messages.
    return emit(
        kind,
        key=f"execution:{execution['id']}:{kind}",
        payload={"execution": execution, "budget": period_figures(period)},
    )


def milestone_reached(milestone: Milestone) -> Event | None:
    """Call only with a milestone the ledger just created (``ChargeResult.milestones``)."""
    return emit(
        Kind.MILESTONE_REACHED,
        key=f"milestone:{milestone.period_id}:{milestone.threshold_nanos}",
        payload={
            "threshold": dollars_str(milestone.threshold_nanos),
            "reached_at": milestone.reached_at.isoformat(),
            "spent": dollars_str(milestone.spent_nanos),
            "prs": milestone.prs_count,
            "executions": milestone.executions_count,
            "budget": budget_snapshot(milestone.period),
        },
    )


def budget_exhausted(period: Period, *, needed_nanos: int) -> Event | None:
    """Call only when ``ledger.mark_exhausted`` returned True."""
    return emit(
        Kind.BUDGET_EXHAUSTED,
        key=f"exhausted:{period.pk}:{period.exhausted_at.isoformat() if period.exhausted_at else ''}",
        payload={"needed": dollars_str(needed_nanos), "budget": budget_snapshot(period)},
    )


def model_switched(requested: LanguageModel, used: LanguageModel) -> Event | None:
    """A retired model was replaced by its successor: said once per (model, successor)."""
    return emit(
        Kind.MODEL_SWITCHED,
        key=f"model-switched:{requested.name}:{used.name}",
        payload={
            "requested": requested.name,
            "used": used.name,
            "retired_on": requested.retires_on.isoformat() if requested.retires_on else None,
        },
    )


def model_shutdown_published(model: LanguageModel, day: dt.date, *, on: dt.date) -> Event | None:
    """The vendor's model list gives a configured model a shutdown date: said once per (model, date)."""
    return emit(
        Kind.MODEL_RETIRING,
        key=f"model-shutdown:{model.name}:{day.isoformat()}",
        payload={
            "model": model.name,
            "retires_on": day.isoformat(),
            "successor": model.successor.name if model.successor else None,
            "days_left": (day - on).days,
            "source": "the vendor's model list",
        },
    )


def model_unlisted(vendor: str, model_name: str, steps: list[str]) -> Event | None:
    """A configured model is missing from its vendor's model list: said once per model."""
    return error(
        key=f"model-unlisted:{model_name}",
        where="check_models",
        message=f"{vendor} no longer lists {model_name} (used by the {' and '.join(steps)} step): "
        "calls to it will fail. Choose another model, or give it a successor, in the admin.",
    )


def error(*, key: str, where: str, message: str) -> Event | None:
    """Something a person must fix (a refused vendor batch, ...): said once per ``key``."""
    return emit(Kind.ERROR, key=key, payload={"where": where, "message": message})


def model_retiring(model: LanguageModel, *, on: dt.date) -> Event | None:
    """A configured model retires soon: said once per (model, retirement date)."""
    return emit(
        Kind.MODEL_RETIRING,
        key=f"model-retiring:{model.name}:{model.retires_on}",
        payload={
            "model": model.name,
            "retires_on": model.retires_on.isoformat() if model.retires_on else None,
            "successor": model.successor.name if model.successor else None,
            "days_left": (model.retires_on - on).days if model.retires_on else None,
        },
    )


def usage_mismatch(vendor: str, day: dt.date, differences: list[dict]) -> Event | None:
    """A closed UTC day on which ``vendor``'s usage report and the ledger's calls differ past the
    tolerance (``budget.reconciliation``): said once per (vendor, day)."""
    return emit(
        Kind.USAGE_MISMATCH,
        key=f"usage-mismatch:{vendor}:{day.isoformat()}",
        payload={"vendor": vendor, "day": day.isoformat(), "differences": differences},
    )
