"""``run_batches``: one idempotent pass of batch mode (reconcile, poll, submit; docs/batch.md).

Safe to run often and from two processes at once. Exit codes: 0 the pass was done, 2 bad
configuration (a missing API key), 3 the month's budget is exhausted.
"""

from django.core.management.base import BaseCommand, CommandError

from executions.batches.passes import run_batches_pass
from executions.errors import ConfigurationError


class Command(BaseCommand):
    help = "One pass of batch mode: submit pending tasks as a vendor batch, poll batches, finish executions."

    def handle(self, *args, **options):
        try:
            report = run_batches_pass()
        except ConfigurationError as exc:
            raise CommandError(str(exc), returncode=2) from None
        if report.exhausted:
            raise CommandError(report.line(), returncode=3)
        self.stdout.write(report.line())
