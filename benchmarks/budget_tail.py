"""How much of a month the product uses, and what it holds to do so (a script, not a test).

    python benchmarks/budget_tail.py --url postgres://postgres@127.0.0.1:5432 --db bench_budget_tail

Creates the database ``--db`` on that server (dropped first and afterwards), migrates it, and runs
real executions over the loopback vendor fakes (tests/fakes: the anthropic and openai SDKs talk
real HTTP) with the issue's realistic usage: the analyst is shown the installed ``django`` package
(its map and files, as a real repository would be shown) and is billed its request's size in
tokens at 4 bytes a token (``count_tokens`` answers the same count), 1,500 tokens out; the coder
7,000 in / 1,500 out. Nothing is published (a gateway over the package's files that commits
nowhere). Measures, on fresh periods:

1. held ÷ charged: what each execution held when it started over what it was charged ($15 month),
   and the full and smallest forms' holds and admissions;
2. one worker on a $2.00 month until exhaustion: percent of the limit spent when exhaustion is
   announced, executions run reduced;
3. eight workers (threads, each with its own connection) on $0.50 and $2.00 months: percent used,
   exhaustion events (must be 1), executions started after the announcement (must be 0);
4. batch mode (analysis in the vendor batch), one worker on a $0.50 month;

and checks in every run that ``spent <= limit`` and that the calls' costs sum to ``spent``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BYTES_PER_TOKEN = 4
ANALYSIS_OUT, CODEGEN_IN, CODEGEN_OUT = 1_500, 7_000, 1_500
PLAN_FILES = ["django/utils/text.py", "django/utils/html.py"]  # what the analyst names for the coder
# A task as users write them, naming the code it is about: the analyst is shown what retrieval
# finds for it (a vague title is shown little, which would flatter every figure here).
TASK = "slugify() in django.utils.text keeps leading dashes; strip them like `html.escape` does"


def setup_django(url: str, anthropic_url: str, openai_url: str) -> None:
    from tests.fakes import anthropic as fake_anthropic
    from tests.fakes import openai as fake_openai

    os.environ.update(
        DATABASE_URL=url,
        ORCHESTRATOR_MODE="live",
        ANTHROPIC_API_KEY=fake_anthropic.API_KEY,
        OPENAI_API_KEY=fake_openai.API_KEY,
        ANTHROPIC_BASE_URL=anthropic_url,
        OPENAI_BASE_URL=f"{openai_url}/v1",
        PACING_ENABLED="false",
        DEBUG="false",
        LOG_LEVEL="CRITICAL",
        CONTEXT_CACHE_DIR="/tmp/bench-budget-tail-context",
    )
    os.environ.setdefault("SECRET_KEY", "benchmark-only-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    import django

    django.setup()


class InstalledPackage:
    """The installed ``django`` package as a repository at one commit; publishes nothing."""

    name = "null"

    def __init__(self):
        import django

        self.root = Path(django.__file__).resolve().parent.parent
        top = self.root / "django"
        self.files = {
            str(p.relative_to(self.root)): p.stat().st_size
            for p in sorted(top.rglob("*"))
            if p.is_file() and p.suffix in (".py", ".txt", ".html", ".md")
        }

    def snapshot(self):
        from executions.repositories.base import Snapshot

        return Snapshot(name="django", default_branch="main", commit_sha="d" * 40)

    def list_files(self, commit_sha):
        return self.files

    def read_files(self, commit_sha, paths):
        return {p: (self.root / p).read_bytes() for p in paths if p in self.files}

    def read_file(self, path):
        return None

    def publish(self, execution, change, *, pr_body):
        from executions.repositories.base import PublishResult

        return PublishResult(branch=f"ai/{execution.task_id}", commit_sha="0" * 40)


def size_in_tokens(body: dict) -> int:
    """The fakes' tokenizer: the request's text at BYTES_PER_TOKEN bytes a token."""
    texts = [b["text"] for b in body.get("system", [])]
    for message in body.get("messages", []):
        content = message["content"]  # a string, or blocks (text with a cache breakpoint, tool calls)
        blocks = [content] if isinstance(content, str) else content
        texts += [b if isinstance(b, str) else b.get("text") or json.dumps(b) for b in blocks]
    texts += [json.dumps(t) for t in body.get("tools", [])]
    return sum(len(t.encode()) for t in texts) // BYTES_PER_TOKEN


def fresh_period(limit: str):
    from budget.periods import reset_period, set_limit
    from executions.models import Task

    Task.objects.filter(status=Task.Status.PENDING).update(status=Task.Status.SKIPPED)
    _, period = reset_period()
    return set_limit(period, limit)


def worker(gateway, stop_on_exhausted: threading.Event, counter, errors: list) -> None:
    """Run executions until the month is exhausted; a busy start waits and tries again."""
    from django.db import connection

    from budget.ledger import BudgetBusy, BudgetExhausted
    from executions.backlog.services import create_task
    from executions.pipeline.runner import run_execution

    try:
        while not stop_on_exhausted.is_set():
            task = create_task(title=f"{TASK} #{next(counter)}")
            while True:
                try:
                    run_execution(task, gateway=gateway)
                    break
                except BudgetBusy:
                    time.sleep(0.05)
                except BudgetExhausted:
                    stop_on_exhausted.set()
                    return
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
        errors.append(repr(exc))
    finally:
        connection.close()


def month_run(gateway, limit: str, workers: int) -> dict:
    import itertools

    from django.db.models import Sum

    from executions.models import Execution, ModelCall
    from notifications.models import Event

    period = fresh_period(limit)
    stop, counter, errors = threading.Event(), itertools.count(1), []
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(gateway, stop, counter, errors)) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    period.refresh_from_db()
    executions = Execution.objects.filter(period=period)
    said = Event.objects.filter(kind="budget_exhausted", key__startswith=f"exhausted:{period.pk}:")
    at_event = None
    if said.exists():
        at_event = said.first().payload["budget"]["spent"]
    charged = ModelCall.objects.filter(execution__period=period).aggregate(s=Sum("cost_nanos"))["s"] or 0
    return {
        "limit": limit,
        "workers": workers,
        "executions": executions.count(),
        "reduced": executions.exclude(reduced="").count(),
        "succeeded": executions.filter(status=Execution.Status.SUCCEEDED).count(),
        "spent": period.spent_nanos / 1e9,
        "used_percent": round(100 * period.spent_nanos / period.limit_nanos, 2),
        "spent_at_exhaustion_event": at_event,
        "exhaustion_events": said.count(),
        "started_after_exhaustion": executions.filter(started_at__gt=period.exhausted_at).count()
        if period.exhausted_at
        else None,
        "never_over": period.spent_nanos <= period.limit_nanos and charged == period.spent_nanos,
        "still_reserved": period.reserved_nanos,
        "seconds": round(time.monotonic() - started, 1),
        "errors": errors[:3],
    }


def ratio_run(gateway, n: int) -> dict:
    from budget.stats import spread
    from executions.backlog.services import create_task
    from executions.pipeline.runner import run_execution

    fresh_period("15.00")
    runs = [run_execution(create_task(title=f"{TASK} r{i}"), gateway=gateway) for i in range(n)]
    ratios = spread(e.reserved_nanos * 100 // e.cost_nanos for e in runs)
    return {
        "executions": n,
        "succeeded": sum(e.status == "succeeded" for e in runs),
        "charged_mean": sum(e.cost_nanos for e in runs) / n / 1e9,
        "held_at_start_mean": sum(e.reserved_nanos for e in runs) / n / 1e9,
        "held_per_charged_mean": ratios.mean / 100,
        "held_per_charged_p90": ratios.p90 / 100,
        "analysis_input": runs[0].input_bound,
    }


def forms_run(gateway) -> dict:
    """The full and the smallest form of the benchmark's task: what each holds at its start, and
    what the month must be able to absorb to start it (every call it may make, at its byte bound):
    the month is exhausted when it cannot absorb the smallest one's."""
    from budget.money import dollars_str
    from executions.backlog.services import create_task
    from executions.models import Task
    from executions.pipeline.runner import prepare, smaller
    from executions.providers import providers_for_mode

    task, providers = create_task(title=f"{TASK} f"), providers_for_mode()
    full = prepare(task, providers=providers, gateway=gateway)
    *_, smallest = [full, *smaller(task, full, providers)]
    Task.objects.filter(pk=task.pk).update(status=Task.Status.SKIPPED)

    def figures(prepared) -> dict:
        worst = prepared.worst_case
        return {
            "form": prepared.form.changes_from(prepared.full) or "full",
            "held": dollars_str(worst.nanos),
            "admitted_at": dollars_str(worst.admit_nanos),
            "analysis_at_byte_bound": dollars_str(max(worst.analysis_bound_nanos, worst.analysis.nanos)),
            "codegen_every_try": dollars_str(worst.codegen.nanos),
        }

    return {"full": figures(full), "smallest": figures(smallest)}


def batch_run(gateway, limit: str) -> dict:
    from django.db.models import Sum

    from executions.backlog.services import create_task
    from executions.batches.passes import run_batches_pass
    from executions.models import Execution, ModelCall, StepConfig

    period = fresh_period(limit)
    StepConfig.objects.filter(step="analysis").update(batch=True)
    try:
        for i in range(80):
            create_task(title=f"{TASK} b{i}")
        for _ in range(60):
            report = run_batches_pass(gateway=gateway)
            if report.exhausted and not Execution.objects.filter(period=period, status__in=Execution.ACTIVE):
                break
    finally:
        StepConfig.objects.filter(step="analysis").update(batch=None)
    period.refresh_from_db()
    charged = ModelCall.objects.filter(execution__period=period).aggregate(s=Sum("cost_nanos"))["s"] or 0
    return {
        "limit": limit,
        "executions": Execution.objects.filter(period=period).count(),
        "succeeded": Execution.objects.filter(period=period, status=Execution.Status.SUCCEEDED).count(),
        "failed_errors": sorted(
            {
                e[:120]
                for e in Execution.objects.filter(period=period, status="failed").values_list(
                    "error", flat=True
                )
            }
        )[:3],
        "used_percent": round(100 * period.spent_nanos / period.limit_nanos, 2),
        "never_over": period.spent_nanos <= period.limit_nanos and charged == period.spent_nanos,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432", help="the server")
    parser.add_argument("--db", default="bench_budget_tail", help="a scratch database name")
    parser.add_argument("--ratio-executions", type=int, default=10)
    args = parser.parse_args()
    import psycopg

    from tests.fakes.anthropic import FakeAnthropic
    from tests.fakes.openai import FakeOpenAI

    admin = args.url.replace("postgres://", "postgresql://")
    # A database of the benchmark's own, made afresh: the ORM has no CREATE DATABASE, and Django's
    # test runner would run the whole migration history under its own name rules.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    anthropic, openai = FakeAnthropic().start(), FakeOpenAI().start()
    try:
        anthropic.tokenizer = size_in_tokens
        anthropic.caps_output = True  # a reduced form's lower cap is what the vendor stops at
        anthropic.usage = {"input_tokens": 0, "output_tokens": ANALYSIS_OUT}
        anthropic.tool_input = {"plan": "Add the endpoint.\n" * 20, "files": PLAN_FILES}
        openai.usage = {
            "prompt_tokens": CODEGEN_IN,
            "completion_tokens": CODEGEN_OUT,
            "total_tokens": CODEGEN_IN + CODEGEN_OUT,
        }
        setup_django(f"{args.url}/{args.db}", anthropic.url, openai.url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        gateway = InstalledPackage()
        results = {
            "ratio": ratio_run(gateway, args.ratio_executions),
            "forms": forms_run(gateway),
            "one_worker_2": month_run(gateway, "2.00", 1),
            "eight_workers_0_50": month_run(gateway, "0.50", 8),
            "eight_workers_2": month_run(gateway, "2.00", 8),
            "batch_0_50": batch_run(gateway, "0.50"),
        }
        print(json.dumps(results, indent=2))
    finally:
        anthropic.stop()
        openai.stop()
        from django.db import connections

        connections.close_all()
        # The scratch database goes with the run (the ORM cannot drop a database either).
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}"')


if __name__ == "__main__":
    main()
