"""``sync_pull_requests``: refresh every open pull request's state and checks from GitHub.

For deployments without inbound webhooks (the ``sync-pull-requests`` schedule runs the same every
SYNC_PRS_MINUTES). Exit codes: 0 done, 1 a pull request could not be read, 2 GitHub not configured.
"""

from django.core.management.base import BaseCommand, CommandError

from executions.github.pull_requests import NotConfigured, sync_open_pull_requests


class Command(BaseCommand):
    help = "Refresh every open pull request (state, merge, checks) from GitHub."

    def handle(self, *args, **options):
        try:
            report = sync_open_pull_requests()
        except NotConfigured as exc:  # a repository GitHub refuses is one of report.errors
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(
            f"Checked {report.checked} open pull request{'s' if report.checked != 1 else ''}: "
            f"{report.changed} changed."
        )
        for error in report.errors:
            self.stderr.write(f"  {error}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} could not be refreshed.", returncode=1)
