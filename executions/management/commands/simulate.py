"""``simulate --until AMOUNT``: simulated executions until the month's spend reaches AMOUNT.

Each run is a real execution of a task of its own ("Simulated: ..."), with the offline models,
charged to the real ledger and published to the local git repository (never to GitHub: a
simulation opens no pull requests). Milestones fire as they would live, and are printed as they
fall. When running work elsewhere holds the rest of the budget (busy), it waits and tries the same
task again. Exit codes: 0 reached, 1 executions kept failing, 2 bad usage or configuration,
3 budget exhausted before AMOUNT.
"""

import itertools
import time

from django.core.management.base import BaseCommand, CommandError

from budget.ledger import BudgetBusy, BudgetExhausted
from budget.models import Milestone
from budget.money import MoneyError, format_usd, to_nanos
from budget.periods import current_period
from budget.pricing import PricingError
from executions.backlog.services import create_task
from executions.errors import ConfigurationError, TaskBusy
from executions.models import Execution, Task
from executions.pipeline.runner import run_execution
from executions.providers.simulated import simulated_providers
from executions.repositories.base import PublishError
from executions.repositories.local_git import LocalGitGateway

BAR_WIDTH = 30
MAX_FAILURES_IN_A_ROW = 3
BUSY_WAIT_SECONDS = 1.0  # between tries while running work elsewhere holds the budget
TITLES = [
    "Add a health check endpoint",
    "Document the environment variables",
    "Add a CHANGELOG entry for the last release",
    "Log the request id with every error",
    "Add a --dry-run flag to the import command",
    "Explain the release process in CONTRIBUTING.md",
    "Return 404 instead of 500 for unknown ids",
    "Add type hints to the settings helpers",
]


class Command(BaseCommand):
    help = "Run simulated executions until the month's spend reaches AMOUNT (USD), with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--until", required=True, metavar="AMOUNT", help="Target spend in USD, e.g. 5.00")

    def handle(self, *args, until, **options):
        try:
            target = to_nanos(until, what="--until")
        except MoneyError as exc:
            raise CommandError(str(exc), returncode=2) from None
        period = current_period()
        if target > period.limit_nanos:
            raise CommandError(
                f"--until {format_usd(target)} is above the month's limit of "
                f"{format_usd(period.limit_nanos, places=2)}: the budget never spends past it.",
                returncode=2,
            )
        self.tty = self.stdout.isatty()
        self.run_until(target)

    def run_until(self, target: int) -> None:
        providers, gateway = simulated_providers(), LocalGitGateway.from_settings()
        period = current_period()
        start, runs, failures_in_a_row, shown = period.spent_nanos, 0, 0, -1
        seen = set(Milestone.objects.filter(period=period).values_list("pk", flat=True))
        numbers = itertools.count(Task.objects.filter(title__startswith="Simulated:").count() + 1)
        while period.spent_nanos < target:
            n = next(numbers)
            task = create_task(title=f"Simulated: {TITLES[n % len(TITLES)]} (#{n})")
            try:
                execution = self.run_when_free(task, providers, gateway)
            except BudgetExhausted as exc:
                self.finish_line()
                raise CommandError(str(exc), returncode=3) from None
            except (ConfigurationError, PricingError, PublishError, TaskBusy) as exc:
                self.finish_line()
                raise CommandError(str(exc), returncode=2) from None
            runs += 1
            failed = execution.status != Execution.Status.SUCCEEDED
            failures_in_a_row = failures_in_a_row + 1 if failed else 0
            if failed:
                self.finish_line()
                self.stderr.write(f"Execution {execution.pk} failed: {execution.error}")
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise CommandError(f"{failures_in_a_row} executions failed in a row; stopping.", returncode=1)
            period.refresh_from_db()
            for milestone in (
                Milestone.objects.filter(period=period).exclude(pk__in=seen).order_by("threshold_nanos")
            ):
                seen.add(milestone.pk)
                self.finish_line()
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Milestone reached: {format_usd(milestone.threshold_nanos, places=2)} "
                        f"(spent {format_usd(milestone.spent_nanos)} after execution {execution.pk})"
                    )
                )
            shown = self.progress(
                period.spent_nanos - start, target - start, period.spent_nanos, target, runs, shown
            )
        self.finish_line()
        self.stdout.write(
            f"Done: {runs} simulated execution{'s' if runs != 1 else ''} spent "
            f"{format_usd(period.spent_nanos - start)}; the month has spent {format_usd(period.spent_nanos)} of "
            f"{format_usd(period.limit_nanos, places=2)}."
        )

    def run_when_free(self, task: Task, providers, gateway) -> Execution:
        """Run ``task``; while the budget is busy (held by running work), wait and try again."""
        said = False
        while True:
            try:
                return run_execution(task, providers=providers, gateway=gateway)
            except BudgetBusy as exc:
                if not said:
                    self.finish_line()
                    self.stdout.write(f"{exc} Waiting…")
                    said = True
                time.sleep(BUSY_WAIT_SECONDS)

    def progress(self, done: int, total: int, spent: int, target: int, runs: int, shown: int) -> int:
        """Redraw the bar on a terminal; elsewhere print a line every 10%."""
        done, total = min(done, total), max(total, 1)
        filled = done * BAR_WIDTH // total
        line = (
            f"[{'█' * filled}{'░' * (BAR_WIDTH - filled)}] {format_usd(spent, places=2)} / "
            f"{format_usd(target, places=2)}  {runs} execution{'s' if runs != 1 else ''}"
        )
        if self.tty:
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
            self.open_line = True
            return shown
        decile = done * 10 // total
        if decile != shown:
            self.stdout.write(line)
        return decile

    def finish_line(self) -> None:
        if getattr(self, "open_line", False):
            self.stdout.write("")
            self.open_line = False
