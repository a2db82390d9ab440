"""Ledger throughput under contention on PostgreSQL (a script, not a test).

    python benchmarks/ledger.py [--workers 32] [--seconds 10] [--url postgres://postgres@127.0.0.1:5432/postgres]
                                [--database-name bench_ledger]

Creates (and afterwards drops) a scratch database (``--database-name``, default ``bench_ledger``;
give it a name of its own when others share the server), migrates it, then runs N worker
processes, each with its own connection, doing reserve → charge → charge → release cycles against
one period for the same measured seconds (all start together, once every worker has set up Django).
The limit ($1,000, or BENCH_LIMIT) leaves room for the whole run; set a small BENCH_LIMIT to add
refusals to the load. Prints cycles per second and the overspend, which must be $0. ``--floor`` runs the same cycle
with only the statements that move the money, to tell what the ledger costs from what the ORM and
the machine allow.

It also prints where each cycle's CPU goes, to tell the ledger's limits from the machine's: the
workers' own (Python and the driver) and their PostgreSQL backends' (read from /proc when the server
is local), with the most cycles a second the cores allow at that cost; then the same for four round
trips per cycle that do nothing (``SELECT 1``), a measure of how busy the machine was: compare
figures taken in one sitting.
"""

import argparse
import multiprocessing as mp
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    os.environ["CONN_MAX_AGE"] = "600"
    # As in production: DEBUG off, so Django does not keep a log of every query.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-key")
    import django

    django.setup()


@dataclass
class Tally:
    """One worker's results: its cycles and where its CPU time went."""

    cycles: int = 0
    refused: int = 0
    charged: int = 0
    worker_cpu: float = 0.0  # seconds, this process (Python and the driver)
    database_cpu: float | None = None  # seconds, its PostgreSQL backend; None if the server is not local


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a local process has used, from /proc; None if it is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(cycle, seconds: float, start: mp.Barrier) -> Tally:
    """Run ``cycle(tally)`` until ``seconds`` have passed, timing this process and its backend."""
    tally, pid = Tally(), backend_pid()  # also connects before the clock starts
    start.wait()
    cpu, database = time.process_time(), process_cpu(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        cycle(tally)
    tally.worker_cpu = time.process_time() - cpu
    if database is not None and (now := process_cpu(pid)) is not None:
        tally.database_cpu = now - database
    return tally


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
    calls = (("claude-sonnet-4-5", "anthropic", 0.8), ("gpt-4o-mini", "openai", 0.2))

    def cycle(tally: Tally) -> None:
        try:
            reservation = ledger.reserve(worst, period=period)
        except ledger.BudgetExhausted:
            tally.refused += 1
            return
        for model, provider, share in calls:
            cost = rng.randint(1, int(worst * share))
            ledger.charge(reservation, cost, model_name=model, provider=provider, usage=usage)
            tally.charged += cost
        ledger.release(reservation)
        tally.cycles += 1

    results.put(measured(cycle, seconds, start))


def floor_worker(url: str, seconds: float, seed: int, results: mp.Queue, start: mp.Barrier) -> None:
    """The same cycle, in the same four transactions, with only the statements that move the money:
    no usage rows and no milestone check. No ledger can do less and keep its guarantees, so this is
    what the ORM allows on this machine (``--floor``)."""
    setup_django(url)
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from budget.models import Period, Reservation
    from budget.money import to_nanos
    from budget.periods import current_period

    rng = random.Random(seed)
    worst = to_nanos("0.09")
    period = current_period()
    in_period = Period.objects.filter(pk=period.pk)

    def cycle(tally: Tally) -> None:
        now = timezone.now()
        with transaction.atomic():
            fits = (
                in_period.alias(committed=F("spent_nanos") + F("reserved_nanos") + worst)
                .filter(committed__lte=F("limit_nanos"))
                .update(reserved_nanos=F("reserved_nanos") + worst)
            )
            if not fits:
                tally.refused += 1
                return
            reservation = Reservation.objects.create(
                period=period, amount_nanos=worst, held_nanos=worst, created_at=now, expires_at=now
            )
        held = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.OPEN)
        charged = 0
        for share in (0.8, 0.2):
            cost = rng.randint(1, int(worst * share))
            with transaction.atomic():
                held.update(held_nanos=F("held_nanos") - cost, charged_nanos=F("charged_nanos") + cost)
                in_period.update(
                    spent_nanos=F("spent_nanos") + cost, reserved_nanos=F("reserved_nanos") - cost
                )
            charged += cost
        with transaction.atomic():
            held.update(status=Reservation.Status.RELEASED, held_nanos=0, closed_at=now)
            in_period.update(reserved_nanos=F("reserved_nanos") - (worst - charged))
        tally.charged += charged
        tally.cycles += 1

    results.put(measured(cycle, seconds, start))


def empty_worker(url: str, seconds: float, seed: int, results: mp.Queue, start: mp.Barrier) -> None:
    """The same cycle's four round trips through Django's connection, doing nothing."""
    setup_django(url)
    from django.db import connection

    def cycle(tally: Tally) -> None:
        with connection.cursor() as cursor:
            for _ in range(4):
                cursor.execute("SELECT 1")
                cursor.fetchall()
        tally.cycles += 1

    results.put(measured(cycle, seconds, start))


def run_workers(target, url: str, workers: int, seconds: float) -> list[Tally]:
    """Start ``workers`` processes running ``target``, all measuring the same seconds."""
    results: mp.Queue = mp.Queue()
    start = mp.Barrier(workers)
    procs = [mp.Process(target=target, args=(url, seconds, i, results, start)) for i in range(workers)]
    for p in procs:
        p.start()
    tallies = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return tallies


def cpu_per_cycle(tallies: list[Tally]) -> str:
    """Where one cycle's CPU went, and the most cycles a second this machine's cores allow at that cost."""
    cycles = max(sum(t.cycles for t in tallies), 1)
    worker = sum(t.worker_cpu for t in tallies) / cycles
    if any(t.database_cpu is None for t in tallies):
        return f"worker {worker * 1000:.2f} ms per cycle (the database's CPU is not measurable from here)"
    database = sum(t.database_cpu for t in tallies) / cycles
    return (
        f"worker {worker * 1000:.2f} ms + database {database * 1000:.2f} ms per cycle: "
        f"{os.cpu_count()} cores allow at most {os.cpu_count() / (worker + database):,.0f} cycles/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--database-name", default="bench_ledger", help="the scratch database to create and drop"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="run the cycle with only the statements that move the money (no usage rows, no milestones)",
    )
    args = parser.parse_args()
    db_name = args.database_name
    if not db_name.replace("_", "").isalnum():
        parser.error("--database-name: letters, digits and underscores only")
    admin_url = args.url
    bench_url = admin_url.rsplit("/", 1)[0] + f"/{db_name}"

    import psycopg

    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name}")
        conn.execute(f"CREATE DATABASE {db_name}")
    try:
        setup_django(bench_url)
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        from budget.models import Period
        from budget.money import format_usd, to_nanos
        from budget.periods import current_period

        period = current_period()
        # $1,000 by default leaves room for the whole run; a small BENCH_LIMIT adds refusals to the load.
        Period.objects.filter(pk=period.pk).update(
            limit_nanos=to_nanos(os.environ.get("BENCH_LIMIT", "1000"))
        )
        connections.close_all()

        started = time.monotonic()
        tallies = run_workers(floor_worker if args.floor else worker, bench_url, args.workers, args.seconds)
        elapsed = time.monotonic() - started
        empty = run_workers(empty_worker, bench_url, args.workers, args.seconds)

        cycles = sum(t.cycles for t in tallies)
        charged = sum(t.charged for t in tallies)
        period.refresh_from_db()
        overspend = max(period.spent_nanos - period.limit_nanos, 0)
        print(f"workers            {args.workers}")
        print(
            f"cycles             {cycles} in {args.seconds:g} s (start-up took {elapsed - args.seconds:.1f} s more)"
        )
        print(f"cycles per second  {cycles / args.seconds:.0f}")
        print(f"refused reserves   {sum(t.refused for t in tallies)}")
        print(f"spent              {format_usd(period.spent_nanos)} of {format_usd(period.limit_nanos)}")
        print(f"charged by workers {format_usd(charged)} (ledger matches: {charged == period.spent_nanos})")
        print(f"reserved left      {format_usd(period.reserved_nanos)}")
        print(f"overspend          {format_usd(overspend)}")
        print(f"CPU                {cpu_per_cycle(tallies)}")
        empty_cycles = sum(t.cycles for t in empty)
        print(
            f"empty cycles/s     {empty_cycles / args.seconds:.0f} (four SELECT 1 per cycle; {cpu_per_cycle(empty)})"
        )
        connections.close_all()
        if overspend or charged != period.spent_nanos or period.reserved_nanos:
            sys.exit(1)
    finally:
        with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


if __name__ == "__main__":
    main()
