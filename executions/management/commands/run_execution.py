"""``run_execution ["task title"] [--task ID]``: run one execution now, synchronously.

With a title, a new task is created and run; with ``--task``, that task; with neither, the next
pending work: a pending task or a queued revision of a pull request, in one order (priority, then
age). Exit codes: 0 succeeded (or nothing to do), 1 failed or not started (the task is
running in another process), 2 bad usage (such as ``--task`` of a task that is done, failed or
skipped) or configuration, 3 budget exhausted, 4 busy (the budget is held by running work: nothing
was recorded; try again shortly).
"""

from django.core.management.base import BaseCommand, CommandError

from budget.ledger import BudgetBusy, BudgetExhausted
from budget.money import format_usd
from budget.pricing import PricingError
from executions.backlog.services import create_task, next_pending_work
from executions.errors import ConfigurationError, InvalidTask, TaskBusy
from executions.models import Execution, Revision, Task
from executions.pipeline.runner import run_execution
from executions.repositories.base import PublishError, RepositoryUnavailable

# Without --task, how many tasks a run tries when other processes claim its choice first.
CLAIM_ATTEMPTS = 3


class Command(BaseCommand):
    help = (
        "Run one execution now: of a new task with this title, of --task ID, or of the next pending work "
        "(a task or a revision)."
    )

    def add_arguments(self, parser):
        parser.add_argument("title", nargs="?", help="Create a task with this title and run it.")
        parser.add_argument("--task", type=int, metavar="ID", help="Run this existing task.")
        parser.add_argument("--description", default="", help="With a title: the new task's description.")

    def handle(self, *args, title, task, description, **options):
        try:
            target = self.target(title, task, description)
            if target is None:
                self.stdout.write("Nothing to do: no task is pending.")
                return
            execution = self.run(target, chosen=title is None and task is None)
        except (InvalidTask, ConfigurationError, PricingError) as exc:
            raise CommandError(str(exc), returncode=2) from None
        except TaskBusy as exc:
            raise CommandError(f"Not started: {exc}", returncode=1) from None
        except PublishError as exc:
            raise CommandError(f"Not started: could not read the repository: {exc}", returncode=1) from None
        except BudgetExhausted as exc:
            raise CommandError(str(exc), returncode=3) from None
        except BudgetBusy as exc:
            raise CommandError(f"Not started: {exc}", returncode=4) from None
        self.report(execution)

    def run(self, target: Task | Revision, *, chosen: bool) -> Execution:
        """Run ``target``; work this command chose itself that another process claimed first (or a
        revision that can no longer run) is replaced by the next pending work (a few times), so
        concurrent runs take different work."""
        tried = []
        while True:
            try:
                return run_execution(target)
            except (TaskBusy, RepositoryUnavailable):
                # Claimed elsewhere, set aside, cancelled, or its repository refused: the next work.
                tried.append(target)
                if not chosen or len(tried) >= CLAIM_ATTEMPTS:
                    raise
                if (target := next_pending_work(exclude=tried)) is None:
                    raise

    def target(self, title: str | None, task_id: int | None, description: str) -> Task | Revision | None:
        if title and task_id:
            raise InvalidTask("Give a title or --task ID, not both.")
        if task_id is not None:
            task = Task.objects.filter(pk=task_id).first()
            if task is None:
                raise InvalidTask(f"There is no task {task_id}.")
            if task.status not in (Task.Status.PENDING, Task.Status.RUNNING):  # running: busy, exit 1
                raise InvalidTask(
                    f"Task {task_id} is {task.status}, not pending: requeue it to run it again."
                )
            return task
        if title is not None:
            return create_task(title=title, description=description)
        return next_pending_work()

    def report(self, execution: Execution) -> None:
        mode = " (simulated)" if execution.simulated else ""
        revised = f", revision {execution.revision_id}" if execution.revision_id else ""
        head = (
            f"Execution {execution.pk} of task {execution.task_id} ({execution.task.title!r}{revised}){mode}"
        )
        cost = f"cost {format_usd(execution.cost_nanos)}"
        if execution.status != Execution.Status.SUCCEEDED:  # failed, or abandoned by the reaper
            raise CommandError(f"{head} {execution.status}, {cost}: {execution.error}", returncode=1)
        where = execution.pr_url or f"branch {execution.branch} (commit {execution.commit_sha[:12]})"
        self.stdout.write(f"{head} succeeded, {cost}: {where}")
