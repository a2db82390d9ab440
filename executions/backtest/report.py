"""A run's figures as people read them: the terminal table and the JSON (``manage.py backtest``),
and the headline figures (the admin and the dashboard)."""

from __future__ import annotations

from budget.money import dollars_str, format_usd
from executions.models import BacktestCase, BacktestRun


def share(part: int, whole: int) -> str:
    """A recall as a whole percentage ("—" when there was nothing to recall)."""
    return f"{100 * part // whole}%" if whole else "—"


def recall(part: int, whole: int) -> str | None:
    """A recall for JSON: an exact decimal string to 4 places (None when nothing to recall)."""
    return f"{part * 10_000 // whole / 10_000:.4f}" if whole else None


def headline(run: BacktestRun | BacktestCase) -> dict:
    return {
        "file_recall": recall(run.files_shown, run.files),
        "definition_recall": recall(run.signatures_shown, run.definitions),
        "body_recall": recall(run.bodies_shown, run.definitions),
    }


def as_json(run: BacktestRun) -> dict:
    return {
        "run": run.pk,
        "repository": run.repository.name,
        "mode": run.mode,
        "status": run.status,
        "cases": [
            {
                "position": case.position,
                "number": case.number,
                "url": case.url,
                "merge_sha": case.merge_sha,
                "base_sha": case.base_sha,
                "title": case.title,
                "files": case.seen_files,
                "definitions": case.seen_definitions,
                "prompt_bytes": case.prompt_bytes,
                "cost": dollars_str(case.cost_nanos),
                **headline(case),
            }
            for case in run.cases.all()
        ],
        "totals": {
            "cases": run.cases.count(),
            "files": run.files,
            "files_shown": run.files_shown,
            "definitions": run.definitions,
            "signatures_shown": run.signatures_shown,
            "bodies_shown": run.bodies_shown,
            "prompt_bytes": run.prompt_bytes,
            "cost": dollars_str(run.cost_nanos),
            **headline(run),
        },
    }


COLUMNS = ("case", "title", "files", "defs", "bodies", "rank", "prompt", "cost")


def table(run: BacktestRun) -> str:
    """Per case and in total: file recall (shown whole or as an excerpt), definition recall
    (signature in the prompt), body recall, the best rank of a real file, the prompt's size and
    the cost."""
    rows = [COLUMNS]
    for case in run.cases.all():
        ranks = [f["rank"] for f in case.seen_files if f["rank"]]
        rows.append(
            (
                f"#{case.number}" if case.number else case.merge_sha[:8],
                case.title[:40],
                f"{case.files_shown}/{case.files}",
                f"{case.signatures_shown}/{case.definitions}",
                f"{case.bodies_shown}/{case.definitions}",
                str(min(ranks)) if ranks else "—",
                f"{case.prompt_bytes:,}",
                format_usd(case.cost_nanos),
            )
        )
    n = run.cases.count()
    rows.append(
        (
            f"{n} case{'s' if n != 1 else ''}",
            "total",
            share(run.files_shown, run.files),
            share(run.signatures_shown, run.definitions),
            share(run.bodies_shown, run.definitions),
            "",
            f"{run.prompt_bytes // max(n, 1):,} avg",
            format_usd(run.cost_nanos),
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
