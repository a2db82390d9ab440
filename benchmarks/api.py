"""Latency of the usage API as executions pile up (a script, not a test).

    python benchmarks/api.py [--executions 1000000] [--requests 500] [--keep]
                             [--url postgres://postgres@127.0.0.1:5432/postgres]

Creates a scratch PostgreSQL database ``bench_api``, migrates it, and bulk-generates executions
(``INSERT ... SELECT ... generate_series``) spread over twelve monthly periods, with their model
calls (two per success, one per failure) and the per-period, per-day, per-model and per-repository
totals the ledger and the pipeline keep as they charge (tasks spread over three repositories). It
measures ``/api/v1/usage/current/`` and ``/api/v1/usage/months/`` with 1,000 executions, then
again with the full count, and prints p50 / p95 of each.

Requests go through Django's test ``Client`` in this process: the whole Django stack (middleware,
token authentication, throttling, the view, JSON rendering, every SQL query on a real PostgreSQL
connection) without an HTTP socket or a web server, which would add the same constant to both runs.
``DEBUG`` is off and the database connection persists (``CONN_MAX_AGE``), as in production.
The scratch database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "bench_api"
SMALL = 1_000
TARGET_P95_MS = 20.0
ENDPOINTS = ("/api/v1/usage/current/", "/api/v1/usage/months/")
MONTHS = 12


def setup_django(url: str) -> None:
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="orchestration_site.settings",
        DEBUG="0",
        SECRET_KEY="benchmark-only-secret-key-not-used-anywhere-else-0123456789",
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="testserver",
        CONN_MAX_AGE="600",
        API_THROTTLE_RATE="100000000/minute",  # throttling stays in the path without refusing the run
        LOG_LEVEL="WARNING",
    )
    import django

    warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")
    django.setup()


def admin_url(base_url: str) -> str:
    return base_url.rsplit("/", 1)[0] + "/postgres"


def recreate_database(base_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url(base_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return base_url.rsplit("/", 1)[0] + f"/{DB_NAME}"


def drop_database(base_url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url(base_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


# --- Bulk data ------------------------------------------------------------------------------------


def insert_select(model, known: dict[str, str], source: str, params: dict) -> int:
    """``INSERT INTO model (...) SELECT ... source``: ``known`` expressions for the columns this
    script cares about; any other column gets its field's default (or NULL), so a field added by
    a later migration does not break the generator."""
    from django.db import connection

    columns, select = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in known:
            select.append(known[field.column])
        elif field.null:
            select.append("NULL")
        elif (default := field.get_default()) is not None:  # "" for text fields without a default
            params[f"default_{field.column}"] = field.get_db_prep_save(default, connection)
            select.append(f"%(default_{field.column})s")
        else:
            raise SystemExit(
                f"benchmarks/api.py cannot fill {model.__name__}.{field.name}: add it to `known`"
            )
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(select)} {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def make_periods(now: dt.datetime) -> list:
    """Twelve monthly periods ending with the current one, opened through ``budget.periods``."""
    from budget.periods import current_period, month_bounds, month_start, set_limit

    month, months = month_start(now), []
    for _ in range(MONTHS):
        months.append(month)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    periods = [
        current_period(now=min(month_bounds(m)[0] + dt.timedelta(hours=1), now)) for m in reversed(months)
    ]
    return [set_limit(p, "5000") for p in periods]  # ~83k executions a month cost ~$2,600


def make_tasks(count: int) -> list[int]:
    from executions.models import Repository, Task

    repositories = [Repository.objects.create(name=f"bench/repository-{i}").pk for i in range(3)]
    insert_select(
        Task,
        {
            "repository_id": "(%(repositories)s::bigint[])[1 + g %% 3]",
            "title": "'Benchmark task ' || g",
            "status": "'done'",
            "source_key": "'bench-' || g",
            "created_at": "now()",
            "updated_at": "now()",
        },
        "FROM generate_series(1, %(count)s) AS g",
        {"count": count, "repositories": repositories},
    )
    return list(Task.objects.values_list("pk", flat=True))


def insert_executions(first: int, last: int, periods: list, tasks: list[int], now: dt.datetime) -> int:
    """Executions numbered ``first..last``; one in ten failed after its analysis."""
    from executions.models import Execution

    created = "(%(starts)s::timestamptz[])[1 + g %% 12] + make_interval(secs => (g::bigint * 7919) %% (%(spans)s::int[])[1 + g %% 12])"
    known = {
        "task_id": "(%(tasks)s::bigint[])[1 + g %% %(n_tasks)s]",
        "period_id": "(%(periods)s::bigint[])[1 + g %% 12]",
        "status": "CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'succeeded' END",
        "simulated": "true",
        "plan": "'1. Change the file named in the task.'",
        "summary": "'Benchmark change ' || g",
        "publisher": "'local-git'",
        "branch": "CASE WHEN g %% 10 = 0 THEN '' ELSE 'task-' || g END",
        "commit_sha": "CASE WHEN g %% 10 = 0 THEN '' ELSE md5(g::text) END",
        "reserved_nanos": "90000000",
        "cost_nanos": "CASE WHEN g %% 10 = 0 THEN 28500000 ELSE 31275000 END",
        "error": "CASE WHEN g %% 10 = 0 THEN 'the vendor answered 529 three times' ELSE '' END",
        "created_at": created,
        "started_at": created,
        "heartbeat_at": created + " + interval '40 seconds'",
        "finished_at": created + " + interval '40 seconds'",
    }
    params = {
        "tasks": tasks,
        "n_tasks": len(tasks),
        "periods": [p.pk for p in periods],
        "starts": [p.starts_at for p in periods],
        # Seconds each period has had: the current one only up to now.
        "spans": [int((min(p.ends_at, now) - p.starts_at).total_seconds()) - 60 for p in periods],
        "first": first,
        "last": last,
    }
    return insert_select(Execution, known, "FROM generate_series(%(first)s, %(last)s) AS g", params)


def insert_calls(*, after_id: int) -> int:
    """The seed's two calls per succeeded execution (analysis only for failed ones), at seed prices."""
    from budget.pricing import price_for
    from executions.models import Execution, ModelCall

    analysis, codegen = price_for("claude-sonnet-4-5"), price_for("gpt-4o-mini")
    steps = (
        "(VALUES ('analysis', 'anthropic', 'claude-sonnet-4-5', %(analysis)s::bigint, 2000, 1500, 28500000),"
        " ('codegen', 'openai', 'gpt-4o-mini', %(codegen)s::bigint, 2500, 4000, 2775000))"
        " AS s(step, provider, model, price_id, input_tokens, output_tokens, cost)"
    )
    known = {
        "execution_id": "e.id",
        "step": "s.step",
        "provider": "s.provider",
        "requested_model": "s.model",
        "model": "s.model",
        "price_id": "s.price_id",
        "input_tokens": "s.input_tokens",
        "output_tokens": "s.output_tokens",
        "cost_nanos": "s.cost",
        "request_id": "'req_' || e.id || '_' || s.step",
        "duration_ms": "1200",
        "simulated": "true",
        "created_at": "e.created_at",
    }
    source = (
        f"FROM {Execution._meta.db_table} e CROSS JOIN {steps} "
        "WHERE e.id > %(after)s AND (s.step = 'analysis' OR e.status = 'succeeded')"
    )
    return insert_select(
        ModelCall, known, source, {"analysis": analysis.pk, "codegen": codegen.pk, "after": after_id}
    )


def rebuild_totals() -> None:
    """Set the running totals to what the ledger would hold after charging every generated call.

    A benchmark shortcut: the product only ever changes these rows through ``budget.ledger``.
    """
    from django.conf import settings
    from django.db import connection

    from budget.models import Milestone, Period, Threshold

    tz = settings.TIME_ZONE
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE budget_period p SET spent_nanos = s.spent, executions_count = s.n,
                   succeeded_count = s.ok, failed_count = s.n - s.ok, prs_count = s.ok
            FROM (SELECT period_id, SUM(cost_nanos) AS spent, COUNT(*) AS n,
                         COUNT(*) FILTER (WHERE status = 'succeeded') AS ok
                  FROM executions_execution GROUP BY period_id) s
            WHERE p.id = s.period_id
            """
        )
        cursor.execute("DELETE FROM budget_dailyusage")
        cursor.execute(
            """
            INSERT INTO budget_dailyusage (period_id, day, cost_nanos, calls, executions, prs)
            SELECT period_id, (created_at AT TIME ZONE %s)::date, SUM(cost_nanos),
                   SUM(CASE WHEN status = 'succeeded' THEN 2 ELSE 1 END), COUNT(*),
                   COUNT(*) FILTER (WHERE status = 'succeeded')
            FROM executions_execution GROUP BY 1, 2
            """,
            [tz],
        )
        cursor.execute("DELETE FROM budget_modelusage")
        cursor.execute(
            """
            INSERT INTO budget_modelusage (period_id, model_name, provider, calls, input_tokens,
                   output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cost_nanos)
            SELECT e.period_id, c.model, c.provider, COUNT(*), SUM(c.input_tokens), SUM(c.output_tokens),
                   SUM(c.cache_read_tokens), SUM(c.cache_write_5m_tokens), SUM(c.cache_write_1h_tokens),
                   SUM(c.cost_nanos)
            FROM executions_modelcall c JOIN executions_execution e ON e.id = c.execution_id
            GROUP BY e.period_id, c.model, c.provider
            """
        )
        cursor.execute("DELETE FROM executions_repositoryusage")
        cursor.execute(
            """
            INSERT INTO executions_repositoryusage (period_id, repository_id, spent_nanos, executions,
                   prs, merged_prs)
            SELECT e.period_id, t.repository_id, SUM(e.cost_nanos), COUNT(*),
                   COUNT(*) FILTER (WHERE e.status = 'succeeded'), 0
            FROM executions_execution e JOIN executions_task t ON t.id = e.task_id
            GROUP BY e.period_id, t.repository_id
            """
        )
        # A database that grew to this size over months has been vacuumed and checkpointed: do it
        # now, or autovacuum and the checkpointer work through the bulk load during the timing.
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    Milestone.objects.all().delete()
    for period in Period.objects.all():
        for threshold in Threshold.objects.filter(amount_nanos__lte=period.spent_nanos):
            Milestone.objects.create(
                period=period,
                threshold_nanos=threshold.amount_nanos,
                reached_at=period.starts_at + dt.timedelta(hours=2),
                spent_nanos=threshold.amount_nanos,
            )


# --- Measuring ----------------------------------------------------------------------------------


def measure(token: str, requests: int) -> dict[str, tuple[float, float]]:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    figures = {}
    for url in ENDPOINTS:
        for _ in range(20):  # warm up: connection, caches, first-request imports
            client.get(url)
        timings = []
        for _ in range(requests):
            started = time.perf_counter_ns()
            response = client.get(url)
            timings.append((time.perf_counter_ns() - started) / 1e6)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}: {response.content[:200]!r}")
        figures[url] = (statistics.median(timings), statistics.quantiles(timings, n=20)[18])
    return figures


def report(label: str, figures: dict[str, tuple[float, float]]) -> None:
    for url, (p50, p95) in figures.items():
        print(f"  {label:>22}  {url:<26} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500, help="requests per endpoint per run")
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help=f"keep the {DB_NAME} database afterwards")
    args = parser.parse_args()
    if args.executions < SMALL:
        parser.error(f"--executions must be at least {SMALL}")

    setup_django(recreate_database(args.url))
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    token = Token.objects.create(user=user).key
    now = timezone.now()
    periods = make_periods(now)
    tasks = make_tasks(10_000)

    try:
        results = {}
        for total in (SMALL, args.executions):
            started = time.monotonic()
            done, last_id = _executions_so_far()
            insert_executions(done + 1, total, periods, tasks, now)
            insert_calls(after_id=last_id)
            rebuild_totals()
            print(f"{total:,} executions ready ({time.monotonic() - started:.1f} s to generate)")
            results[total] = measure(token, args.requests)
            report(f"{total:,} executions", results[total])
    finally:
        if not args.keep:
            drop_database(args.url)

    small, large = results[SMALL], results[args.executions]
    fast = all(large[u][1] < TARGET_P95_MS for u in ENDPOINTS)
    # "No worse": within run-to-run noise (a quarter, or one millisecond) of the small run.
    flat = all(large[u][1] <= max(small[u][1] * 1.25, small[u][1] + 1.0) for u in ENDPOINTS)
    for url in ENDPOINTS:
        print(
            f"{url}: p95 {small[url][1]:.2f} ms with {SMALL:,} -> {large[url][1]:.2f} ms with {args.executions:,}"
        )
    print(
        f"target p95 < {TARGET_P95_MS:.0f} ms: {'met' if fast else 'MISSED'}; "
        f"no worse than with {SMALL:,}: {'yes' if flat else 'NO'}"
    )
    return 0 if fast and flat else 1


def _executions_so_far() -> tuple[int, int]:
    """How many executions there are, and the highest id (0 for none)."""
    from django.db.models import Count, Max

    from executions.models import Execution

    totals = Execution.objects.aggregate(n=Count("pk"), last=Max("pk"))
    return totals["n"], totals["last"] or 0


if __name__ == "__main__":
    sys.exit(main())
