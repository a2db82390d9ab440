"""A run's figures as people read them: the terminal table and the JSON (``manage.py backtest``),
and the headline figures (the admin and the dashboard)."""

from __future__ import annotations

from django.db.models import Count

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
                **(model_figures(case) if run.mode == BacktestRun.Mode.MODELS else {}),
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
            **(
                {
                    "plan_hits": run.plan_hits,
                    "file_hits": run.file_hits,
                    "definition_hits": run.definition_hits,
                    "applied_first_try": run.applied_first_try,
                    "applied_after_retry": run.applied_after_retry,
                    "never_applied": run.never_applied,
                }
                if run.mode == BacktestRun.Mode.MODELS
                else {}
            ),
        },
        "error": run.error,
    }


def model_figures(case: BacktestCase) -> dict:
    return {
        "execution": case.execution_id,
        "plan_files": case.plan_files,
        "plan_hits": case.plan_hits,
        "applied": case.applied,
        "produced_files": case.produced_files,
        "produced_definitions": case.produced_definitions,
        "file_hits": case.file_hits,
        "definition_hits": case.definition_hits,
    }


COLUMNS = ("case", "title", "files", "defs", "bodies", "rank", "prompt", "plan", "applied", "overlap", "cost")
APPLIED = {"first_try": "1st try", "after_retry": "retry", "never": "never", "": "—"}


def table(run: BacktestRun) -> str:
    """Per case and in total: file recall (shown whole or as an excerpt), definition recall
    (signature in the prompt), body recall, the best rank of a real file, the prompt's size and
    the cost; in model mode, the real files the plan named, whether the change applied and the
    real files it touched (overlap)."""
    models = run.mode == BacktestRun.Mode.MODELS
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
                f"{case.plan_hits}/{case.files}" if models else "",
                APPLIED[case.applied] if models else "",
                f"{case.file_hits}/{case.files}" if models else "",
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
            share(run.plan_hits, run.files) if models else "",
            share(run.applied_first_try + run.applied_after_retry, n) if models else "",
            share(run.file_hits, run.files) if models else "",
            format_usd(run.cost_nanos),
        )
    )
    if not models:  # context mode: no model columns
        rows = [row[:7] + row[10:] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def latest_by_repository() -> dict[int, dict]:
    """Each repository's latest finished backtest, as its headline figures (the dashboard)."""
    latest: dict[int, dict] = {}
    finished = BacktestRun.objects.filter(status=BacktestRun.Status.FINISHED).order_by("-started_at", "-pk")
    for run in finished.annotate(n_cases=Count("cases")):
        if run.repository_id in latest:
            continue
        latest[run.repository_id] = {
            "run": run,
            "cases": run.n_cases,
            "file_recall": share(run.files_shown, run.files),
            "definition_recall": share(run.signatures_shown, run.definitions),
            "body_recall": share(run.bodies_shown, run.definitions),
            "applied": share(run.applied_first_try + run.applied_after_retry, run.n_cases)
            if run.mode == BacktestRun.Mode.MODELS
            else None,
        }
    return latest
