"""``sync_issues``: GitHub issues labelled GITHUB_TASK_LABEL in the enabled repositories become
tasks; tasks of issues closed, unlabelled or deleted since are skipped; due issue comments are
posted. For deployments without inbound webhooks (the ``sync-issues`` schedule runs the same every
SYNC_ISSUES_MINUTES). Exit codes: 0 done, 1 a repository could not be read (the others were),
2 GitHub repositories are enabled but GitHub is not configured.
"""

from django.core.management.base import BaseCommand, CommandError

from executions.github.issues import NotConfigured, sync_issues


class Command(BaseCommand):
    help = "Turn labelled GitHub issues of the enabled repositories into tasks, and follow their changes."

    def handle(self, *args, **options):
        try:
            report = sync_issues()
        except NotConfigured as exc:
            raise CommandError(str(exc), returncode=2) from None
        for line in report.lines or ["No enabled GitHub repository: nothing to read."]:
            self.stdout.write(line)
        if report.comments_posted:
            self.stdout.write(f"{report.comments_posted} issue comment(s) posted.")
        for error in report.errors:
            self.stderr.write(f"  {error}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} repository(ies) could not be read.", returncode=1)
