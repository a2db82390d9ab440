"""The pull request description: what a reviewer needs to judge a generated change.

``pr_body`` is a pure function of an execution, its change, its model calls and the month's
figures; ``pr_body_for`` gathers those from the database (the pipeline calls it and hands the body
to the gateway's ``publish``). Every amount is what the ledger charged.
The body stays under GitHub's 65,536-character limit: the plan gives way first, politely. A task
from a GitHub issue says ``Closes #N``, so merging the pull request closes the issue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from budget.models import Period
from budget.money import format_usd
from budget.selectors import PeriodSummary, period_summary

if TYPE_CHECKING:
    from executions.models import Execution, ModelCall
    from executions.repositories.base import Change

GITHUB_BODY_LIMIT = 65_536
BODY_BUDGET = GITHUB_BODY_LIMIT - 1_536  # headroom: GitHub counts some characters differently
MAX_DESCRIPTION = 3_000
MAX_SUMMARY = 4_000
MAX_FILES_LISTED = 100


@dataclass
class _ModelRow:
    calls: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0


@dataclass(frozen=True)
class RevisionLine:
    """A follow-up commit on the pull request (``executions.revisions.lifecycle``), as its body lists it."""

    commit_sha: str
    asked_by: str
    files: int
    added: int
    removed: int
    cost_nanos: int


def pr_body_for(
    execution: Execution,
    change: Change,
    *,
    calls: Iterable[ModelCall] | None = None,
    revisions: Sequence[RevisionLine] = (),
    period_id: int | None = None,
) -> str:
    """The body with the figures as the ledger holds them now (the period row fresh, not cached).
    After revisions: ``calls`` are every call the pull request was charged for (its cost lines show
    its total), ``revisions`` its follow-up commits, ``period_id`` the month to show."""
    month = period_summary(Period.objects.get(pk=period_id or execution.period_id))
    calls = list(execution.calls.all() if calls is None else calls)
    return pr_body(execution, change, calls=calls, month=month, revisions=list(revisions))


def pr_body(
    execution: Execution,
    change: Change,
    *,
    calls: list[ModelCall],
    month: PeriodSummary,
    revisions: Sequence[RevisionLine] = (),
) -> str:
    task = execution.task
    head = [
        f"**Task:** {task.title}" + (f" (task #{task.pk}, execution #{execution.pk})" if task.pk else ""),
        "",
        *([f"Closes #{task.issue_number}", ""] if task.issue_number else []),
        _clip(task.description.strip(), MAX_DESCRIPTION) or "_No description._",
        "",
        _mode_line(execution),
    ]
    tail = [
        "## Summary",
        _clip((change.summary or execution.summary).strip(), MAX_SUMMARY) or "_No summary._",
        "",
        f"## Files ({len(change.files)})",
        *_file_lines(change),
        "",
        *_revision_lines(revisions),
        "## Cost" + (" (the pull request's total, its revisions included)" if revisions else ""),
        *_cost_lines(calls),
        "",
        _month_line(month),
        "",
        "---",
        "_Opened by the budget-capped PR automation. Review it like any other change; "
        "the automation never merges._",
    ]
    fixed = "\n".join(head + ["", "## Plan", "", ""] + tail)
    plan = _fit_plan(execution.plan.strip() or "_No plan recorded._", BODY_BUDGET - len(fixed), execution)
    return "\n".join(head + ["", "## Plan", plan, ""] + tail)


def _mode_line(execution: Execution) -> str:
    if execution.simulated:
        return (
            "> [!NOTE]\n> **Simulated run**: the models were offline stand-ins; the token counts "
            "and costs below are the seed profile's, charged to the budget as if live."
        )
    return "**Mode:** live (Anthropic analysed, OpenAI wrote the code)."


def _file_lines(change: Change) -> list[str]:
    lines = []
    for f in change.files[:MAX_FILES_LISTED]:
        what = " (deleted)" if f.deleted else ""
        lines.append(f"- `{f.path.replace('`', '')}` +{f.added:,} −{f.removed:,}{what}")
    if len(change.files) > MAX_FILES_LISTED:
        lines.append(f"- … and {len(change.files) - MAX_FILES_LISTED:,} more (see the commit)")
    return lines or ["_No files._"]


def _revision_lines(revisions: list[RevisionLine]) -> list[str]:
    if not revisions:
        return []
    lines = [f"## Revisions ({len(revisions)})"]
    for r in revisions[:MAX_FILES_LISTED]:
        lines.append(
            f"- {r.commit_sha[:12]} in answer to {r.asked_by}: {r.files} file{'s' if r.files != 1 else ''} "
            f"+{r.added:,} −{r.removed:,}, {format_usd(r.cost_nanos)}"
        )
    return [*lines, ""]


def _cost_lines(calls: list[ModelCall]) -> list[str]:
    rows: dict[str, _ModelRow] = defaultdict(_ModelRow)
    for call in calls:
        row = rows[call.model]
        row.calls += 1
        row.cached_tokens += call.cache_read_tokens + call.cache_write_5m_tokens + call.cache_write_1h_tokens
        row.input_tokens += call.input_tokens
        row.output_tokens += call.output_tokens
        row.cost_nanos += call.cost_nanos
    if not rows:
        return ["_No model calls were charged._"]
    total = _ModelRow()
    lines = ["| Model | Calls | Input tokens | Output tokens | Cost |", "|---|---:|---:|---:|---:|"]
    for model, row in rows.items():
        lines.append(
            f"| {model} | {row.calls} | {_tokens_in(row)} | {row.output_tokens:,} | {format_usd(row.cost_nanos)} |"
        )
        for name in ("calls", "input_tokens", "cached_tokens", "output_tokens", "cost_nanos"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    lines.append(
        f"| **Total** | {total.calls} | {_tokens_in(total)} | {total.output_tokens:,} | **{format_usd(total.cost_nanos)}** |"
    )
    return lines


def _tokens_in(row: _ModelRow) -> str:
    text = f"{row.input_tokens + row.cached_tokens:,}"
    return f"{text} ({row.cached_tokens:,} cached)" if row.cached_tokens else text


def _month_line(month: PeriodSummary) -> str:
    period = month.period
    return (
        f"**Month to date ({period.month:%Y-%m}):** {format_usd(period.spent_nanos)} of "
        f"{format_usd(period.limit_nanos, places=2)} ({month.percent}% of the monthly budget)."
    )


def _fit_plan(plan: str, room: int, execution: Execution) -> str:
    if len(plan) <= room:
        return plan
    note = f"\n\n_(Plan shortened to fit GitHub's limit: {{}} more characters are in execution #{execution.pk}.)_"
    cut = plan[: max(room - len(note) - 20, 0)]
    cut = cut.rsplit("\n", 1)[0] if "\n" in cut else cut
    if cut.count("```") % 2:
        cut += "\n```"  # close a code block the cut left open
    return cut + note.format(f"{len(plan) - len(cut):,}")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
