"""Ledger throughput under contention on PostgreSQL (a script, not a test).

    python benchmarks/ledger.py [--workers 32] [--seconds 10] [--url postgres://postgres@127.0.0.1:5432/postgres]

Creates (and afterwards drops) a scratch database ``bench_ledger``, migrates it, then runs N worker
processes, each with its own connection, doing reserve → charge → charge → release cycles against
one period for the same measured seconds (all start together, once every worker has set up Django).
The limit ($1,000, or BENCH_LIMIT) leaves room for the whole run; set a small BENCH_LIMIT to add
refusals to the load. Prints cycles per second and the overspend, which must be $0.

It also prints where the time goes, to tell the ledger's limits from the machine's: the workers'
own CPU per cycle (Python and the driver; the cores left over are all PostgreSQL has), and what
the same workers reach with four round trips per cycle that do nothing (``SELECT 1``).
"""

import argparse
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "bench_ledger"


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    os.environ["CONN_MAX_AGE"] = "600"
    import django

    django.setup()


def worker(url: str, seconds: float, seed: int, results: mp.Queue, start: mp.Barrier) -> None:
    setup_django(url)
    from budget import ledger
    from budget.money import to_nanos
    from budget.periods import current_period
    from budget.pricing import Usage

    rng = random.Random(seed)
    worst = to_nanos("0.09")
    period = current_period()
    usage = Usage(input_tokens=2000, output_tokens=1500)
    cycles = refused = charged = 0
    ledger.release(ledger.reserve(1, period=period))  # connect before the clock starts
    start.wait()
    cpu = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            reservation = ledger.reserve(worst, period=period)
        except ledger.BudgetExhausted:
            refused += 1
            continue
        for model, share in (("claude-sonnet-4-5", 0.8), ("gpt-4o-mini", 0.2)):
            cost = rng.randint(1, int(worst * share))
            ledger.charge(reservation, cost, model_name=model, provider="anthropic", usage=usage)
            charged += cost
        ledger.release(reservation)
        cycles += 1
    results.put((cycles, refused, charged, time.process_time() - cpu))


def empty_worker(url: str, seconds: float, seed: int, results: mp.Queue, start: mp.Barrier) -> None:
    """The same cycle's four round trips through Django's connection, doing nothing."""
    setup_django(url)
    from django.db import connection

    cycles = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # connect before the clock starts
        start.wait()
        cpu = time.process_time()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(4):
                cursor.execute("SELECT 1")
                cursor.fetchall()
            cycles += 1
    results.put((cycles, 0, 0, time.process_time() - cpu))


def run_workers(target, url: str, workers: int, seconds: float) -> list[tuple[int, int, int, float]]:
    """Start ``workers`` processes running ``target``; their (cycles, refused, charged, CPU seconds)."""
    results: mp.Queue = mp.Queue()
    start = mp.Barrier(workers)
    procs = [mp.Process(target=target, args=(url, seconds, i, results, start)) for i in range(workers)]
    for p in procs:
        p.start()
    totals = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    admin_url = args.url
    bench_url = admin_url.rsplit("/", 1)[0] + f"/{DB_NAME}"

    import psycopg

    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    try:
        setup_django(bench_url)
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        from budget.models import Period
        from budget.money import format_usd, to_nanos
        from budget.periods import current_period

        period = current_period()
        # Small enough that the limit is reached during the run: refusals are part of the load.
        Period.objects.filter(pk=period.pk).update(
            limit_nanos=to_nanos(os.environ.get("BENCH_LIMIT", "1000"))
        )
        connections.close_all()

        started = time.monotonic()
        totals = run_workers(worker, bench_url, args.workers, args.seconds)
        elapsed = time.monotonic() - started
        empty = run_workers(empty_worker, bench_url, args.workers, args.seconds)
        empty_cycles, empty_cpu = sum(t[0] for t in empty), sum(t[3] for t in empty)

        cycles = sum(t[0] for t in totals)
        refused = sum(t[1] for t in totals)
        charged = sum(t[2] for t in totals)
        worker_cpu = sum(t[3] for t in totals)
        period.refresh_from_db()
        overspend = max(period.spent_nanos - period.limit_nanos, 0)
        print(f"workers            {args.workers}")
        print(
            f"cycles             {cycles} in {args.seconds:g} s (worker start-up took {elapsed - args.seconds:.1f} s more)"
        )
        print(f"cycles per second  {cycles / args.seconds:.0f}")
        print(
            f"worker CPU         {worker_cpu / max(cycles, 1) * 1000:.2f} ms per cycle "
            f"(Python and the driver; {os.cpu_count()} cores allow {os.cpu_count() / worker_cpu * cycles:.0f} "
            "cycles/s if the database cost nothing)"
        )
        print(f"refused reserves   {refused}")
        print(f"spent              {format_usd(period.spent_nanos)} of {format_usd(period.limit_nanos)}")
        print(f"charged by workers {format_usd(charged)} (ledger matches: {charged == period.spent_nanos})")
        print(f"reserved left      {format_usd(period.reserved_nanos)}")
        print(f"overspend          {format_usd(overspend)}")
        print(
            f"empty cycles/s     {empty_cycles / args.seconds:.0f} (the same workers, four SELECT 1 per cycle; "
            f"worker CPU {empty_cpu / max(empty_cycles, 1) * 1000:.2f} ms per cycle)"
        )
        connections.close_all()
        if overspend or charged != period.spent_nanos or period.reserved_nanos:
            sys.exit(1)
    finally:
        with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
