"""What the vendor fakes served, counted the way the vendors' admin usage reports count it.

Each fake records every paid answer it gave (``Served``: when, which model, which key, standard or
batch, the usage it reported) and answers its usage report from those records: one-day UTC
buckets, grouped and filtered as asked, a page of ``page_size`` buckets at a time with an opaque
``next_page`` cursor. A test adds what the ledger never saw (another application's calls under
another key, a call counted by the vendor and lost by us) with ``count``, and makes a report say
what no real one does (a count of ``10**30`` or ``1e400``, a bucket starting in another era) with
``count`` and ``start_times``.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass, field

# The dated snapshot each vendor reports in its usage for the alias that was asked for.
SNAPSHOTS = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
}


@dataclass
class Served:
    at: float  # Unix seconds, as the fake's clock said
    model: str
    key_id: str
    batch: bool
    usage: dict  # in the vendor's own usage shape (a Messages or a Chat Completions ``usage``)
    project_id: str = ""


@dataclass
class UsageLedger:
    """The fake vendor's own count of what it served."""

    key_id: str
    project_id: str = ""
    served: list[Served] = field(default_factory=list)
    page_size: int = 31  # buckets per page at most (the APIs' maximum for 1-day buckets)
    # What a day's bucket says it starts at instead of that day (a broken or forged report).
    start_times: dict[dt.date, object] = field(default_factory=dict)

    def record(self, model: str, usage: dict, *, batch: bool = False) -> None:
        self.served.append(Served(time.time(), model, self.key_id, batch, dict(usage), self.project_id))

    def count(
        self,
        on: dt.datetime,
        model: str,
        usage: dict,
        *,
        key_id: str | None = None,
        batch: bool = False,
        project_id: str | None = None,
    ) -> None:
        """Usage the vendor counted at ``on`` without the product recording it."""
        self.served.append(
            Served(
                on.timestamp(),
                model,
                self.key_id if key_id is None else key_id,
                batch,
                dict(usage),
                self.project_id if project_id is None else project_id,
            )
        )

    def in_bucket(self, day: dt.date) -> list[Served]:
        start = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        return [s for s in self.served if start <= s.at < start + 86400]


def days(first: dt.date, end: dt.date) -> list[dt.date]:
    """The UTC days of the buckets ``[first, end)``."""
    return [first + dt.timedelta(days=n) for n in range((end - first).days)]


def page(buckets: list, *, limit: int, page_size: int, cursor: str | None) -> tuple[list, bool, str | None]:
    """One page of ``buckets`` from ``cursor``: the page, has_more, next_page."""
    offset = int(base64.b64decode(cursor.removeprefix("page_")).decode()) if cursor else 0
    size = min(limit, page_size)
    chunk = buckets[offset : offset + size]
    more = offset + size < len(buckets)
    token = "page_" + base64.b64encode(str(offset + size).encode()).decode() if more else None
    return chunk, more, token


def snapshot(model: str) -> str:
    return SNAPSHOTS.get(model, model)
