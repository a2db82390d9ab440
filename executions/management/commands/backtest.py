"""``backtest --repository NAME [--last N] [--since DATE] [--json]``: replay the repository's own
merged pull requests and measure what the analyst would have been shown (context mode: nothing is
sent, nothing is spent). The run is stored (admin: Backtest runs). Exit codes: 0 done, 2 bad
usage or configuration."""

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from budget.pricing import PricingError
from executions.backtest import report, runs
from executions.errors import ConfigurationError
from executions.gateways.base import PublishError

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Replay a repository's merged pull requests: what the analyst would have been shown."

    def add_arguments(self, parser):
        parser.add_argument("--repository", required=True, metavar="NAME", help="As named in the admin.")
        parser.add_argument("--last", type=int, default=30, metavar="N", help="Merged pull requests (30).")
        parser.add_argument("--since", metavar="DATE", help="Only those merged on or after (YYYY-MM-DD).")
        parser.add_argument("--json", action="store_true", help="The run as JSON.")

    def handle(self, *args, repository, last, since, json: bool, **options):
        if last < 1:
            raise CommandError("--last must be at least 1.", returncode=2)
        try:
            since_date = dt.date.fromisoformat(since) if since else None
        except ValueError:
            raise CommandError(f"--since {since!r} is not a date (YYYY-MM-DD).", returncode=2) from None
        self.as_json, self.open_line = json, False
        try:
            run = runs.run_context(
                runs.repository_named(repository), last=last, since=since_date, progress=self.progress
            )
        except (ConfigurationError, PricingError, PublishError) as exc:
            self.finish_line()
            raise CommandError(str(exc), returncode=2) from None
        self.finish_line()
        if self.as_json:
            self.stdout.write(_dumps(report.as_json(run)))
        else:
            self.stdout.write(report.table(run))

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
