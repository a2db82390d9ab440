"""Usage reconciliation: the model calls the ledger recorded against each vendor's own count.

``reconcile_usage`` reads each vendor's usage report for a month (``providers.usage_reports``),
sums the recorded calls the same way (per UTC day, model and mode), compares them
(``budget.reconciliation.compare``), stores the outcome and announces each closed day that differs
past RECONCILE_TOLERANCE_PERCENT, or on which the vendor counted tokens with no recorded call:
once per vendor and day (the outbox event's unique key), in the transaction that stores the
outcome. The current UTC day is compared too but provisional (vendors' reports lag), never
announced. A vendor without its admin key is off; one that fails is reported, and the other still
reconciles. Rows of a report that hold a value no real report holds are refused, each on its own
(``providers.usage_values``): the vendor's outcome says so once, in its detail, and differs; the
rest of its report is compared.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from budget import reconciliation
from budget.models import UsageReconciliation, vendor_name
from budget.periods import next_month
from budget.pricing import Usage
from budget.reconciliation import DIFFERS, FAILED, OFF, Counted, Difference, VendorOutcome
from executions.models import ModelCall
from executions.providers.usage_reports import UsageReportError, usage_reports
from notifications import events

# A day is closed (its report final, a difference announced) this long after it ends in UTC.
REPORT_LAG = dt.timedelta(hours=2)
OFF_LINE = (
    "Usage reconciliation is off: set ANTHROPIC_ADMIN_API_KEY (with ANTHROPIC_API_KEY_ID) and/or "
    "OPENAI_ADMIN_API_KEY (with OPENAI_PROJECT_ID or OPENAI_API_KEY_ID) to compare the ledger with the "
    "vendors' usage reports."
)


@dataclass
class Outcome:
    """What one run did, for the command and the daily job."""

    lines: list[str] = field(default_factory=list)
    exit_code: int = 0  # 0 done (matched or differences found), 1 a vendor failed, 2 its configuration
    record: UsageReconciliation | None = None
    announced: int = 0


def month_days(month: dt.date, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """The UTC days of ``month`` compared on ``today``: ``[first, end)``, up to and including today."""
    return month, min(next_month(month), today + dt.timedelta(days=1))


def reconcile_usage(*, month: dt.date | None = None, now: dt.datetime | None = None) -> Outcome:
    """Compare ``month`` (the current UTC month by default) with both vendors' reports, store the
    outcome and announce what differs."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    month = (month or today).replace(day=1)
    reports = usage_reports()
    off = [] if any(reports.values()) else [OFF_LINE]
    if month > today:  # checked first: a month as late as 9999-12 has no next month to end on
        not_started = f"{month:%Y-%m} has not started yet (UTC): nothing to compare."
        return Outcome(lines=[*off, not_started], exit_code=2)
    if off:
        return Outcome(lines=off)
    first, end = month_days(month, today=today)
    closed_before = (now - REPORT_LAG).astimezone(dt.UTC).date()
    vendors: dict[str, VendorOutcome] = {}
    differences: list[Difference] = []
    outcome = Outcome()
    for vendor, report in reports.items():
        if report is None:
            vendors[vendor] = VendorOutcome(OFF, f"{vendor.upper()}_ADMIN_API_KEY is not set")
            continue
        try:
            fetched = report.fetch(first, end)
        except UsageReportError as exc:
            vendors[vendor] = VendorOutcome(FAILED, str(exc))  # keys masked where it was raised
            outcome.exit_code = max(outcome.exit_code, 2 if exc.configuration else 1)
            continue
        found = reconciliation.compare(
            vendor,
            fetched.counted,
            recorded_usage(vendor, first, end),
            tolerance_percent=settings.RECONCILE_TOLERANCE_PERCENT,
            closed_before=closed_before,
        )
        vendors[vendor] = reconciliation.vendor_outcome(found)
        if fetched.refused:  # masked and cut where they were read
            first_refused = fetched.refused[0].line()
            more = f" (and {len(fetched.refused) - 1} more)" if len(fetched.refused) > 1 else ""
            detail = f"{len(fetched.refused)} row(s) of its report refused, a value no real report holds: {first_refused}{more}"
            vendors[vendor] = VendorOutcome(DIFFERS, detail)
            outcome.exit_code = max(outcome.exit_code, 1)
        differences.extend(found)
    with transaction.atomic():
        outcome.record = reconciliation.record(month=month, vendors=vendors, differences=differences, now=now)
        outcome.announced = _announce(differences)
    outcome.lines = _lines(month, first, end, vendors, differences)
    return outcome


def recorded_usage(vendor: str, first: dt.date, end: dt.date) -> list[Counted]:
    """The vendor's paid calls the ledger recorded on the UTC days ``[first, end)``, one row each.

    A call counts on the day it was sent (its record's time less its duration), as the vendor
    counts it; simulated calls reached no vendor and are left out."""
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    stop = dt.datetime.combine(end, dt.time(), dt.UTC)
    calls = ModelCall.objects.filter(
        provider=vendor,
        simulated=False,
        created_at__gte=start,
        created_at__lt=stop + dt.timedelta(days=1),  # a call recorded after midnight may belong before it
    ).values_list("created_at", "duration_ms", "model", "batch_id", *Usage().as_dict())
    rows = []
    for created_at, duration_ms, model, batch_id, *tokens in calls.iterator():
        sent = created_at - dt.timedelta(milliseconds=duration_ms)
        if start <= sent < stop:
            usage = Usage(*tokens)
            rows.append(Counted(sent.astimezone(dt.UTC).date(), model, batch_id is not None, usage, calls=1))
    return rows


def _announce(differences: list[Difference]) -> int:
    """One event per vendor and closed day that differs; a day announced before is not again."""
    by_day: dict[tuple[str, dt.date], list[Difference]] = defaultdict(list)
    for difference in differences:
        if difference.announce:
            by_day[difference.vendor, difference.day].append(difference)
    announced = 0
    for (vendor, day), found in sorted(by_day.items()):
        if events.usage_mismatch(vendor, day, [d.as_json() for d in found]):
            announced += 1
    return announced


def _lines(
    month: dt.date,
    first: dt.date,
    end: dt.date,
    vendors: dict[str, VendorOutcome],
    differences: list[Difference],
) -> list[str]:
    last = end - dt.timedelta(days=1)
    lines = [f"Usage {month:%Y-%m}, UTC days {first:%m-%d} to {last:%m-%d}:"]
    for vendor, outcome in vendors.items():
        name = vendor_name(vendor)
        detail = f": {outcome.detail}" if outcome.detail else ""
        lines.append(f"  {name}: {outcome.status}{detail}")
        for d in differences:
            if d.vendor == vendor:
                lines.append(f"    {reconciliation.describe(d.as_json())}")
    return lines
