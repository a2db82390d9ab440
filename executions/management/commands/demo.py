"""``demo``: the whole product offline, in one command (the README's "run it").

Migrates the database if needed, seeds a small backlog, runs it, revises the first task's branch
once (a follow-up commit, as a reviewer's ``revise`` would ask for), then runs simulated
executions past the next milestone (on a fresh database: $5) into the local git repository, and
ends with the budget status and where to look next. Models are always simulated and publishing always local,
whatever keys are configured. Exit codes as ``simulate``.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from budget.models import Threshold
from budget.money import dollars_str, format_usd
from budget.periods import current_period
from executions.backlog.services import import_checklist
from executions.models import Execution, Task
from executions.pipeline.runner import run_execution
from executions.providers.simulated import simulated_providers
from executions.repositories.local_git import LocalGitGateway
from executions.revisions import lifecycle

BACKLOG = """\
- [ ] Add a health check endpoint
  Load balancers need a cheap probe: GET /health/ answers {"ok": true} with status 200.
- [ ] Document the environment variables
  One table in the README: name, meaning, default.
- [ ] Return 404 instead of 500 for unknown ids
  The detail views crash on a missing row; answer 404 with a short JSON error.
- [ ] Add a CHANGELOG
  Start with the current version and the changes since the last tag.
- [x] Set up continuous integration
  Already done: kept here to show that checked items are skipped.
"""
SOURCE_PREFIX = "demo:backlog"
REVISION_REQUEST = "Say how a reviewer can check it"


class Command(BaseCommand):
    help = "Run the product offline: seed a backlog, run simulated executions past the next milestone."

    def handle(self, *args, **options):
        self.migrate()
        self.seed()
        self.run_backlog()
        self.run_revision()
        self.run_to_milestone()
        self.stdout.write("")
        call_command("budget", "status", stdout=self.stdout._out)
        self.where_next()

    def migrate(self) -> None:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            self.stdout.write(f"Setting up the database ({connection.vendor})...")
            call_command("migrate", interactive=False, verbosity=0)

    def seed(self) -> None:
        result = import_checklist(BACKLOG, source=Task.Source.FILE, source_prefix=SOURCE_PREFIX)
        self.stdout.write(
            f"Backlog: {result.created} task(s) added, {result.skipped} skipped (checked or already there)."
        )

    def run_backlog(self) -> None:
        providers, gateway = simulated_providers(), LocalGitGateway.from_settings()
        pending = Task.objects.filter(status=Task.Status.PENDING, source_key__startswith=SOURCE_PREFIX)
        for task in pending.order_by("-priority", "created_at", "pk"):
            execution = run_execution(task, providers=providers, gateway=gateway)
            outcome = (
                f"→ {execution.branch}"
                if execution.status == Execution.Status.SUCCEEDED
                else f"failed: {execution.error}"
            )
            self.stdout.write(f"  {task.title}: {format_usd(execution.cost_nanos)} {outcome}")

    def run_revision(self) -> None:
        """A follow-up commit on the first backlog task's branch: ``revise --task``, then its run."""
        task = Task.objects.filter(source_key__startswith=SOURCE_PREFIX, status=Task.Status.DONE).first()
        if task is None or not lifecycle.ask_branch(task, text=REVISION_REQUEST).startswith("queued"):
            return  # nothing published yet, or revised on an earlier run of the demo
        execution = run_execution(
            task.revisions.get(), providers=simulated_providers(), gateway=LocalGitGateway.from_settings()
        )
        outcome = (
            f"→ {execution.branch} at {execution.commit_sha[:12]}"
            if execution.status == Execution.Status.SUCCEEDED
            else f"failed: {execution.error}"
        )
        self.stdout.write(
            f"  Revision of {task.title!r} ({REVISION_REQUEST}): {format_usd(execution.cost_nanos)} {outcome}"
        )

    def run_to_milestone(self) -> None:
        period = current_period()
        threshold = (
            Threshold.objects.filter(
                enabled=True, amount_nanos__gt=period.spent_nanos, amount_nanos__lte=period.limit_nanos
            )
            .order_by("amount_nanos")
            .first()
        )
        if threshold is None:
            self.stdout.write("Every milestone of this month is already behind us; no more simulated runs.")
            return
        self.stdout.write(
            f"Simulating executions until the {format_usd(threshold.amount_nanos, places=2)} milestone:"
        )
        try:
            call_command(
                "simulate",
                until=dollars_str(threshold.amount_nanos),
                stdout=self.stdout._out,
                stderr=self.stderr._out,
            )
        except CommandError:
            self.where_next()
            raise

    def where_next(self) -> None:
        path = LocalGitGateway.from_settings().path
        self.stdout.write(
            "\nWhere to look next:\n"
            f"  - the branches and commits:  git -C {path} log --all --oneline\n"
            "  - the admin (tasks, executions, budget):  python manage.py createsuperuser, then\n"
            "    DEBUG=1 python manage.py runserver and open http://127.0.0.1:8000/admin/\n"
            "  - the figures as JSON:  python manage.py budget status --json\n"
            f"  - the local repository itself:  {path}\n"
            f"  - live mode: set ANTHROPIC_API_KEY and OPENAI_API_KEY (now: {settings.ORCHESTRATOR_MODE})"
        )
