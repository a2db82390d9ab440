"""``backtest --repository NAME [--last N] [--since DATE] [--models --spend DOLLARS] [--json]``:
replay the repository's own merged pull requests and measure what the analyst would have been
shown (context mode: nothing is sent, nothing is spent) or, with ``--models``, what the product
would have done (executions of kind "backtest", charged to the month within ``--spend``, published
nowhere). The run is stored (admin: Backtest runs). Exit codes: 0 done, 2 bad usage or
configuration (``--spend`` above what the month has left), 3 budget exhausted."""

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from budget.ledger import BudgetExhausted
from budget.money import MoneyError, to_nanos
from budget.pricing import PricingError
from executions.backtest import report, runs
from executions.backtest.model_mode import SpendTooHigh
from executions.errors import ConfigurationError
from executions.repositories.base import PublishError

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Replay a repository's merged pull requests: what the analyst would have been shown."

    def add_arguments(self, parser):
        parser.add_argument("--repository", required=True, metavar="NAME", help="As named in the admin.")
        parser.add_argument("--last", type=int, default=30, metavar="N", help="Merged pull requests (30).")
        parser.add_argument("--since", metavar="DATE", help="Only those merged on or after (YYYY-MM-DD).")
        parser.add_argument("--models", action="store_true", help="Also run the models (charged).")
        parser.add_argument("--spend", metavar="DOLLARS", help="With --models: the most the run may spend.")
        parser.add_argument("--json", action="store_true", help="The run as JSON.")

    def handle(self, *args, repository, last, since, models, spend, json: bool, **options):
        if last < 1:
            raise CommandError("--last must be at least 1.", returncode=2)
        if models != (spend is not None):
            raise CommandError("--models and --spend DOLLARS go together.", returncode=2)
        try:
            spend_nanos = to_nanos(spend, what="--spend") if spend is not None else None
        except MoneyError as exc:
            raise CommandError(str(exc), returncode=2) from None
        try:
            since_date = dt.date.fromisoformat(since) if since else None
        except ValueError:
            raise CommandError(f"--since {since!r} is not a date (YYYY-MM-DD).", returncode=2) from None
        self.as_json, self.open_line = json, False
        try:
            chosen = runs.repository_named(repository)
            if spend_nanos is None:
                run = runs.run_context(chosen, last=last, since=since_date, progress=self.progress)
            else:
                run = runs.run_models(
                    chosen, spend_nanos=spend_nanos, last=last, since=since_date, progress=self.progress
                )
        except (ConfigurationError, PricingError, PublishError, SpendTooHigh) as exc:
            self.finish_line()
            raise CommandError(str(exc), returncode=2) from None
        except BudgetExhausted as exc:
            self.finish_line()
            raise CommandError(str(exc), returncode=3) from None
        self.finish_line()
        if self.as_json:
            self.stdout.write(_dumps(report.as_json(run)))
        else:
            self.stdout.write(report.table(run))
            if run.error:
                self.stdout.write(run.error)

    def progress(self, done: int, total: int) -> None:
        """A bar redrawn on a terminal (never in JSON output: it goes to stderr there)."""
        out = self.stderr if self.as_json else self.stdout
        if not out.isatty():
            return
        filled = done * BAR_WIDTH // max(total, 1)
        out.write(f"\r[{'█' * filled}{'░' * (BAR_WIDTH - filled)}] {done}/{total} cases", ending="")
        out.flush()
        self.open_line = out

    def finish_line(self) -> None:
        if self.open_line:
            self.open_line.write("")
            self.open_line = False


def _dumps(data: dict) -> str:
    return json.dumps(data, indent=2)
