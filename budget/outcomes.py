"""What became of the pull requests a period paid for: the period's open, merged and closed counts,
and the follow-up commits (revisions) made on them; and how its executions' edits landed: on the
first try, after a second look, or never.

The budget does not know pull requests (they live in ``executions``); the executions app calls
``record_pull_request_state`` in the transaction that changes a pull request's state, so the
counts always agree with the pull requests' rows. A pull request counts in the period of the
execution that opened it: the period whose money paid for it.
"""

from __future__ import annotations

from django.db.models import F

from budget.models import Period
from budget.stats import nearest

OPEN, MERGED, CLOSED = "open", "merged", "closed"
COUNTERS = {OPEN: "open_prs_count", MERGED: "merged_prs_count", CLOSED: "closed_prs_count"}


def record_pull_request_state(*, period_id: int, old: str | None, new: str) -> None:
    """Move one pull request of ``period_id`` from the ``old`` state's count (None: a new one) to
    the ``new`` state's. One conditional UPDATE of the period row; call it inside the transaction
    that changes the pull request."""
    if new not in COUNTERS or (old is not None and old not in COUNTERS):
        raise ValueError(f"unknown pull request state: {old!r} -> {new!r}")
    if old == new:
        return
    changes = {COUNTERS[new]: F(COUNTERS[new]) + 1}
    if old is not None:
        changes[COUNTERS[old]] = F(COUNTERS[old]) - 1
    Period.objects.filter(pk=period_id).update(**changes)


APPLIED_FIRST_TRY, APPLIED_AFTER_RETRY, EDIT_FAILURE = (
    "applied_first_try",
    "applied_after_retry",
    "edit_failures",
)
EDIT_COUNTERS = {
    APPLIED_FIRST_TRY: "applied_first_try_count",
    APPLIED_AFTER_RETRY: "applied_after_retry_count",
    EDIT_FAILURE: "edit_failures_count",
}


def record_edit_outcome(*, period_id: int, outcome: str) -> None:
    """Count one execution of ``period_id`` whose coder's change applied (on the first try, or
    after being asked again) or never applied (``EDIT_FAILURE``: every try it was allowed failed).
    Call it inside the transaction that moves the execution on (to publishing, or to failed)."""
    if outcome not in EDIT_COUNTERS:
        raise ValueError(f"unknown edit outcome: {outcome!r}")
    Period.objects.filter(pk=period_id).update(**{EDIT_COUNTERS[outcome]: F(EDIT_COUNTERS[outcome]) + 1})


def edit_outcomes(period: Period) -> dict[str, int]:
    """The period's three edit counts, as status, the API and the recap show them."""
    return {outcome: getattr(period, counter) for outcome, counter in EDIT_COUNTERS.items()}


def record_revision(*, period_id: int) -> None:
    """A revision of ``period_id`` (the period whose money paid for it) committed on its branch.
    Call it inside the transaction that records the revision's success."""
    Period.objects.filter(pk=period_id).update(revisions_count=F("revisions_count") + 1)


def record_merged_after_revision(*, period_id: int) -> None:
    """A pull request of ``period_id`` that had a revision was merged: call it inside the
    transaction that records the merge (the period's row is held already)."""
    Period.objects.filter(pk=period_id).update(
        merged_after_revision_count=F("merged_after_revision_count") + 1
    )


def hold_period(period_id: int) -> None:
    """Lock the period's row until the caller's transaction ends. A pull request's change takes it
    before the pull request's row, in the ledger's order (reservation, period, then what hangs on
    them), as the pipeline does when it records a PR after releasing its reservation."""
    list(Period.objects.select_for_update().filter(pk=period_id).values_list("pk", flat=True))


def cost_per_merged_pr_nanos(period: Period) -> int | None:
    """The period's spend over its merged pull requests, to the nearest nanodollar (half up);
    None before the first merge."""
    merged = period.merged_prs_count
    return nearest(period.spent_nanos, merged) if merged else None
