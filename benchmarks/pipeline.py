"""Pipeline orchestration overhead in simulated mode (a script, not a test).

    python benchmarks/pipeline.py [--executions 300] [--url sqlite:////tmp/bench-pipeline.sqlite3]

Creates a scratch database (a fresh SQLite file by default; for a postgres:// URL, a database
``bench_pipeline`` on that server, dropped afterwards), migrates it, then runs executions one after another with zero-latency
simulated models and a publisher that does nothing. Everything measured is the product's own
work: claim, model resolution, worst case, reservation, two charges with their rows and events,
validation, release. Prints executions per second, the median wall-clock time per execution,
the median CPU time of this process per execution (SQLite runs in-process, so on SQLite that is
nearly all the work, and it is not inflated by other programs sharing the machine) and the number
of SQL queries one execution makes.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["ORCHESTRATOR_MODE"] = "simulated"
    os.environ["SIMULATED_LATENCY_SECONDS"] = "0"
    # As in production: DEBUG off, so Django does not keep a log of every query.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


class NullGateway:
    """Publishes nothing: the benchmark measures orchestration, not git."""

    name = "null"

    def snapshot(self):
        from executions.repositories.base import Snapshot

        return Snapshot(name="bench", default_branch="main", commit_sha="b" * 40)

    def list_files(self, commit_sha):
        return {"README.md": 8}

    def read_files(self, commit_sha, paths):
        return {"README.md": b"# Bench\n"} if "README.md" in paths else {}

    def publish(self, execution, change, *, pr_body):
        from executions.repositories.base import PublishResult

        return PublishResult(branch=f"ai/{execution.task_id}", commit_sha="0" * 40)

    def read_file(self, path):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=300)
    parser.add_argument("--url", default="sqlite:////tmp/bench-pipeline.sqlite3")
    args = parser.parse_args()
    if args.url.startswith("sqlite:///"):
        Path(args.url.removeprefix("sqlite://")).unlink(missing_ok=True)
        run(args.url, args.executions)
        return
    import psycopg

    admin = args.url.replace("postgres://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_pipeline")
        conn.execute("CREATE DATABASE bench_pipeline")
    try:
        run(args.url.rsplit("/", 1)[0] + "/bench_pipeline", args.executions)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_pipeline WITH (FORCE)")


def run(url: str, executions: int) -> None:
    setup_django(url)

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from budget.periods import current_period, set_limit
    from executions.backlog.services import create_task
    from executions.models import Execution
    from executions.pipeline.runner import run_execution
    from executions.providers.simulated import simulated_providers

    set_limit(current_period(), "1000000")  # the benchmark measures speed, not exhaustion
    providers, gateway = simulated_providers(), NullGateway()
    tasks = [create_task(title=f"Benchmark task {i}") for i in range(executions + 21)]
    for task in tasks[:20]:  # warm up: imports, caches, the SQLite file
        run_execution(task, providers=providers, gateway=gateway)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:  # one more, to count its queries
        run_execution(tasks[20], providers=providers, gateway=gateway)
    timings, cpu_timings = [], []
    started = time.perf_counter()
    for task in tasks[21:]:
        t0, c0 = time.perf_counter(), time.process_time()
        execution = run_execution(task, providers=providers, gateway=gateway)
        timings.append(time.perf_counter() - t0)
        cpu_timings.append(time.process_time() - c0)
        assert execution.status == Execution.Status.SUCCEEDED, execution.error
    total = time.perf_counter() - started

    print(f"database: {connection.vendor}  executions: {len(timings)}")
    print(f"executions per second: {len(timings) / total:,.1f}")
    print(f"median orchestration overhead per execution: {statistics.median(timings) * 1000:.2f} ms")
    print(f"p90: {statistics.quantiles(timings, n=10)[-1] * 1000:.2f} ms  max: {max(timings) * 1000:.2f} ms")
    print(f"median CPU time per execution (this process): {statistics.median(cpu_timings) * 1000:.2f} ms")
    print(f"SQL queries per execution: {len(queries)}")


if __name__ == "__main__":
    main()
