"""``reconcile_usage [--month YYYY-MM]``: the recorded model calls against the vendors' own usage
reports, per UTC day and model (``executions.costs.reconcile``); the daily ``reconcile-usage`` schedule
runs the same.

Exit codes: 0 done (matched, or the differences are listed, stored and announced once), also when
reconciliation is off (no admin key) and the month is a valid one; 1 a vendor's report could not be
read, or held rows no real report holds (the other vendor is still reconciled); 2 bad usage or
configuration (a malformed or future month, whether reconciliation is on or off; a vendor refusing
the admin key or missing its key id).
"""

from django.core.management.base import BaseCommand, CommandError

from budget.periods import parse_month
from executions.costs.reconcile import reconcile_usage


class Command(BaseCommand):
    help = "Compare the ledger's model calls with Anthropic's and OpenAI's usage reports (admin keys)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--month", metavar="YYYY-MM", help="The month to compare (default: this one, UTC)."
        )

    def handle(self, *args, month: str | None, **options):
        try:
            chosen = parse_month(month) if month is not None else None
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        outcome = reconcile_usage(month=chosen)
        for line in outcome.lines:
            warn = "failed" in line or "past the tolerance" in line or "has not started" in line
            self.stdout.write(self.style.WARNING(line) if warn else line)
        if outcome.announced:
            self.stdout.write(
                f"Announced {outcome.announced} day(s) that differ on the notification channels."
            )
        if outcome.exit_code:
            raise CommandError("usage not fully reconciled (see above)", returncode=outcome.exit_code)
