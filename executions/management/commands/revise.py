"""``revise (--pr N [--repository owner/name] | --task N) "what to change"``: queue a revision.

``--pr``: a revision of one of the product's open pull requests, as a collaborator's review would
ask for it (GitHub). ``--task``: of the task's latest branch in a local git repository, where there
is no pull request (a GitHub task's open pull request is revised as with ``--pr``). The revision is
pending work: the scheduler runs it, or ``run_execution`` now. Exit codes: 0 queued, 1 not queued
(the pull request is closed, it had its PR_MAX_REVISIONS, or the same request is queued already),
2 bad usage (no such pull request or task, an empty request).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from executions.models import PullRequest, Repository, Task
from executions.revisions import lifecycle
from executions.revisions.lifecycle import command_key


class Command(BaseCommand):
    help = "Queue a revision (a follow-up commit) of a pull request, or of a task's local branch."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--pr", type=int, metavar="N", help="The pull request's number.")
        target.add_argument("--task", type=int, metavar="ID", help="The task whose latest branch to revise.")
        parser.add_argument(
            "--repository", metavar="OWNER/NAME", help="With --pr: the pull request's repository."
        )
        parser.add_argument("request", help="What to change, as a reviewer would write it.")

    def handle(self, *args, pr, task, repository, request, **options):
        text = request.strip()
        if not text:
            raise CommandError("Say what to change.", returncode=2)
        if len(text.encode("utf-8")) > settings.REVISION_FEEDBACK_BYTES:
            raise CommandError(
                f"The request is over REVISION_FEEDBACK_BYTES ({settings.REVISION_FEEDBACK_BYTES:,} bytes): shorten it.",
                returncode=2,
            )
        if pr is not None:
            outcome = self.revise_pull_request(self.pull_request(pr, repository), text)
        else:
            outcome = self.revise_task(self.task(task), text)
        if outcome.startswith(("ignored", "already")):
            raise CommandError(f"Not queued: {outcome}", returncode=1)
        self.stdout.write(
            f"{outcome[0].upper()}{outcome[1:]}. It runs at the next scheduled run, or now with "
            "`python manage.py run_execution`."
        )

    def pull_request(self, number: int, repository: str | None) -> PullRequest:
        found = PullRequest.objects.filter(number=number).select_related("task")
        if repository:
            found = found.filter(repository=repository.strip())
        found = list(found[:2])
        if not found:
            where = f" in {repository}" if repository else ""
            raise CommandError(f"The product opened no pull request #{number}{where}.", returncode=2)
        if len(found) > 1:
            raise CommandError(
                f"Pull request #{number} is known in several repositories: add --repository owner/name.",
                returncode=2,
            )
        return found[0]

    def revise_pull_request(self, pr: PullRequest, text: str) -> str:
        return lifecycle.ask(
            pr,
            kind=lifecycle.Kind.COMMAND,
            key=command_key(f"{pr.repository}#{pr.number}", text, pr.head_sha),
            source={"text": text},
        )

    def task(self, task_id: int) -> Task:
        task = Task.objects.filter(pk=task_id).select_related("repository").first()
        if task is None:
            raise CommandError(f"There is no task {task_id}.", returncode=2)
        return task

    def revise_task(self, task: Task, text: str) -> str:
        if task.repository.kind == Repository.Kind.LOCAL:
            return lifecycle.ask_branch(task, text=text)
        pr = task.pull_requests.filter(state=PullRequest.State.OPEN).order_by("-opened_at").first()
        if pr is None:
            raise CommandError(f"Task {task.pk} has no open pull request to revise.", returncode=1)
        return self.revise_pull_request(pr, text)
