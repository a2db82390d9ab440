"""Usage reconciliation: the ledger's recorded calls against what each vendor says it served.

The executions app reads both sides (the vendors' admin usage APIs; its model calls) and passes
them here as ``Counted`` rows. This module compares them per UTC day, model and mode (standard or
batch) in four token classes (input, cached, cache write, output), values each difference at the
day's price, and records the outcome (``record``): the newest one is what status, the API and the
dashboard show. It reads and writes nothing else, and it never calls a vendor.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from budget.models import UsageReconciliation
from budget.money import dollars_str, format_usd, to_nanos
from budget.pricing import PricingError, Usage, cost_nanos, price_for

# The token classes compared, and how each reads off a ``Usage`` (cache writes of either TTL).
CLASSES = {
    "input": lambda u: u.input_tokens,
    "cached": lambda u: u.cache_read_tokens,
    "cache_write": lambda u: u.cache_write_5m_tokens + u.cache_write_1h_tokens,
    "output": lambda u: u.output_tokens,
}
MATCHED, DIFFERS, FAILED, OFF = "matched", "differs", "failed", "off"

# Vendors report the dated snapshot a request was served by (``claude-sonnet-4-5-20250929``,
# ``gpt-4o-mini-2024-07-18``); the ledger records the id it asked for.
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


def canonical_model(name: str) -> str:
    return _SNAPSHOT_SUFFIX.sub("", name or "")


@dataclass(frozen=True)
class Counted:
    """The tokens one side counted for one UTC day, model and mode."""

    day: dt.date
    model: str
    batch: bool
    usage: Usage
    calls: int = 0  # recorded calls (the ledger's side; vendors' usage reports do not all count them)


@dataclass(frozen=True)
class Difference:
    vendor: str
    day: dt.date
    model: str
    batch: bool
    reported: Usage  # what the vendor counted
    recorded: Usage  # what the ledger's calls add up to
    calls: int  # recorded calls
    value_nanos: int | None  # the vendor's count less the ledger's at the day's price; None: unpriced
    over: bool  # a class differs past the tolerance, or the vendor counted tokens with no recorded call
    provisional: bool  # a day not closed yet: the vendor's report may still grow

    @property
    def unrecorded(self) -> bool:
        return self.calls == 0 and self.reported.total_tokens > 0

    @property
    def announce(self) -> bool:
        return self.over and not self.provisional

    def tokens(self) -> dict[str, dict[str, int]]:
        """Per class: the vendor's count, the ledger's, and the difference (vendor − ledger)."""
        return {
            name: {"vendor": read(self.reported), "ledger": read(self.recorded), "difference": read(self.reported) - read(self.recorded)}
            for name, read in CLASSES.items()
        }  # fmt: skip

    def as_json(self) -> dict:
        return {
            "vendor": self.vendor,
            "day": self.day.isoformat(),
            "model": self.model,
            "mode": "batch" if self.batch else "standard",
            "tokens": self.tokens(),
            "recorded_calls": self.calls,
            "value": None if self.value_nanos is None else dollars_str(self.value_nanos),
            "over_tolerance": self.over,
            "unrecorded": self.unrecorded,
            "provisional": self.provisional,
        }


def _summed(rows: list[Counted]) -> dict[tuple, tuple[Usage, int]]:
    totals: dict[tuple, tuple[Usage, int]] = {}
    for row in rows:
        key = (row.day, canonical_model(row.model), row.batch)
        usage, calls = totals.get(key, (Usage(), 0))
        totals[key] = (usage + row.usage, calls + row.calls)
    return totals


def compare(
    vendor: str,
    reported: list[Counted],
    recorded: list[Counted],
    *,
    tolerance_percent: Decimal,
    closed_before: dt.date,
) -> list[Difference]:
    """Every (day, model, mode) whose counts are not identical, oldest first. A class is past the
    tolerance when it differs by more than ``tolerance_percent`` of the vendor's count (any
    difference, when the vendor counted none); days from ``closed_before`` on are provisional."""
    theirs, ours = _summed(reported), _summed(recorded)
    differences = []
    for key in sorted(theirs.keys() | ours.keys()):
        day, model, batch = key
        vendor_usage, _ = theirs.get(key, (Usage(), 0))
        ledger_usage, calls = ours.get(key, (Usage(), 0))
        if vendor_usage == ledger_usage:
            continue
        over = (calls == 0 and vendor_usage.total_tokens > 0) or any(
            abs(read(vendor_usage) - read(ledger_usage)) * 100 > tolerance_percent * read(vendor_usage)
            for read in CLASSES.values()
        )
        differences.append(
            Difference(
                vendor=vendor,
                day=day,
                model=model,
                batch=batch,
                reported=vendor_usage,
                recorded=ledger_usage,
                calls=calls,
                value_nanos=_value(model, day, batch, vendor_usage, ledger_usage),
                over=over,
                provisional=day >= closed_before,
            )
        )
    return differences


def _value(model: str, day: dt.date, batch: bool, reported: Usage, recorded: Usage) -> int | None:
    """What the vendor's count costs more (or less) than the ledger's, at the price of that day."""
    try:
        price = price_for(model, on=day)
        return cost_nanos(price, reported, batch=batch) - cost_nanos(price, recorded, batch=batch)
    except PricingError:  # a model the catalog does not know or price: the tokens still say it
        return None


@dataclass(frozen=True)
class VendorOutcome:
    status: str  # matched, differs, failed or off
    detail: str = ""  # why it failed or is off (secrets masked by the caller)

    def as_json(self) -> dict:
        return {"status": self.status, "detail": self.detail}


def vendor_outcome(differences: list[Difference]) -> VendorOutcome:
    """Matched, or differs when a closed day is past the tolerance (provisional days do not count)."""
    return VendorOutcome(DIFFERS if any(d.announce for d in differences) else MATCHED)


def record(
    *, month: dt.date, vendors: dict[str, VendorOutcome], differences: list[Difference], now: dt.datetime
) -> UsageReconciliation:
    """Store one reconciliation; call it inside the transaction that announces its differences."""
    with transaction.atomic(savepoint=False):
        return UsageReconciliation.objects.create(
            month=month,
            ran_at=now,
            matched=all(o.status == MATCHED for o in vendors.values() if o.status != OFF),
            vendors={name: outcome.as_json() for name, outcome in vendors.items()},
            differences=[d.as_json() for d in differences],
        )


def last_reconciliation() -> UsageReconciliation | None:
    return UsageReconciliation.objects.first()


def reconciliation_json(row: UsageReconciliation | None) -> dict | None:
    """The JSON of a stored reconciliation (status, API), or None before the first."""
    if row is None:
        return None
    return {
        "month": f"{row.month:%Y-%m}",
        "ran_at": row.ran_at.isoformat(),
        "matched": row.matched,
        "vendors": row.vendors,
        "differences": row.differences,
    }


def describe(difference: dict) -> str:
    """One stored difference (``Difference.as_json``) in one line: where, each class that differs
    (vendor vs ledger), what it is worth, and whether it counts."""
    mode = " (batch)" if difference["mode"] == "batch" else ""
    classes = ", ".join(
        f"{name.replace('_', ' ')} {t['vendor']:,} vs {t['ledger']:,} ({t['difference']:+,})"
        for name, t in difference["tokens"].items()
        if t["difference"]
    )
    value = difference["value"]
    if value is not None:
        negative = value.startswith("-")
        value = f"; worth {'-' if negative else '+'}{format_usd(to_nanos(value.lstrip('-')))}"
    if difference["provisional"]:
        state = "provisional"
    else:
        state = "past the tolerance" if difference["over_tolerance"] else "within the tolerance"
    unrecorded = "; no recorded call" if difference["unrecorded"] else ""
    return f"{difference['day']} {difference['model']}{mode}: vendor vs ledger {classes}{value or ''}{unrecorded} [{state}]"


def summary_lines(reconciled: dict) -> list[str]:
    """A stored reconciliation (``reconciliation_json``) for people: the verdict first, then what
    to look at (vendors not read, closed days past the tolerance)."""
    verdict = "matched" if reconciled["matched"] else "differs"
    lines = [f"{reconciled['month']}: {verdict} (checked {reconciled['ran_at'][:16].replace('T', ' ')} UTC)"]
    for vendor, outcome in reconciled["vendors"].items():
        if outcome["status"] in (FAILED, OFF) or outcome["detail"]:  # rows refused: said with the verdict
            lines.append(f"{vendor} {outcome['status']}: {outcome['detail']}")
    return lines + [describe(d) for d in reconciled["differences"] if d["over_tolerance"]]
